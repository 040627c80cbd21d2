// The live loss chart. Data arrives two ways: `curve_snapshot` (a decimated history, synced, so a
// reloaded page redraws at once) and `curve_append` custom messages carrying only the new rows as
// Float32 column blocks. The chart is the snapshot plus the exact rows after it. Evaluations
// (measured every so many steps, with their own steps: `eval_snapshot` / `eval_append`) are drawn
// in one small panel each under the losses, sharing the step axis.
import Plotly from "plotly.js-basic-dist-min";
import { type Cleanup, ErrorArea, float32, h, type Model, Subscriptions } from "./util";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
  "#17becf", "#bcbd22", "#7f7f7f"];
const HIDDEN_COLUMNS = new Set(["step", "time"]);
const LOSS_HEIGHT = 300;
const EVAL_HEIGHT = 90; // pixels per evaluation panel

export interface LossPanelOptions {
  /** Trait holding the step to mark with a vertical cursor (-1: none). */
  cursorTrait: string;
  /** Called with the step the user clicked on, if given. */
  onPickStep?: (step: number) => void;
  /** Title of the y axis (none if absent). */
  yTitle?: string;
  /** Extra shapes and annotations (reference lines, marks), redrawn when one of `traits` changes. */
  decorations?: { traits: string[]; build: () => { shapes: any[]; annotations: any[] } };
}

interface Ema {
  last: number;
  count: number;
}

