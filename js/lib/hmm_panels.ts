// The hmm family's snapshot panel: a step slider over the EM iterations' records (follows the
// latest by default), the transition matrix as a heatmap (a table: its states kept in one order
// between iterations) with the true matrix beside it and the largest errors after matching when
// the parameters are known, the emissions per state (top symbols, or means), the record's sample
// and the restarts' leaderboard.
import { type Cleanup, ErrorArea, h, type Model, Subscriptions } from "./util";

/** White (0) -> dark blue (1), as genai_widgets/widgets/hmm/dashboard.py `heat_color`. */
export function heatColor(p: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(p) ? p : 0));
  return `rgb(${Math.round(255 - 247 * x)},${Math.round(255 - 207 * x)},${Math.round(255 - 148 * x)})`;
}

/** A symbol as the emissions panel shows it: a space as ␣, control characters escaped (\\n). */
export function symbolText(symbol: string): string {
  if (symbol === " ") return "\u2423";
  return JSON.stringify(symbol).slice(1, -1) || "\u2205";
}

function fmt(value: unknown, digits = 3): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

/** One K x K matrix of probabilities as a table of coloured cells (values shown when they fit). */
function heatmap(matrix: number[][], title: string, kind: string): HTMLElement {
  const k = matrix.length;
  const cell = Math.max(8, Math.min(44, Math.floor(260 / Math.max(1, k))));
  const table = h("table", { class: `gw-hmm-heatmap gw-hmm-heatmap-${kind}` });
  table.dataset.size = String(k);
  const header = h("tr", {}, [h("th", { text: "" })]);
  for (let j = 0; j < k; j++) header.append(h("th", { text: k <= 12 ? String(j) : "" }));
  table.append(header);
  matrix.forEach((row, i) => {
    const tr = h("tr", {}, [h("th", { text: k <= 12 ? String(i) : "" })]);
    row.forEach((p, j) => {
      const td = h("td", { class: "gw-hmm-cell", title: `${i} -> ${j}: ${fmt(p, 4)}`,
        text: cell >= 30 ? fmt(p, 2) : "",
        style: { background: heatColor(p), color: p > 0.5 ? "#fff" : "#222",
          width: `${cell}px`, height: `${cell}px` } });
      tr.append(td);
    });
    table.append(tr);
  });
  return h("figure", { class: "gw-hmm-figure" }, [h("figcaption", { class: "gw-muted", text: title }), table]);
}

/** A state's colour in the posterior ribbon and the Viterbi path (by its display position). */
export function stateColor(position: number, k: number): string {
  return `hsl(${Math.round((360 * position) / Math.max(1, k)) % 360}, 65%, ${k > 12 && position % 2 ? 38 : 52}%)`;
}

interface Passage { posterior: number[][]; viterbi: number[]; symbols: string[] | null }

/** The held-out passage: a stacked ribbon of each symbol's state posteriors (a canvas), the
 * Viterbi path as a strip under it, and the symbols coloured by their Viterbi state. */
