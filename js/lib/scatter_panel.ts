// The latent scatter: a VAE's held-out images encoded (posterior means), one plotly trace per
// class. Points arrive as float32 (x, y) pairs in `scatter_xy` and int32 labels in
// `scatter_labels`, both binary; Plotly.react redraws in place (zoom kept by uirevision). A click
// on a point sends its index; Python answers with `picked_png`, the image beside its decoding.
import Plotly from "plotly.js-basic-dist-min";
import { type Cleanup, ErrorArea, float32, h, int32, type Model, revokeImage, setImageBytes,
  Subscriptions } from "./util";

// matplotlib's tab10, as the static PNG (genai_widgets/widgets/static_png.py) uses.
const CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];

export interface ScatterPanelOptions {
  /** Called with the index (into the held-out images) of a clicked point, after Python is told. */
  onPick?: (index: number) => void;
}

export function mountScatterPanel(model: Model, el: HTMLElement, errors: ErrorArea,
  options: ScatterPanelOptions = {}): Cleanup {
  const subs = new Subscriptions(model);
  const chart = h("div", { class: "gw-chart gw-scatter-chart" });
  const info = h("span", { class: "gw-muted gw-scatter-info" });
  const follow = h("input", { type: "checkbox" });
  const picked = h("img", { class: "gw-pixelated gw-picked", alt: "the clicked image and its decoding" });
  const pickedLabel = h("span", { class: "gw-muted gw-picked-label" });
  el.append(
    h("div", { class: "gw-row" }, [
      h("button", { text: "Refresh", class: "gw-scatter-refresh", title: "encode again with the current weights",
        onclick: errors.guard("refresh", () => model.send({ type: "scatter_refresh" })) }),
      h("label", {}, [follow, " follow training"]), info,
    ]),
    chart,
    h("div", { class: "gw-row" }, [picked, pickedLabel]),
  );
  let plotted = false;
  let updates = 0;

  function traces(): any[] {
    const xy = float32(model.get("scatter_xy"));
    const labels = int32(model.get("scatter_labels"));
    const classes: string[] = model.get("scatter_classes") || [];
    const n = Math.floor(xy.length / 2);
    const groups = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const c = labels.length === n ? labels[i] : -1;
      if (!groups.has(c)) groups.set(c, []);
      groups.get(c)!.push(i);
    }
    return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([c, index]) => {
      const name = c >= 0 ? (classes[c] ?? String(c)) : "images";
      return {
        type: "scatter", mode: "markers", name,
        x: index.map((i) => xy[2 * i]), y: index.map((i) => xy[2 * i + 1]), customdata: index,
        marker: { size: 6, opacity: 0.8, color: c >= 0 ? CLASS_COLORS[c % CLASS_COLORS.length] : "#1f77b4" },
        hovertemplate: `${name}: image %{customdata}<extra></extra>`,
      };
    });
  }

  function layout(): any {
    const axes: string[] = model.get("scatter_axes") || ["", ""];
    return {
      margin: { l: 50, r: 10, t: 10, b: 40 }, height: 320,
      width: el.clientWidth > 0 ? el.clientWidth - 4 : undefined, hovermode: "closest",
      xaxis: { title: { text: axes[0] || "" }, zeroline: false },
      yaxis: { title: { text: axes[1] || "" }, zeroline: false },
      legend: { orientation: "v" }, uirevision: "keep",
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    };
  }

  function redraw(): void {
    Plotly.react(chart, traces(), layout(), { displaylogo: false });
    plotted = true;
    updates += 1;
    const step = Number(model.get("scatter_step"));
    const count = Number(model.get("scatter_count")) || 0;
    el.dataset.step = String(step);
    el.dataset.points = String(count);
    el.dataset.updates = String(updates);
    const how = model.get("scatter_projection") === "pca" ? "first two principal components"
      : "the latent dimensions";
    info.textContent = step < 0 ? "encoding…"
      : count === 0 ? "no images to encode: load the run with data=... to see its latent space"
        : `${count} held-out images at step ${step}, ${how}`;
  }

  function renderControls(): void {
    follow.checked = Boolean(model.get("scatter_auto"));
  }

  function showPicked(): void {
    setImageBytes(picked, model.get("picked_png"));
    const index = Number(model.get("picked_index"));
    pickedLabel.textContent = index >= 0 ? `image ${index}: input | decoding` : "click a point to decode it";
    el.dataset.picked = String(index);
  }

  follow.addEventListener("change", errors.guard("follow", () => {
    model.set("scatter_auto", follow.checked);
    model.save_changes();
  }));
  subs.on("change:scatter_xy", errors.guard("scatter", redraw));
  subs.on("change:scatter_axes", errors.guard("scatter axes", () => {
    if (plotted) Plotly.relayout(chart, layout());
  }));
  subs.on("change:scatter_auto", errors.guard("scatter", renderControls));
  subs.on("change:picked_png", errors.guard("picked", showPicked));
  subs.on("change:picked_index", errors.guard("picked", showPicked));
  errors.guard("initial scatter", redraw)();
  renderControls();
  showPicked();
  (chart as any).on?.("plotly_click", errors.guard("click", (event: any) => {
    const index = event?.points?.[0]?.customdata;
    if (typeof index !== "number") return;
    model.send({ type: "scatter_pick", index });
    options.onPick?.(index);
  }));

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
    revokeImage(picked);
    Plotly.purge(chart);
  };
}
