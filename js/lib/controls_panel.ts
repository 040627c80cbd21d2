// Status and steering: badge, progress with steps/s and ETA, pause/resume/step/stop, slow motion,
// one field per entry of `control_fields` (lr and n_critic for a GAN, lr and beta for a VAE), the
// run's health warnings. Values are checked here first; Python checks them again through
// `run.set` and answers in `control_feedback`, so a refused value never reaches the run.
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

export function parseBeta(text: string): number | string {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (trimmed === "" || !Number.isFinite(value)) return `beta must be a number, got "${text}"`;
  if (value < 0) return `beta must be >= 0, got ${trimmed}`;
  return value;
}

const FIELD_PARSERS: Record<string, (text: string) => number | string> = {
  lr: parseLearningRate,
  n_critic: parseNCritic,
  beta: parseBeta,
};
const FIELD_TITLES: Record<string, string> = {
  lr: "learning rate (> 0)",
  n_critic: "discriminator updates per generator update (>= 1)",
  beta: "weight of the KL term (>= 0)",
};

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
  const fieldNames: string[] = model.get("control_fields") || ["lr", "n_critic"];
  const stepOnce = h("button", { text: "Step", class: "gw-step-once", onclick: command("step"),
    title: "train exactly one step, then stay paused" });
  const slow = h("select", { class: "gw-slow-motion", title: "slow motion: wait after each step" },
    STEP_DELAYS.map(([value, label]) => h("option", { value: String(value), text: label })));
  slow.addEventListener("change", errors.guard("slow motion", () => {
    model.send({ type: "set", field: "step_delay", value: slow.value });
  }));
  const feedback = h("span", { class: "gw-feedback" });
  const message = h("div", { class: "gw-message", hidden: true });
  const warnings = h("div", { class: "gw-message gw-warnings", hidden: true });
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
        showFeedback(`refused: ${parsed}; the run keeps ${current(field)}`, false);
        input.value = String(current(field));
        return;
      }
      input.dataset.dirty = "";
      model.send({ type: "set", field, value: input.value.trim() });
    });
  }
  const current = (field: string) => {
    const values = model.get("control_values") || {};
    return field in values ? values[field] : model.get(field);
  };
  // One text field and "Set" button per setting: classes gw-<field> and gw-set-<field>.
  const inputs: [HTMLInputElement, string][] = [];
  const fieldNodes: HTMLElement[] = [];
  for (const field of fieldNames) {
    const css = field.replace(/_/g, "-");
    const input = h("input", { type: "text", class: `gw-${css}`, title: FIELD_TITLES[field] || field });
    const action = apply(field, input, FIELD_PARSERS[field] || ((t: string) => t.trim() === "" ? "a value is needed" : Number(t)));
    input.addEventListener("keydown", (event: KeyboardEvent) => {
      if (event.key === "Enter") action();
    });
    input.addEventListener("input", () => { input.dataset.dirty = "1"; });
    inputs.push([input, field]);
    fieldNodes.push(h("label", {}, [`${field} `, input]),
      h("button", { text: "Set", class: `gw-set-${css}`, onclick: action }));
  }

  el.append(
    h("div", { class: "gw-row" }, [name, badge, progress, stepText, rateText]),
    h("div", { class: "gw-row" }, [pause, resume, stepOnce, stop, slow, ...fieldNodes, feedback]),
    message, warnings, failure,
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
    // A paused run makes no steps: no stale rate and ETA beside the "paused" badge.
    rateText.textContent = status === "paused" ? "paused"
      : status === "running" ? `${rate.toFixed(1)} steps/s · ETA ${formatDuration(model.get("eta_seconds"))}`
        : rate > 0 ? `${rate.toFixed(1)} steps/s` : "";
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
    for (const [input, field] of inputs) {
      if (document.activeElement !== input && !input.dataset.dirty) input.value = String(current(field));
    }
    const text: string = model.get("message") || "";
    message.textContent = text;
    message.hidden = !text;
    const warned: string[] = model.get("warnings") || [];
    warnings.replaceChildren(...warned.map((w) => h("div", { class: "gw-warning", text: w })));
    warnings.hidden = warned.length === 0;
    el.dataset.warnings = String(warned.length);
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
    "lr", "n_critic", "step_delay", "control_values", "warnings", "message", "error_text",
    "control_feedback"]) {
    subs.on(`change:${trait}`, errors.guard("status", render));
  }
  render();
  return () => subs.dispose();
}