function ribbon(passage: Passage, k: number): HTMLElement {
  const n = passage.posterior.length;
  const w = Math.max(4, Math.min(12, Math.floor(640 / Math.max(1, n))));
  const height = 60;
  const canvas = h("canvas", { class: "gw-hmm-ribbon" }) as HTMLCanvasElement;
  canvas.width = n * w;
  canvas.height = height + 10;
  const ctx = canvas.getContext("2d");
  if (ctx) {
    passage.posterior.forEach((row, t) => {
      let y = height;
      row.forEach((p, s) => {
        const dy = Math.max(0, Number(p) || 0) * height;
        if (dy <= 0) return;
        ctx.fillStyle = stateColor(s, k);
        ctx.fillRect(t * w, y - dy, w, dy);
        y -= dy;
      });
      ctx.fillStyle = stateColor(passage.viterbi[t] ?? 0, k);
      ctx.fillRect(t * w, height + 3, w, 7);
    });
  }
  const parts: HTMLElement[] = [canvas];
  if (Array.isArray(passage.symbols)) {
    const text = h("div", { class: "gw-hmm-passage" });
    passage.symbols.forEach((symbol, t) => {
      const state = passage.viterbi[t] ?? 0;
      text.append(h("span", { class: "gw-hmm-passage-symbol", title: `state ${state}`,
        text: symbol === "\n" ? "\u21b5" : symbol, style: { color: stateColor(state, k) } }));
    });
    parts.push(text);
  }
  const box = h("div", { class: "gw-hmm-ribbon-box" }, parts);
  box.dataset.symbols = String(n);
  return box;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** Gaussian states over the data: for 2+ dimensions the first two, each state's mean with its
 * 1- and 2-sigma ellipses over grey training points; for one dimension each state's weighted
 * density over a histogram-like rug of the points. Colours match the ribbon's. */
export function ellipses(means: number[][], covars: number[][], points: number[][], weights: (number | null)[]): SVGElement {
  const k = means.length;
  const d = means[0] ? means[0].length : 0;
  const width = 360, height = d >= 2 ? 260 : 160, pad = 8;
  const root = svg("svg", { class: "gw-hmm-ellipses", width, height, viewBox: `0 0 ${width} ${height}` });
  root.dataset.states = String(k);
  root.dataset.dimensions = String(d);
  if (!k || !d) return root;
  const sd = (s: number, j: number) => Math.sqrt(Math.max(0, Number(covars[s]?.[j] ?? covars[s]?.[0] ?? 0)));
  const xs: number[] = [], ys: number[] = [];
  for (const p of points) { xs.push(Number(p[0])); if (d >= 2) ys.push(Number(p[1])); }
  for (let s = 0; s < k; s++) {
    xs.push(means[s][0] - 2.2 * sd(s, 0), means[s][0] + 2.2 * sd(s, 0));
    if (d >= 2) ys.push(means[s][1] - 2.2 * sd(s, 1), means[s][1] + 2.2 * sd(s, 1));
  }
  const finite = (v: number[]) => v.filter((x) => Number.isFinite(x));
  const range = (v: number[]) => { const f = finite(v); const lo = Math.min(...f), hi = Math.max(...f); return hi > lo ? [lo, hi] : [lo - 1, hi + 1]; };
  const [x0, x1] = range(xs);
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
  if (d >= 2) {
    const [y0, y1] = range(ys);
    const sy = (y: number) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
    for (const p of points) root.append(svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 1.5, fill: "#bbb" }));
    for (let s = 0; s < k; s++) {
      const color = stateColor(s, k);
      for (const c of [2, 1]) {
        root.append(svg("ellipse", { class: "gw-hmm-ellipse", cx: sx(means[s][0]), cy: sy(means[s][1]),
          rx: Math.max(1, (c * sd(s, 0) * (width - 2 * pad)) / (x1 - x0)),
          ry: Math.max(1, (c * sd(s, 1) * (height - 2 * pad)) / (y1 - y0)),
          fill: c === 1 ? color : "none", "fill-opacity": 0.15, stroke: color, "stroke-width": c === 1 ? 2 : 1 }));
      }
      const dot = svg("circle", { cx: sx(means[s][0]), cy: sy(means[s][1]), r: 3, fill: color });
      dot.append(svg("title", {}));
      (dot.firstChild as SVGElement).textContent = `state ${s}: mean ${means[s].slice(0, 2).map((v) => fmt(v)).join(", ")}`;
      root.append(dot);
    }
    return root;
  }
  const base = height - pad;
  for (const p of points) root.append(svg("line", { x1: sx(p[0]), x2: sx(p[0]), y1: base, y2: base - 5, stroke: "#bbb" }));
  const steps = 120;
  const curves: number[][] = [];
  let top = 0;
  for (let s = 0; s < k; s++) {
    const w = typeof weights[s] === "number" ? Number(weights[s]) : 1 / k;
    const sigma = Math.max(1e-6, sd(s, 0));
    const ys1: number[] = [];
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = (w * Math.exp(-0.5 * ((x - means[s][0]) / sigma) ** 2)) / (sigma * Math.sqrt(2 * Math.PI));
      ys1.push(y);
      top = Math.max(top, y);
    }
    curves.push(ys1);
  }
  curves.forEach((ys1, s) => {
    const pts = ys1.map((y, i) => `${sx(x0 + ((x1 - x0) * i) / steps).toFixed(1)},${(base - 8 - (y / (top || 1)) * (height - 2 * pad - 12)).toFixed(1)}`);
    root.append(svg("polyline", { class: "gw-hmm-ellipse", points: pts.join(" "), fill: "none", stroke: stateColor(s, k), "stroke-width": 2 }));
  });
  return root;
}

