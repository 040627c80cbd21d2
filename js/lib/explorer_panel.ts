// The latent explorer: click two candidate samples (A, B) or draw a random pair, interpolate
// between them (lerp/slerp, N frames), and move one latent dimension of A with a slider. Frames
// are computed in Python from a snapshot of the generator, never the module being trained.
import { type Cleanup, ErrorArea, h, type Model, revokeImage, setImageBytes, Subscriptions } from "./util";

export function mountExplorerPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const candidates = h("img", { class: "gw-pixelated gw-candidates", alt: "candidate samples" });
  const pick = h("div", { class: "gw-pick" }, [candidates]);
  const markA = h("div", { class: "gw-pick-mark", "data-which": "A", text: "A" });
  const markB = h("div", { class: "gw-pick-mark", "data-which": "B", text: "B" });
  pick.append(markA, markB);
  const frames = h("img", { class: "gw-pixelated gw-frames", alt: "interpolation frames" });
  const traverse = h("img", { class: "gw-pixelated gw-traverse", alt: "latent traversal" });
  const method = h("select", {}, [h("option", { value: "slerp", text: "slerp" }),
    h("option", { value: "lerp", text: "lerp" })]);
  const count = h("input", { type: "number", min: "2", max: "32", step: "1" });
  const dimension = h("input", { type: "number", min: "0", step: "1" });
  const value = h("input", { type: "range", min: "-3", max: "3", step: "0.1" });
  const valueLabel = h("span", { class: "gw-muted" });
  const info = h("span", { class: "gw-muted gw-explorer-info" });
  const follow = h("input", { type: "checkbox", class: "gw-explorer-follow" });
  const hint = h("div", { class: "gw-muted", text: "click a sample to set A, click again for B" });
  // The class picker of a class-conditional run: all candidates of one class, or one per class.
  const label = h("select", { class: "gw-class-picker" });
  const labelBox = h("label", {}, ["class ", label]);
  let nextPick: "A" | "B" = "A";

  const save = (changes: Record<string, unknown>) => {
    for (const [key, val] of Object.entries(changes)) model.set(key, val);
    model.save_changes();
  };

  el.append(
    h("div", { class: "gw-row" }, [
      h("button", { text: "Random pair", class: "gw-random", onclick: errors.guard("random", () => {
        const n = Number(model.get("candidate_count")) || 8;
        const a = Math.floor(Math.random() * n);
        let b = Math.floor(Math.random() * (n - 1));
        if (b >= a) b += 1;
        save({ candidate_seed: Math.floor(Math.random() * 2 ** 31), start_index: a, end_index: b });
      }) }),
      h("button", { text: "Refresh weights", title: "recompute with the generator's current weights",
        onclick: errors.guard("refresh", () => model.send({ type: "explorer_refresh" })) }),
      h("label", { title: "recompute at every sample snapshot; unchecked: frozen" },
        [follow, " follow training"]),
      h("label", {}, ["method ", method]), h("label", {}, ["frames ", count]), labelBox, info,
    ]),
    hint, pick,
    h("div", { class: "gw-panel-title", text: "Interpolation A → B" }),
    h("div", { class: "gw-strip" }, [frames]),
    h("div", { class: "gw-panel-title", text: "Traverse one latent dimension of A" }),
    h("div", { class: "gw-row" }, [h("label", {}, ["dimension ", dimension]),
      h("label", {}, ["value ", value]), valueLabel]),
    traverse,
  );

  function placeMark(mark: HTMLElement, index: number): void {
    const n = Number(model.get("candidate_count")) || 0;
    const cols = Number(model.get("candidate_columns")) || 1;
    const rows = Math.max(1, Math.ceil(n / cols));
    if (index < 0 || index >= n) {
      mark.hidden = true;
      return;
    }
    mark.hidden = false;
    const r = Math.floor(index / cols);
    const c = index % cols;
    Object.assign(mark.style, { left: `${(c / cols) * 100}%`, top: `${(r / rows) * 100}%`,
      width: `${100 / cols}%`, height: `${100 / rows}%` });
  }

  function render(): void {
    placeMark(markA, Number(model.get("start_index")));
    placeMark(markB, Number(model.get("end_index")));
    method.value = model.get("method");
    const classes = Number(model.get("label_classes")) || 0;
    labelBox.hidden = classes <= 0;
    if (label.childElementCount !== classes + 1) {
      label.replaceChildren(h("option", { value: "-1", text: "one per class" }),
        ...Array.from({ length: classes }, (_, c) => h("option", { value: String(c), text: String(c) })));
    }
    label.value = String(model.get("explorer_label"));
    follow.checked = Boolean(model.get("explorer_auto"));
    if (document.activeElement !== count) count.value = String(model.get("frames"));
    dimension.max = String(Math.max(0, Number(model.get("latent_dim")) - 1));
    if (document.activeElement !== dimension) dimension.value = String(model.get("dimension"));
    if (document.activeElement !== value) value.value = String(model.get("dimension_value"));
    valueLabel.textContent = Number(model.get("dimension_value")).toFixed(1);
    const step = Number(model.get("explorer_step"));
    info.textContent = model.get("explorer_busy") ? "computing…"
      : step >= 0 ? `weights at step ${step}` : "";
    el.dataset.frames = String(model.get("frame_count"));
    const width = `${Number(model.get("grid_width")) || 320}px`;
    candidates.style.width = width;
  }

  candidates.addEventListener("click", errors.guard("pick", (event: MouseEvent) => {
    const rect = candidates.getBoundingClientRect();
    const n = Number(model.get("candidate_count")) || 0;
    const cols = Number(model.get("candidate_columns")) || 1;
    const rows = Math.max(1, Math.ceil(n / cols));
    const c = Math.min(cols - 1, Math.floor(((event.clientX - rect.left) / rect.width) * cols));
    const r = Math.min(rows - 1, Math.floor(((event.clientY - rect.top) / rect.height) * rows));
    const index = r * cols + c;
    if (index < 0 || index >= n) return;
    save(nextPick === "A" ? { start_index: index } : { end_index: index });
    nextPick = nextPick === "A" ? "B" : "A";
  }));
  method.addEventListener("change", errors.guard("method", () => save({ method: method.value })));
  label.addEventListener("change", errors.guard("class", () => save({ explorer_label: Number(label.value) })));
  follow.addEventListener("change", errors.guard("follow", () => save({ explorer_auto: follow.checked })));
  count.addEventListener("change", errors.guard("frames", () => {
    const n = Math.round(Number(count.value));
    if (Number.isFinite(n) && n >= 2 && n <= 32) save({ frames: n });
    else count.value = String(model.get("frames"));
  }));
  dimension.addEventListener("change", errors.guard("dimension", () => {
    const d = Math.round(Number(dimension.value));
    if (Number.isFinite(d) && d >= 0 && d < Number(model.get("latent_dim"))) save({ dimension: d });
    else dimension.value = String(model.get("dimension"));
  }));
  value.addEventListener("input", errors.guard("value", () => {
    save({ dimension_value: Number(value.value) });
    valueLabel.textContent = Number(value.value).toFixed(1);
  }));
  for (const name of ["start_index", "end_index", "method", "frames", "dimension",
    "dimension_value", "latent_dim", "explorer_step", "explorer_busy", "explorer_auto", "frame_count",
    "candidate_count", "candidate_columns", "grid_width", "label_classes", "explorer_label"]) {
    subs.on(`change:${name}`, errors.guard("explorer", render));
  }
  subs.on("change:candidates_png", errors.guard("candidates", () => setImageBytes(candidates, model.get("candidates_png"))));
  subs.on("change:frames_png", errors.guard("frames", () => setImageBytes(frames, model.get("frames_png"))));
  subs.on("change:traverse_png", errors.guard("traverse", () => setImageBytes(traverse, model.get("traverse_png"))));
  setImageBytes(candidates, model.get("candidates_png"));
  setImageBytes(frames, model.get("frames_png"));
  setImageBytes(traverse, model.get("traverse_png"));
  render();
  return () => {
    subs.dispose();
    for (const img of [candidates, frames, traverse]) revokeImage(img);
  };
}
