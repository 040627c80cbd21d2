// The text family's sample strip (the record at a step slider: its prompt, its continuation with
// the longest substring it shares with the training text marked, its novelty), the memorisation
// meter (novelty over the strip's records, the over-fitting warning) and the Generate panel (the
// answer comes from a worker thread in Python; "generating..." until it lands in `gen_result`).
import { type Cleanup, ErrorArea, h, type Model, Subscriptions } from "./util";

const SVG = "http://www.w3.org/2000/svg";

function percent(value: unknown): string {
  return typeof value === "number" && Number.isFinite(value) ? `${Math.round(value * 100)}%` : "–";
}

/** The prompt (distinct) and its continuation, with the continuation's [at, at + length) marked. */
function sampleNodes(prompt: string, text: string, at = -1, length = 0): Node[] {
  const nodes: Node[] = [h("span", { class: "gw-prompt", title: "prompt", text: prompt })];
  if (at >= 0 && length > 0 && at + length <= text.length) {
    nodes.push(
      h("span", { class: "gw-continuation", text: text.slice(0, at) }),
      h("mark", { class: "gw-longest", title: "the longest substring shared with the training text",
        text: text.slice(at, at + length) }),
      h("span", { class: "gw-continuation", text: text.slice(at + length) }),
    );
  } else {
    nodes.push(h("span", { class: "gw-continuation", text }));
  }
  return nodes;
}

export function mountStripPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const slider = h("input", { type: "range", min: "0", max: "0", step: "1", class: "gw-strip-slider" });
  const follow = h("input", { type: "checkbox" });
  const label = h("span", { class: "gw-muted gw-strip-label" });
  const sample = h("pre", { class: "gw-text-sample gw-strip-text" });
  const meta = h("div", { class: "gw-muted gw-strip-meta" });
  const empty = h("div", { class: "gw-muted", text: "no sample yet (one every sample_every steps)" });
  el.append(h("div", { class: "gw-row" }, [slider, h("label", {}, [follow, " follow latest"]), label]),
    empty, sample, meta);

  function render(): void {
    const count = Number(model.get("strip_count")) || 0;
    const index = Number(model.get("strip_index")) || 0;
    const step = Number(model.get("strip_step"));
    slider.max = String(Math.max(0, count - 1));
    if (document.activeElement !== slider) slider.value = String(index);
    slider.disabled = count <= 1;
    follow.checked = Boolean(model.get("strip_follow"));
    label.textContent = count ? `step ${step} · sample ${index + 1} of ${count}` : "";
    el.dataset.step = String(step);
    el.dataset.count = String(count);
  }

  function showRecord(): void {
    const r = model.get("strip_record") || {};
    const has = typeof r.text === "string";
    empty.hidden = has;
    sample.hidden = !has;
    meta.hidden = !has;
    if (!has) return;
    const longest = typeof r.longest_text === "string" ? r.longest_text.length : 0;
    sample.replaceChildren(...sampleNodes(String(r.prompt || ""), r.text, Number(r.longest_at), longest));
    const parts = [`seed ${r.seed ?? "–"}, temperature ${r.temperature ?? "–"}`];
    if (r.longest !== null && r.longest !== undefined) {
      parts.push(`longest substring shared with the training text: ${r.longest} chars (marked)`);
    }
    if (r.novel_8grams !== null && r.novel_8grams !== undefined) {
      parts.push(`novel 8-grams: ${percent(r.novel_8grams)}`);
    }
    meta.textContent = parts.join(" · ");
    el.dataset.text = String(r.text).slice(0, 200);
  }

  slider.addEventListener("input", errors.guard("strip slider", () => {
    const count = Number(model.get("strip_count")) || 0;
    const index = Number(slider.value);
    model.set("strip_index", index);
    model.set("strip_follow", index >= count - 1);
    model.save_changes();
    render();
  }));
  follow.addEventListener("change", errors.guard("strip follow", () => {
    model.set("strip_follow", follow.checked);
    model.save_changes();
  }));
  for (const name of ["strip_count", "strip_index", "strip_step", "strip_follow"]) {
    subs.on(`change:${name}`, errors.guard("strip", render));
  }
  subs.on("change:strip_record", errors.guard("strip record", showRecord));
  render();
  showRecord();
  return () => subs.dispose();
}

/** Novelty of the strip's samples over the steps (a small line), the latest numbers, and the
 * over-fitting warning when the novelty falls while the held-out loss rises. */
