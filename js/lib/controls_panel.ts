// Status and steering: badge, progress with steps/s and ETA, pause/resume/step/stop, slow motion,
// learning-rate and n_critic fields. Values are checked here first; Python checks them again through `run.set`
// and answers in `control_feedback`, so a refused value never reaches the run.
import { type Cleanup, ErrorArea, formatDuration, h, type Model, Subscriptions } from "./util";

const ACTIVE = new Set(["running", "paused"]);
/** Slow-motion choices: seconds the trainer waits after each step. */
const STEP_DELAYS: [number, string][] = [[0, "full speed"], [0.05, "0.05 s/step"],
  [0.1, "0.1 s/step"], [0.2, "0.2 s/step"], [0.5, "0.5 s/step"], [1, "1 s/step"]];

/** Parse a learning rate typed by a person; returns an error message or the number. */
export function parseLearningRate(text: string): number | string {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (trimmed === "" || !Number.isFinite(value)) return `learning rate must be a number, got "${text}"`;
  if (value <= 0) return `learning rate must be > 0, got ${trimmed}`;
  return value;
}

export function parseNCritic(text: string): number | string {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (trimmed === "" || !Number.isInteger(value)) return `n_critic must be a whole number, got "${text}"`;
  if (value < 1) return `n_critic must be >= 1, got ${trimmed}`;
  return value;
}

export function mountControlsPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const name = h("span", { class: "gw-panel-title gw-run-name" });
  const badge = h("span", { class: "gw-badge gw-status" });
  const bar = h("div");
  const progress = h("div", { class: "gw-progress" }, [bar]);
  const stepText = h("span", { class: "gw-step", "data-step": "0" });
  const rateText = h("span", { class: "gw-muted gw-rate" });
  const command = (action: string) => errors.guard(action, () => {
    model.send({ type: "command", action });
  });
  const pause = h("button", { text: "Pause", class: "gw-pause", onclick: command("pause") });
  const resume = h("button", { text: "Resume", class: "gw-resume", onclick: command("resume") });
  const stop = h("button", { text: "Stop", class: "gw-stop", onclick: command("stop") });
  const stepOnce = h("button", { text: "Step", class: "gw-step-once", onclick: command("step"),
    title: "train exactly one step, then stay paused" });
  const slow = h("select", { class: "gw-slow-motion", title: "slow motion: wait after each step" },
    STEP_DELAYS.map(([value, label]) => h("option", { value: String(value), text: label })));
  slow.addEventListener("change", errors.guard("slow motion", () => {
    model.send({ type: "set", field: "step_delay", value: slow.value });
  }));
  const lr = h("input", { type: "text", class: "gw-lr", title: "learning rate (> 0)" });
  const nCritic = h("input", { type: "text", class: "gw-n-critic",
    title: "discriminator updates per generator update (>= 1)" });
  const feedback = h("span", { class: "gw-feedback" });
  const message = h("div", { class: "gw-message", hidden: true });
  const failure = h("div", { class: "gw-error-area gw-run-error", hidden: true });
  let feedbackId = -1;

  function showFeedback(text: string, ok: boolean): void {
    feedback.textContent = text;
    feedback.dataset.ok = String(ok);
  }

  function apply(field: string, input: HTMLInputElement, parse: (t: string) => number | string) {
    return errors.guard(`set ${field}`, () => {
      const parsed = parse(input.value);
      if (typeof parsed === "string") {
        showFeedback(`refused: ${parsed}; the run keeps ${model.get(field)}`, false);
        input.value = String(model.get(field));
        return;
      }
      input.dataset.dirty = "";
      model.send({ type: "set", field, value: input.value.trim() });
    });
  }
  const applyLr = apply("lr", lr, parseLearningRate);
  const applyNCritic = apply("n_critic", nCritic, parseNCritic);
  for (const [input, action] of [[lr, applyLr], [nCritic, applyNCritic]] as const) {
    input.addEventListener("keydown", (event: KeyboardEvent) => {
      if (event.key === "Enter") action();
    });
    input.addEventListener("input", () => { input.dataset.dirty = "1"; });
  }

  el.append(
    h("div", { class: "gw-row" }, [name, badge, progress, stepText, rateText]),
    h("div", { class: "gw-row" }, [pause, resume, stepOnce, stop, slow,
      h("label", {}, ["lr ", lr]), h("button", { text: "Set", class: "gw-set-lr", onclick: applyLr }),
      h("label", {}, ["n_critic ", nCritic]),
      h("button", { text: "Set", class: "gw-set-n-critic", onclick: applyNCritic }), feedback]),
    message, failure,
  );

  function render(): void {
    const status: string = model.get("status") || "";
    const step = Number(model.get("step")) || 0;
    const maxSteps = model.get("max_steps");
    name.textContent = model.get("run_name") || "";
    badge.textContent = status;
    badge.dataset.status = status;
    el.dataset.status = status;
    stepText.textContent = maxSteps ? `step ${step} / ${maxSteps}` : `step ${step}`;
    stepText.dataset.step = String(step);
    const rate = Number(model.get("steps_per_second")) || 0;
    rateText.textContent = `${rate.toFixed(1)} steps/s · ETA ${formatDuration(model.get("eta_seconds"))}`;
    progress.classList.toggle("gw-indeterminate", !maxSteps);
    bar.style.width = maxSteps ? `${Math.min(100, (100 * step) / maxSteps)}%` : "100%";
    pause.disabled = status !== "running";
    resume.disabled = status !== "paused";
    stop.disabled = !ACTIVE.has(status);
    stepOnce.disabled = status !== "paused";
    const delay = String(Number(model.get("step_delay")) || 0);
    if (![...slow.options].some((o) => o.value === delay)) {
      slow.append(h("option", { value: delay, text: `${delay} s/step` }));
    }
    if (document.activeElement !== slow) slow.value = delay;
    for (const [input, field] of [[lr, "lr"], [nCritic, "n_critic"]] as const) {
      if (document.activeElement !== input && !input.dataset.dirty) input.value = String(model.get(field));
    }
    const text: string = model.get("message") || "";
    message.textContent = text;
    message.hidden = !text;
    const trace: string = model.get("error_text") || "";
    failure.replaceChildren(h("div", { class: "gw-panel-title", text: "Run failed" }),
      h("pre", { class: "gw-error-text", text: trace }));
    failure.hidden = !trace;
    const fb = model.get("control_feedback") || {};
    if (typeof fb.id === "number" && fb.id !== feedbackId) {
      feedbackId = fb.id;
      showFeedback(String(fb.text || ""), Boolean(fb.ok));
    }
  }

  for (const trait of ["status", "step", "max_steps", "steps_per_second", "eta_seconds", "run_name",
    "lr", "n_critic", "step_delay", "message", "error_text", "control_feedback"]) {
    subs.on(`change:${trait}`, errors.guard("status", render));
  }
  render();
  return () => subs.dispose();
}