/** Column-major Float32 block -> rows of the named columns. */
function decodeColumns(values: Float32Array, columns: string[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const rows = columns.length ? Math.floor(values.length / columns.length) : 0;
  columns.forEach((name, i) => out.set(name, values.subarray(i * rows, (i + 1) * rows)));
  return out;
}

function emaPush(state: Ema, weight: number, value: number): number {
  if (!Number.isFinite(value)) return value;
  state.last = state.last * weight + (1 - weight) * value;
  state.count += 1;
  // TensorBoard's debiased EMA: the early points are not dragged towards zero.
  const debias = weight >= 1 ? 1 : 1 - Math.pow(weight, state.count);
  return debias > 0 ? state.last / debias : value;
}

export function mountLossPanel(model: Model, el: HTMLElement, errors: ErrorArea,
  options: LossPanelOptions): Cleanup {
  const subs = new Subscriptions(model);
  const chart = h("div", { class: "gw-chart" });
  const smoothing = h("input", { type: "range", min: "0", max: "0.99", step: "0.01",
    title: "exponential moving average weight (as in TensorBoard)" });
  const smoothingLabel = h("span", { class: "gw-muted" });
  const logScale = h("input", { type: "checkbox" });
  const pointsLabel = h("span", { class: "gw-muted gw-points" });
  const toolbar = h("div", { class: "gw-row" }, [
    h("label", {}, ["Smoothing ", smoothing]), smoothingLabel,
    h("label", {}, [logScale, " log scale"]),
    h("button", { text: "PNG", title: "download the chart as PNG",
      onclick: errors.guard("download", () => {
        Plotly.downloadImage(chart, { format: "png", filename: model.get("run_name") || "loss",
          width: 1000, height: 500 });
      }) }),
    pointsLabel,
  ]);
  el.append(toolbar, chart);

  // Data model: steps plus one array per series; `baseRows` came from the snapshot.
  let steps: number[] = [];
  let series = new Map<string, number[]>();
  let names: string[] = [];
  let ema = new Map<string, Ema>();
  let plotted = false;
  // Evaluations: their own steps and one array per column.
  let evalSteps: number[] = [];
  let evalSeries = new Map<string, number[]>();
  let evalNames: string[] = [];

  const weight = () => Math.min(0.999, Math.max(0, Number(model.get("smoothing")) || 0));
  const lastStep = () => (steps.length ? steps[steps.length - 1] : -Infinity);

  function ensureSeries(columns: string[]): boolean {
    let added = false;
    for (const name of columns) {
      if (HIDDEN_COLUMNS.has(name) || series.has(name)) continue;
      series.set(name, new Array(steps.length).fill(NaN));
      names.push(name);
      added = true;
    }
    return added;
  }

  function smoothed(name: string): number[] {
    const state: Ema = { last: 0, count: 0 };
    ema.set(name, state);
    const w = weight();
    return (series.get(name) || []).map((v) => emaPush(state, w, v));
  }

  // Series on the right-hand axis (a VAE's beta lives in [0, beta], far from the ELBO's scale).
  const secondary = () => new Set<string>(model.get("secondary_series") || []);
  // Series measured every so many steps only (NaN between): drawn raw, their points connected.
  const sparse = () => new Set<string>(model.get("sparse_series") || []);
  function evalTraces(): any[] {
    return evalNames.map((name, k) => ({ type: "scatter", mode: "lines+markers", name,
      x: evalSteps.slice(), y: (evalSeries.get(name) || []).slice(), yaxis: `y${k + 2 + evalAxisOffset()}`,
      showlegend: false, marker: { size: 4 }, line: { color: PALETTE[(names.length + k) % PALETTE.length],
        width: 1.5 } }));
  }
  // Evaluation panels take the axes after the right-hand axis, when there is one.
  const evalAxisOffset = () => (secondary().size ? 1 : 0);

  function traces(): any[] {
    const w = weight();
    const hidden = new Set<string>(model.get("hidden_series") || []);
    const right = secondary();
    const few = sparse();
    const out: any[] = [];
    names.forEach((name, i) => {
      const shown = hidden.has(name) ? "legendonly" : true;
      if (few.has(name)) {
        const color = PALETTE[i % PALETTE.length];
        const y = series.get(name) || [];
        out.push({ type: "scatter", mode: "lines+markers", name, x: steps.slice(), y: y.slice(),
          legendgroup: name, showlegend: true, visible: shown, connectgaps: true,
          marker: { size: 5 }, line: { color, width: 1.8 } });
        out.push({ type: "scatter", mode: "lines", name, x: [], y: [], legendgroup: name,
          showlegend: false, visible: false, hoverinfo: "skip" });
        return;
      }
      const color = PALETTE[i % PALETTE.length];
      const y = series.get(name) || [];
      const axis = right.has(name) ? { yaxis: "y2" } : {};
      const label = right.has(name) ? `${name} (right)` : name;
      out.push({ type: "scatter", mode: "lines", name: label, x: steps.slice(), y: y.slice(),
        legendgroup: name, showlegend: w === 0, opacity: w > 0 ? 0.25 : 1, visible: shown,
        line: { color, width: 1 }, hoverinfo: w > 0 ? "skip" : undefined, ...axis });
      out.push({ type: "scatter", mode: "lines", name: label, x: steps.slice(), y: smoothed(name),
        legendgroup: name, showlegend: w > 0, visible: w > 0 ? shown : false,
        line: { color, width: 1.8 }, ...axis });
    });
    return out.concat(evalTraces());
  }

  function decorations(): { shapes: any[]; annotations: any[] } {
    return options.decorations ? options.decorations.build() : { shapes: [], annotations: [] };
  }

  function cursorShapes(): any[] {
    const extra = decorations().shapes;
    const step = Number(model.get(options.cursorTrait));
    if (!Number.isFinite(step) || step < 0) return extra;
    return [{ type: "line", xref: "x", yref: "paper", x0: step, x1: step, y0: 0, y1: 1,
      line: { color: "#888", width: 1, dash: "dot" } }, ...extra];
  }

  function layout(): any {
    const n = evalNames.length;
    const off = evalAxisOffset();
    const height = LOSS_HEIGHT + EVAL_HEIGHT * n;
    const plot = height - 68; // less the top and bottom margins
    const lossDomain = [n ? Math.min(0.9, (EVAL_HEIGHT * n) / plot) : 0, 1];
    const out: any = {
      margin: { l: 50, r: off ? 40 : 10, t: 28, b: 40 }, height,
      width: el.clientWidth > 0 ? el.clientWidth - 4 : undefined, hovermode: "x unified",
      // The step axis sits under the lowest panel (the last evaluation's).
      xaxis: { title: { text: "step" }, anchor: n ? `y${n + 1 + off}` : "y" },
      yaxis: { type: model.get("log_scale") ? "log" : "linear", domain: lossDomain,
        ...(options.yTitle ? { title: { text: options.yTitle } } : {}) },
      annotations: decorations().annotations,
      ...(off ? { yaxis2: { overlaying: "y", side: "right", showgrid: false, tickformat: ".2~g",
        rangemode: "tozero" } } : {}),
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, shapes: cursorShapes(),
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", uirevision: "keep",
    };
    evalNames.forEach((name, k) => {
      // k = 0 right under the losses, k = n - 1 at the bottom; each leaves a gap above it.
      const low = (EVAL_HEIGHT * (n - 1 - k)) / plot;
      out[`yaxis${k + 2 + off}`] = { domain: [low, Math.min(1, low + (EVAL_HEIGHT - 22) / plot)],
        anchor: "x", title: { text: name, font: { size: 10 } }, rangemode: "tozero" };
    });
    return out;
  }

  function updateLabels(): void {
    pointsLabel.textContent = `${steps.length} points`;
    el.dataset.points = String(steps.length);
    el.dataset.evalPoints = String(evalSteps.length);
    smoothingLabel.textContent = weight().toFixed(2);
  }

  function redraw(): void {
    Plotly.react(chart, traces(), layout(), { displaylogo: false,
      toImageButtonOptions: { filename: model.get("run_name") || "loss" } });
    plotted = true;
    drawn = steps.length;
    updateLabels();
  }

  function loadSnapshot(): void {
    const columns: string[] = model.get("curve_columns") || [];
    const block = decodeColumns(float32(model.get("curve_snapshot")), columns);
    const snapSteps = Array.from(block.get("step") || []);
    const newLast = snapSteps.length ? snapSteps[snapSteps.length - 1] : -Infinity;
    // Keep the exact rows we already hold beyond the snapshot's end.
    const keep = steps.map((s, i) => [s, i] as const).filter(([s]) => s > newLast);
    const oldSeries = series;
    const oldNames = names;
    steps = snapSteps.concat(keep.map(([s]) => s));
    series = new Map();
    names = [];
    ensureSeries(columns);
    ensureSeries(oldNames);
    for (const name of names) {
      const fromSnap = block.get(name);
      const head = fromSnap ? Array.from(fromSnap) : new Array(snapSteps.length).fill(NaN);
      const old = oldSeries.get(name);
      series.set(name, head.concat(keep.map(([, i]) => (old ? old[i] : NaN))));
    }
    redraw();
  }

  function loadEvalSnapshot(): void {
    const columns: string[] = model.get("eval_columns") || [];
    const block = decodeColumns(float32(model.get("eval_snapshot")), columns);
    const snapSteps = Array.from(block.get("step") || []);
    const newLast = snapSteps.length ? snapSteps[snapSteps.length - 1] : -Infinity;
    const keep = evalSteps.map((s, i) => [s, i] as const).filter(([s]) => s > newLast);
    const oldSeries = evalSeries;
    evalSteps = snapSteps.concat(keep.map(([s]) => s));
    evalSeries = new Map();
    evalNames = columns.filter((c) => !HIDDEN_COLUMNS.has(c));
    for (const name of evalNames) {
      const head = Array.from(block.get(name) || new Float32Array(snapSteps.length).fill(NaN));
      const old = oldSeries.get(name);
      evalSeries.set(name, head.concat(keep.map(([, i]) => (old ? old[i] : NaN))));
    }
    redraw();
  }

  function appendEval(content: any, buffers: DataView[]): void {
    const columns: string[] = content.columns || [];
    const block = decodeColumns(float32(buffers[0]), columns);
    const newSteps = block.get("step");
    if (!newSteps || newSteps.length === 0) return;
    const after = evalSteps.length ? evalSteps[evalSteps.length - 1] : -Infinity;
    const rows: number[] = [];
    for (let i = 0; i < newSteps.length; i++) if (newSteps[i] > after) rows.push(i);
    if (rows.length === 0) return;
    let structural = false;
    for (const name of columns) {
      if (HIDDEN_COLUMNS.has(name) || evalSeries.has(name)) continue;
      evalSeries.set(name, new Array(evalSteps.length).fill(NaN));
      evalNames.push(name);
      structural = true;
    }
    const x = rows.map((i) => newSteps[i]);
    evalSteps.push(...x);
    for (const name of evalNames) {
      const col = block.get(name);
      evalSeries.get(name)!.push(...rows.map((i) => (col ? col[i] : NaN)));
    }
    if (structural || !plotted) {
      redraw();
      return;
    }
    updateLabels();
    const base = 2 * names.length;
    Plotly.extendTraces(chart, { x: evalNames.map(() => x),
      y: evalNames.map((name) => rows.map((i) => { const col = block.get(name); return col ? col[i] : NaN; })) },
    evalNames.map((_, k) => base + k));
  }

  function append(content: any, buffers: DataView[]): void {
    const columns: string[] = content.columns || [];
    const block = decodeColumns(float32(buffers[0]), columns);
    const newSteps = block.get("step");
    if (!newSteps || newSteps.length === 0) return;
    const after = lastStep();
    const rows: number[] = [];
    for (let i = 0; i < newSteps.length; i++) if (newSteps[i] > after) rows.push(i);
    if (rows.length === 0) return;
    const structural = ensureSeries(columns);
    const x = rows.map((i) => newSteps[i]);
    steps.push(...x);
    for (const name of names) {
      const col = block.get(name);
      series.get(name)!.push(...rows.map((i) => (col ? col[i] : NaN)));
    }
    if (structural || !plotted) {
      redraw();
      return;
    }
    updateLabels();
    schedulePlot();
  }

  // Plotly redraws every trace on each extend, so appends are drawn at most every PLOT_MS.
  const PLOT_MS = 500;
  let drawn = 0; // rows already in the plot
  let plotTimer = 0;
  function schedulePlot(): void {
    if (plotTimer) return;
    plotTimer = window.setTimeout(errors.guard("extend", () => {
      plotTimer = 0;
      extendPlot();
    }), PLOT_MS);
  }

  function extendPlot(): void {
    if (!plotted || drawn >= steps.length) return;
    const from = drawn;
    const x = steps.slice(from);
    const w = weight();
    const xs: number[][] = [];
    const ys: number[][] = [];
    const indices: number[] = [];
    names.forEach((name, k) => {
      const values = series.get(name)!.slice(from);
      const state = ema.get(name) || { last: 0, count: 0 };
      ema.set(name, state);
      xs.push(x, x);
      ys.push(values, values.map((v) => emaPush(state, w, v)));
      indices.push(2 * k, 2 * k + 1);
    });
    drawn = steps.length;
    Plotly.extendTraces(chart, { x: xs, y: ys }, indices);
  }

  smoothing.value = String(model.get("smoothing") ?? 0);
  logScale.checked = Boolean(model.get("log_scale"));
  smoothing.addEventListener("input", errors.guard("smoothing", () => {
    model.set("smoothing", Number(smoothing.value));
    model.save_changes();
  }));
  logScale.addEventListener("change", errors.guard("log scale", () => {
    model.set("log_scale", logScale.checked);
    model.save_changes();
  }));
  subs.on("change:curve_snapshot", errors.guard("snapshot", loadSnapshot));
  subs.on("change:eval_snapshot", errors.guard("evaluations", loadEvalSnapshot));
  subs.on("change:smoothing", errors.guard("smoothing", () => {
    smoothing.value = String(model.get("smoothing"));
    redraw();
  }));
  subs.on("change:hidden_series", errors.guard("hidden series", redraw));
  subs.on("change:log_scale", errors.guard("log scale", () => {
    logScale.checked = Boolean(model.get("log_scale"));
    Plotly.relayout(chart, { "yaxis.type": model.get("log_scale") ? "log" : "linear" });
  }));
  subs.on(`change:${options.cursorTrait}`, errors.guard("cursor", () => {
    if (plotted) Plotly.relayout(chart, { shapes: cursorShapes() });
  }));
  for (const trait of options.decorations?.traits || []) {
    subs.on(`change:${trait}`, errors.guard("decorations", () => {
      if (plotted) Plotly.relayout(chart, { shapes: cursorShapes(), annotations: decorations().annotations });
    }));
  }
  subs.on("change:sparse_series", errors.guard("sparse series", redraw));
  subs.on("msg:custom", errors.guard("append", (content: any, buffers: DataView[]) => {
    if (content && content.type === "curve_append") append(content, buffers);
    else if (content && content.type === "eval_append") appendEval(content, buffers);
  }));

  errors.guard("initial draw", () => {
    loadSnapshot();
    if ((model.get("eval_columns") || []).length > 1) loadEvalSnapshot();
  })();
  if (options.onPickStep) {
    const pick = options.onPickStep;
    (chart as any).on?.("plotly_click", errors.guard("click", (event: any) => {
      const x = event?.points?.[0]?.x;
      if (typeof x === "number") pick(x);
    }));
  }
  // Follow the container's width (flex layouts settle after the first draw). The panel clips
  // its content (CSS), so the chart's width never feeds back into the container's; resizes are
  // debounced and need a real change.
  let lastWidth = 0;
  let timer = 0;
  const resize = new ResizeObserver(() => {
    window.clearTimeout(timer);
    timer = window.setTimeout(errors.guard("resize", () => {
      const width = Math.round(el.clientWidth);
      if (!plotted || width === 0 || Math.abs(width - lastWidth) < 8) return;
      lastWidth = width;
      Plotly.relayout(chart, { width: width - 4 });
    }), 250);
  });
  resize.observe(el);
  subs.add(() => {
    resize.disconnect();
    window.clearTimeout(timer);
  });

  return () => {
    subs.dispose();
    window.clearTimeout(plotTimer);
    Plotly.purge(chart);
  };
}