export function mountHMMSnapshotPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const slider = h("input", { type: "range", min: "0", max: "0", step: "1", class: "gw-hmm-slider" });
  const follow = h("input", { type: "checkbox" });
  const label = h("span", { class: "gw-muted gw-hmm-label" });
  const empty = h("div", { class: "gw-muted gw-hmm-empty", text: "no snapshot yet (one per EM iteration)" });
  const maps = h("div", { class: "gw-row gw-hmm-maps" });
  const matched = h("div", { class: "gw-hmm-errors" });
  const emissions = h("div", { class: "gw-hmm-emissions" });
  const sample = h("pre", { class: "gw-text-sample gw-hmm-sample" });
  const board = h("div", { class: "gw-hmm-leaderboard" });
  const passageTitle = h("div", { class: "gw-panel-title",
    text: "Held-out passage: state posteriors (ribbon), Viterbi path (strip) and symbols by state" });
  const passage = h("div", { class: "gw-hmm-passage-panel" });
  const title = (text: string) => h("div", { class: "gw-panel-title", text });
  const sampleTitle = title("Sample (fixed seed)");
  el.append(h("div", { class: "gw-row" }, [slider, h("label", {}, [follow, " follow latest"]), label]),
    empty, maps, matched, title("Emissions per state"), emissions, sampleTitle, sample, passageTitle, passage, board);

  function render(): void {
    const count = Number(model.get("hmm_count")) || 0;
    const index = Number(model.get("hmm_index")) || 0;
    const step = Number(model.get("hmm_step"));
    slider.max = String(Math.max(0, count - 1));
    if (document.activeElement !== slider) slider.value = String(index);
    slider.disabled = count <= 1;
    follow.checked = Boolean(model.get("hmm_follow"));
    label.textContent = count ? `step ${step} · snapshot ${index + 1} of ${count}` : "";
    el.dataset.step = String(step);
    el.dataset.count = String(count);
  }

  /** The record shown: `hmm_record_json`, UTF-8 JSON in one binary buffer ({} before the first). */
  function record(): any {
    const data: DataView | null | undefined = model.get("hmm_record_json");
    if (!data || !data.byteLength) return {};
    return JSON.parse(new TextDecoder().decode(data)) || {};
  }

  function showRecord(): void {
    const r = record();
    const has = typeof r.n_states === "number";
    empty.hidden = has;
    for (const node of [maps, matched, emissions, sample, board, passage, passageTitle]) node.hidden = !has;
    if (!has) return;
    const step = Number(model.get("hmm_step"));
    const k = Number(r.n_states);
    if (Array.isArray(r.transmat)) {
      const parts = [heatmap(r.transmat, `transitions at step ${step} (row: from, column: to)`, "model")];
      if (Array.isArray(r.truth_transmat)) parts.push(heatmap(r.truth_transmat, "true transitions (matched order)", "truth"));
      maps.replaceChildren(...parts);
    } else {
      maps.replaceChildren(h("div", { class: "gw-muted", text: `${k} states: too many to draw the transition matrix` }));
    }
    const e = r.errors || null;
    matched.hidden = !e;
    if (e) {
      const items: string[] = [];
      if (typeof e.transmat === "number") items.push(`transitions ${fmt(e.transmat)}`);
      if (typeof e.emissionprob === "number") items.push(`emissions ${fmt(e.emissionprob)}`);
      if (typeof e.means === "number") items.push(`means ${fmt(e.means)}`);
      matched.textContent = `largest absolute error after matching the states to the truth: ${items.join(", ")}`;
      matched.dataset.transmat = String(e.transmat);
    }
    const occupancy: (number | null)[] = r.occupancy || [];
    const rows: HTMLElement[] = [];
    for (let s = 0; s < k; s++) {
      const head = h("span", { class: "gw-hmm-state",
        text: `state ${s}${typeof occupancy[s] === "number" ? ` (${Math.round(Number(occupancy[s]) * 100)}%)` : ""}` });
      const body = h("span", { class: "gw-hmm-emission" });
      if (Array.isArray(r.top_symbols) && r.top_symbols[s]) {
        for (const [symbol, p] of r.top_symbols[s]) {
          const shown = symbolText(String(symbol));
          body.append(h("span", { class: "gw-hmm-symbol", title: `p = ${fmt(p, 4)}`,
            style: { background: heatColor(Number(p) * 2), color: Number(p) > 0.25 ? "#fff" : "#222" },
            text: `${shown} ${fmt(p, 2)}` }));
        }
      } else if (Array.isArray(r.means) && r.means[s] !== undefined) {
        const mean = ([] as number[]).concat(r.means[s]);
        const covar = r.covars && r.covars[s] !== undefined ? ([] as number[]).concat(r.covars[s]) : [];
        body.textContent = `mean ${mean.slice(0, 8).map((v) => fmt(v)).join(", ")}` +
          (covar.length ? ` · variance ${covar.slice(0, 8).map((v) => fmt(v)).join(", ")}` : "");
      }
      rows.push(h("div", { class: "gw-hmm-emission-row" }, [head, body]));
    }
    if (Array.isArray(r.means) && r.means.length && Array.isArray(r.covars)) {
      const means = r.means.map((m: number | number[]) => ([] as number[]).concat(m));
      const covars = r.covars.map((c: number | number[]) => ([] as number[]).concat(c));
      rows.unshift(h("div", { class: "gw-hmm-ellipse-box" }, [ellipses(means, covars, r.points || [], occupancy) as unknown as HTMLElement]));
    }
    emissions.replaceChildren(...rows);
    emissions.dataset.states = String(k);
    const text = typeof r.text === "string" ? r.text
      : Array.isArray(r.symbols) ? r.symbols.join(" ") : "";
    sample.hidden = sampleTitle.hidden = !text;
    sample.textContent = text;
    const shown = r.passage && Array.isArray(r.passage.posterior) ? (r.passage as Passage) : null;
    passage.hidden = passageTitle.hidden = !shown;
    if (shown) passage.replaceChildren(ribbon(shown, k));
    const restarts: { restart: number; log_likelihood: number | null }[] = r.restarts || [];
    board.hidden = !restarts.length;
    board.dataset.rows = String(restarts.length);
    if (restarts.length) {
      const table = h("table", { class: "gw-hmm-board" }, [
        h("tr", {}, [h("th", { text: "rank" }), h("th", { text: "restart" }), h("th", { text: "log-likelihood / symbol" })]),
        ...restarts.map((row, i) => h("tr", { class: i === 0 ? "gw-hmm-best" : "" }, [
          h("td", { text: String(i + 1) }), h("td", { text: String(row.restart) }),
          h("td", { text: fmt(row.log_likelihood, 4) })])),
      ]);
      board.replaceChildren(title("Restarts (best first; the best one is shown)"), table);
    }
    el.dataset.draws = String(Number(el.dataset.draws || 0) + 1);
  }

  slider.addEventListener("input", errors.guard("hmm slider", () => {
    const count = Number(model.get("hmm_count")) || 0;
    const index = Number(slider.value);
    model.set("hmm_index", index);
    model.set("hmm_follow", index >= count - 1);
    model.save_changes();
    render();
  }));
  follow.addEventListener("change", errors.guard("hmm follow", () => {
    model.set("hmm_follow", follow.checked);
    model.save_changes();
  }));
  for (const name of ["hmm_count", "hmm_index", "hmm_step", "hmm_follow"]) {
    subs.on(`change:${name}`, errors.guard("hmm snapshot", render));
  }
  subs.on("change:hmm_record_json", errors.guard("hmm record", showRecord));
  render();
  showRecord();
  return () => subs.dispose();
}