export function mountMemorisationPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const W = 320;
  const H = 90;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", String(W));
  svg.setAttribute("height", String(H));
  svg.setAttribute("class", "gw-novelty-chart");
  const summary = h("div", { class: "gw-muted gw-novelty-summary" });
  const warning = h("div", { class: "gw-message gw-overfit-warning", hidden: true });
  el.append(svg, summary, warning);

  function draw(): void {
    const series: [number, number | null, number | null][] = model.get("novelty_series") || [];
    const points = series.filter((p) => typeof p[1] === "number");
    svg.replaceChildren();
    const add = (tag: string, attrs: Record<string, string | number>, text?: string) => {
      const node = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text) node.textContent = text;
      svg.append(node);
      return node;
    };
    const left = 34, right = W - 6, top = 6, bottom = H - 16;
    add("rect", { x: left, y: top, width: right - left, height: bottom - top, fill: "none", stroke: "#ccc" });
    for (const v of [0, 0.5, 1]) {
      const y = bottom - v * (bottom - top);
      add("text", { x: 2, y: y + 4, "font-size": 10, fill: "#666" }, `${v * 100}%`);
    }
    el.dataset.points = String(points.length);
    if (!points.length) {
      add("text", { x: left + 8, y: top + 20, "font-size": 11, fill: "#666" }, "no samples yet");
      summary.textContent = "";
    } else {
      const x0 = points[0][0];
      const x1 = Math.max(x0 + 1, points[points.length - 1][0]);
      const px = (s: number) => left + ((s - x0) / (x1 - x0)) * (right - left);
      const py = (v: number) => bottom - v * (bottom - top);
      add("polyline", { points: points.map((p) => `${px(p[0])},${py(p[1] as number)}`).join(" "),
        fill: "none", stroke: "#2ca02c", "stroke-width": 1.6 });
      add("text", { x: left, y: H - 3, "font-size": 10, fill: "#666" }, `step ${x0}`);
      add("text", { x: right - 60, y: H - 3, "font-size": 10, fill: "#666" }, `step ${points[points.length - 1][0]}`);
      const last = points[points.length - 1];
      summary.textContent = `latest (step ${last[0]}): novel 8-grams ${percent(last[1])}, ` +
        `longest shared substring ${last[2] ?? "–"} chars`;
    }
    const text = String(model.get("overfit_warning") || "");
    warning.textContent = text;
    warning.hidden = !text;
  }

  subs.on("change:novelty_series", errors.guard("memorisation", draw));
  subs.on("change:overfit_warning", errors.guard("memorisation", draw));
  draw();
  return () => subs.dispose();
}

/** Prompt box, temperature, top-k and length, and Generate; the answer with the step of the
 * weights it came from, or the one-line error (a character outside the vocabulary, ...). */
export function mountSteeringPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const prompt = h("textarea", { class: "gw-gen-prompt", rows: 2, spellcheck: false,
    placeholder: "a prompt (empty: start after a newline)" });
  prompt.value = String(model.get("gen_prompt") || "");
  const temperature = h("input", { type: "number", class: "gw-gen-temperature", min: "0.05", step: "0.05",
    value: String(model.get("gen_temperature") ?? 0.8), title: "temperature > 0" });
  const topK = h("input", { type: "number", class: "gw-gen-topk", min: "1", step: "1",
    placeholder: "all", title: "keep the k likeliest characters (empty: all)" });
  const k0 = Number(model.get("gen_top_k")) || 0;
  if (k0 > 0) topK.value = String(k0);
  const length = h("input", { type: "number", class: "gw-gen-length", min: "1", max: "2000", step: "1",
    value: String(model.get("gen_length") ?? 200), title: "new characters (1-2000)" });
  const button = h("button", { class: "gw-generate", text: "Generate" });
  const status = h("div", { class: "gw-muted gw-gen-status" });
  const error = h("div", { class: "gw-gen-error", role: "alert", hidden: true });
  const output = h("pre", { class: "gw-text-sample gw-gen-output", hidden: true });
  el.append(prompt,
    h("div", { class: "gw-row" }, [
      h("label", {}, ["temperature ", temperature]), h("label", {}, ["top-k ", topK]),
      h("label", {}, ["length ", length]), button]),
    status, error, output);

  let requestId = 0;
  let waiting = false;

  function show(): void {
    const r = model.get("gen_result") || {};
    const busy = Boolean(model.get("gen_busy"));
    const mine = typeof r.id === "number" && r.id === requestId;
    if (mine) waiting = false;
    button.disabled = false;
    if (waiting || (busy && !mine)) {
      status.textContent = "generating...";
      el.dataset.state = "generating";
      return;
    }
    if (!r || typeof r.id !== "number") {
      status.textContent = "";
      el.dataset.state = "idle";
      return;
    }
    el.dataset.resultId = String(r.id);
    if (r.error) {
      error.textContent = String(r.error);
      error.hidden = false;
      output.hidden = true; // the error is the answer to this request, not the older text
      status.textContent = "";
      el.dataset.state = "error";
      return;
    }
    error.hidden = true;
    const text = String(r.text || "");
    const p = String(r.prompt || "");
    const rest = text.startsWith(p) ? text.slice(p.length) : text;
    output.replaceChildren(...sampleNodes(text.startsWith(p) ? p : "", rest));
    output.hidden = false;
    status.textContent = `from the weights at step ${r.step} · ${Number(r.seconds).toFixed(2)} s`;
    el.dataset.step = String(r.step);
    el.dataset.state = "done";
  }

  button.addEventListener("click", errors.guard("generate", () => {
    requestId += 1;
    waiting = true;
    model.send({ type: "generate", id: requestId, prompt: prompt.value,
      temperature: temperature.value, top_k: topK.value, max_new_tokens: length.value });
    show();
  }));
  subs.on("change:gen_result", errors.guard("generate result", show));
  subs.on("change:gen_busy", errors.guard("generate busy", show));
  // A new view starts its own ids above the last answer's, so an old answer is not taken as its own.
  const last = model.get("gen_result") || {};
  if (typeof last.id === "number") requestId = last.id;
  show();
  return () => subs.dispose();
}
