// The held-out passage coloured by each character's bits under the current weights (a sequential
// white -> yellow -> red scale with its legend; hover: the 5 likeliest characters there and the
// true one's rank), and the attention heatmap of one layer and head on the passage's last tokens,
// drawn on a canvas (the plotly bundle has no heatmap) with the characters as axis labels.
import { type Cleanup, ErrorArea, float32, h, type Model, Subscriptions } from "./util";

// As genai_widgets/widgets/text/dashboard.py `surprisal_color`.
const STOPS: [number, number, number][] = [[255, 255, 255], [254, 217, 118], [253, 141, 60], [189, 0, 38]];

export function surprisalColor(bits: number | null | undefined, scale: number): string {
  if (bits === null || bits === undefined || !Number.isFinite(bits)) return "#eeeeee";
  const x = Math.min(1, Math.max(0, bits / scale));
  const pos = x * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(pos));
  const f = pos - i;
  const c = STOPS[i].map((a, k) => Math.round(a + (STOPS[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// As genai_widgets/families/text/tokenizer.py `visible` (the top-5 lists arrive in this form).
const VISIBLE: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r", " ": "␣" };
function visible(token: string): string {
  return VISIBLE[token] ?? token;
}

function legend(scale: number, color: (x: number) => string, unit: string, cls: string): HTMLElement {
  const stops = Array.from({ length: 11 }, (_, i) => `${color((i / 10) * scale)} ${i * 10}%`).join(", ");
  return h("div", { class: `gw-row gw-legend ${cls}` }, [
    h("span", { class: "gw-muted", text: "0" }),
    h("span", { class: "gw-legend-bar", style: { background: `linear-gradient(to right, ${stops})` } }),
    h("span", { class: "gw-muted", text: `${scale} ${unit}` }),
  ]);
}

export function mountSurprisalPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const text = h("div", { class: "gw-text-sample gw-surprisal-text" });
  const tip = h("div", { class: "gw-tooltip gw-surprisal-tip", hidden: true });
  const info = h("div", { class: "gw-muted gw-surprisal-info" });
  const legendSlot = h("div");
  const problem = h("div", { class: "gw-gen-error gw-views-error", hidden: true });
  el.append(h("div", { class: "gw-row" }, [legendSlot, info]), problem, text, tip);
  let updates = 0;

  function render(): void {
    const s = model.get("surprisal") || {};
    const scale = Number(model.get("surprisal_scale")) || 8;
    legendSlot.replaceChildren(legend(scale, (b) => surprisalColor(b, scale), "bits", "gw-surprisal-legend"));
    const tokens: string[] = s.tokens || [];
    const bits: (number | null)[] = s.bits || [];
    const nodes: Node[] = [];
    let total = 0;
    let counted = 0;
    tokens.forEach((tok, i) => {
      const b = bits[i];
      if (typeof b === "number") {
        total += b;
        counted += 1;
      }
      const span = h("span", { class: "gw-char", text: tok === "\n" ? "↵\n" : tok,
        style: { background: surprisalColor(b, scale) } });
      span.dataset.i = String(i);
      nodes.push(span);
    });
    text.replaceChildren(...nodes);
    if (tokens.length) {
      updates += 1;
      el.dataset.step = String(s.step);
      el.dataset.updates = String(updates);
      el.dataset.tokens = String(tokens.length);
      info.textContent = `step ${s.step} · ${tokens.length} characters · mean ${counted ? (total / counted).toFixed(2) : "–"} bits` +
        " · hover a character for the model's guesses";
    } else {
      info.textContent = "computing from the current weights...";
    }
  }

  function showProblem(): void {
    const message = String(model.get("views_error") || "");
    problem.textContent = message;
    problem.hidden = !message;
  }

  text.addEventListener("mouseover", errors.guard("surprisal hover", (event: Event) => {
    const target = event.target as HTMLElement;
    const i = Number(target?.dataset?.i);
    if (!Number.isInteger(i)) return;
    const s = model.get("surprisal") || {};
    const tok: string = (s.tokens || [])[i] ?? "";
    const b = (s.bits || [])[i];
    const rank = (s.rank || [])[i];
    const top: [string, number][] = (s.top || [])[i] || [];
    if (!top.length) {
      tip.replaceChildren(h("div", { text: `"${visible(tok)}": the first character, no prediction` }));
    } else {
      tip.replaceChildren(
        h("div", { class: "gw-tip-title", text: `"${visible(tok)}": ${typeof b === "number" ? b.toFixed(2) : "–"} bits, rank ${rank}` }),
        h("div", { class: "gw-muted", text: "the 5 likeliest here:" }),
        ...top.map(([t, p]) => h("div", { class: visible(tok) === t ? "gw-tip-true" : "",
          text: `${t}  ${(p * 100).toFixed(1)}%` })),
      );
    }
    tip.hidden = false;
    const box = target.getBoundingClientRect();
    const host = el.getBoundingClientRect();
    tip.style.left = `${Math.max(0, box.left - host.left)}px`;
    tip.style.top = `${box.bottom - host.top + 4}px`;
    el.dataset.hover = String(i);
  }));
  text.addEventListener("mouseleave", () => {
    tip.hidden = true;
  });
  subs.on("change:surprisal", errors.guard("surprisal", render));
  subs.on("change:surprisal_scale", errors.guard("surprisal", render));
  subs.on("change:views_error", errors.guard("views error", showProblem));
  render();
  showProblem();
  return () => subs.dispose();
}

const CELL = 8; // pixels per attention cell
const LABEL = 14; // pixels of the axis labels

function attentionColor(w: number): string {
  const x = Math.min(1, Math.max(0, w));
  // white -> dark blue
  const c = [255 + (8 - 255) * x, 255 + (48 - 255) * x, 255 + (107 - 255) * x].map(Math.round);
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function mountAttentionPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const layer = h("select", { class: "gw-attention-layer" });
  const head = h("select", { class: "gw-attention-head" });
  const info = h("span", { class: "gw-muted gw-attention-info" });
  const canvas = h("canvas", { class: "gw-attention-canvas" });
  const hover = h("div", { class: "gw-muted gw-attention-hover", text: " " });
  el.append(
    h("div", { class: "gw-row" }, [h("label", {}, ["layer ", layer]), h("label", {}, ["head ", head]), info]),
    legend(1, attentionColor, "(weight)", "gw-attention-legend"),
    canvas, hover);
  let matrix: Float32Array = new Float32Array(0);
  let n = 0;
  let draws = 0;

  function options(select: HTMLSelectElement, count: number, value: number): void {
    if (select.options.length !== count) {
      select.replaceChildren(...Array.from({ length: count }, (_, i) => h("option", { value: String(i), text: String(i) })));
    }
    select.value = String(Math.min(value, Math.max(0, count - 1)));
  }

  function draw(): void {
    const shape: number[] = model.get("attention_shape") || [0, 0];
    options(layer, shape[0] || 0, Number(model.get("attention_layer")) || 0);
    options(head, shape[1] || 0, Number(model.get("attention_head")) || 0);
    const tokens: string[] = model.get("attention_tokens") || [];
    matrix = float32(model.get("attention_weights"));
    n = tokens.length;
    if (!n || matrix.length !== n * n) {
      info.textContent = "computing from the current weights...";
      canvas.hidden = true;
      return;
    }
    canvas.hidden = false;
    const size = LABEL + n * CELL;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(size * ratio);
    canvas.height = Math.round(size * ratio);
    canvas.style.width = `${size}px`;
    canvas.style.height = `${size}px`;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, size, size);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        ctx.fillStyle = j > i ? "#f4f4f4" : attentionColor(matrix[i * n + j]);
        ctx.fillRect(LABEL + j * CELL, LABEL + i * CELL, CELL, CELL);
      }
    }
    ctx.fillStyle = "#444";
    ctx.font = "9px monospace";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    tokens.forEach((t, k) => {
      ctx.fillText(t, LABEL + k * CELL + CELL / 2, LABEL / 2); // keys, across the top
      ctx.fillText(t, LABEL / 2, LABEL + k * CELL + CELL / 2); // queries, down the side
    });
    draws += 1;
    const step = Number(model.get("attention_step"));
    info.textContent = `step ${step} · rows: each character, columns: the characters it attends to`;
    el.dataset.step = String(step);
    el.dataset.draws = String(draws);
    el.dataset.size = String(n);
  }

  function pick(): void {
    model.set("attention_layer", Number(layer.value));
    model.set("attention_head", Number(head.value));
    model.save_changes();
  }
  layer.addEventListener("change", errors.guard("attention layer", pick));
  head.addEventListener("change", errors.guard("attention head", pick));
  canvas.addEventListener("mousemove", errors.guard("attention hover", (event: MouseEvent) => {
    const box = canvas.getBoundingClientRect();
    const j = Math.floor((event.clientX - box.left - LABEL) / CELL);
    const i = Math.floor((event.clientY - box.top - LABEL) / CELL);
    const tokens: string[] = model.get("attention_tokens") || [];
    if (i < 0 || j < 0 || i >= n || j >= n) {
      hover.textContent = " ";
      return;
    }
    hover.textContent = `"${tokens[i]}" (position ${i}) → "${tokens[j]}" (position ${j}): ` +
      (j > i ? "masked (the future)" : matrix[i * n + j].toFixed(3));
  }));
  for (const name of ["attention_weights", "attention_shape", "attention_tokens", "attention_layer", "attention_head"]) {
    subs.on(`change:${name}`, errors.guard("attention", draw));
  }
  draw();
  return () => subs.dispose();
}
