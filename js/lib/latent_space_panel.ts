// Latent space beyond interpolation (genai_widgets/widgets/latent_space.py): sliders along
// semantic directions of the current weights, real images projected into z (a VAE: the encoder's
// posterior mean) and interpolated through the generator / decoder, the candidates' nearest
// training images with the copy rate, and latent arithmetic on selections clicked in the
// candidate grid. Everything is computed in Python. The GAN dashboard's explorer owns the
// candidates (seed, sample A, method, frames, "follow training"); where there is no explorer
// (the VAE dashboard) the panel shows them itself (`ownCandidates`).
import { type Cleanup, ErrorArea, h, type Model, revokeImage, setImageBytes, Subscriptions } from "./util";

type Pick = "plus" | "minus" | "base";
const PICK_TRAIT: Record<Pick, string> = { plus: "arith_plus", minus: "arith_minus", base: "arith_base" };

export interface LatentSpaceOptions {
  /** No latent explorer on the page (the VAE dashboard): the panel shows the candidate grid
   * itself (a click sets sample A) with "New candidates", "follow training", and the method and
   * frames of the real images' interpolation. */
  ownCandidates?: boolean;
}

/** The grid cell under a click on `img`, a grid of `count` images in `cols` columns (-1: none). */
function cellAt(img: HTMLImageElement, event: MouseEvent, count: number, cols: number): number {
  const rect = img.getBoundingClientRect();
  const rows = Math.max(1, Math.ceil(count / cols));
  const c = Math.min(cols - 1, Math.floor(((event.clientX - rect.left) / rect.width) * cols));
  const r = Math.min(rows - 1, Math.floor(((event.clientY - rect.top) / rect.height) * rows));
  const index = r * cols + c;
  return index >= 0 && index < count ? index : -1;
}

/** Place `mark` over cell `index` of a grid of `count` images in `cols` columns (hidden: none). */
function placeCell(mark: HTMLElement, index: number, count: number, cols: number): void {
  mark.hidden = index < 0 || index >= count || cols < 1;
  if (mark.hidden) return;
  const rows = Math.max(1, Math.ceil(count / cols));
  const r = Math.floor(index / cols);
  const c = index % cols;
  Object.assign(mark.style, { left: `${(c / cols) * 100}%`, top: `${(r / rows) * 100}%`,
    width: `${100 / cols}%`, height: `${100 / rows}%` });
}

/** The folded `<details class="gw-latent-space">` section, appended to `root` (null when the
 * run cannot show these views). Python computes nothing for it until it is opened. */
export function mountLatentSpaceSection(model: Model, root: HTMLElement, errors: ErrorArea,
  options: LatentSpaceOptions = {}): Cleanup | null {
  if (!model.get("latent_space_enabled")) return null;
  const space = h("details", { class: "gw-panel gw-latent-space", open: Boolean(model.get("latent_space_open")) },
    [h("summary", { class: "gw-panel-title", text: "Latent space: directions, real images, neighbours, arithmetic" })]);
  space.addEventListener("toggle", errors.guard("latent space", () => {
    model.set("latent_space_open", space.open);
    model.save_changes();
  }));
  root.append(space);
  return mountLatentSpacePanel(model, space, errors, options);
}

export function mountLatentSpacePanel(model: Model, el: HTMLElement, errors: ErrorArea,
  options: LatentSpaceOptions = {}): Cleanup {
  const subs = new Subscriptions(model);
  const save = (changes: Record<string, unknown>) => {
    for (const [key, val] of Object.entries(changes)) model.set(key, val);
    model.save_changes();
  };
  const title = (text: string) => h("div", { class: "gw-panel-title", text });
  const img = (cls: string, alt: string) => h("img", { class: `gw-pixelated ${cls}`, alt });
  const status = h("div", { class: "gw-muted gw-latent-status" });
  const failure = h("div", { class: "gw-latent-error" });

  // The candidates, where no explorer shows them (the VAE dashboard).
  const own = Boolean(options.ownCandidates);
  const candidates = img("gw-latent-candidates", "candidate samples from the prior: click one to set A");
  const candidatePick = h("div", { class: "gw-pick" }, [candidates]);
  const markCandidate = h("div", { class: "gw-pick-mark gw-latent-candidate-mark", "data-which": "A", text: "A" });
  candidatePick.append(markCandidate);
  const follow = h("input", { type: "checkbox", class: "gw-latent-follow" });
  const method = h("select", { class: "gw-latent-method" }, [h("option", { value: "slerp", text: "slerp" }),
    h("option", { value: "lerp", text: "lerp" })]);
  const frames = h("input", { type: "number", min: "2", max: "32", step: "1", class: "gw-latent-frames" });
  const newCandidates = h("button", { text: "New candidates", class: "gw-latent-new",
    onclick: errors.guard("new candidates", () =>
      save({ candidate_seed: Math.floor(Math.random() * 2 ** 31) })) });

  // Directions.
  const sliders = h("div", { class: "gw-direction-sliders" });
  const moved = img("gw-direction-moved", "sample A and A moved along the directions");
  const strip = img("gw-direction-strip", "A from -3 to +3 sigma along one direction");
  const dirInfo = h("span", { class: "gw-muted gw-directions-info" });
  const reset = h("button", { text: "Reset sliders", onclick: errors.guard("reset", () =>
    save({ direction_offsets: (model.get("direction_offsets") || []).map(() => 0) })) });
  const recompute = h("button", { text: "Recompute directions", class: "gw-directions-refresh",
    title: "principal directions of the generator's first layer, from the current weights",
    onclick: errors.guard("directions", () => model.send({ type: "directions_refresh" })) });

  // Real images.
  const real = img("gw-real-images", "real images to project");
  const realPick = h("div", { class: "gw-pick" }, [real]);
  const markA = h("div", { class: "gw-pick-mark", "data-which": "A", text: "1" });
  const markB = h("div", { class: "gw-pick-mark", "data-which": "B", text: "2" });
  realPick.append(markA, markB);
  const projection = img("gw-real-projection", "the picked images over their projections");
  const realFrames = img("gw-real-frames", "interpolation between the two projections");
  const realInfo = h("div", { class: "gw-muted gw-real-info" });
  let nextReal: 0 | 1 = 0;

  // Neighbours.
  const neighbours = img("gw-neighbours", "candidate samples over their nearest training images");
  const neighbourInfo = h("div", { class: "gw-muted gw-neighbour-info" });
  const findNeighbours = h("button", { text: "Find neighbours", class: "gw-neighbours-refresh",
    onclick: errors.guard("neighbours", () => model.send({ type: "neighbours_refresh" })) });

  // Arithmetic.
  const mode = h("select", { class: "gw-arith-mode" }, [
    h("option", { value: "plus", text: "add (+)" }), h("option", { value: "minus", text: "subtract (−)" }),
    h("option", { value: "base", text: "base" })]);
  const arithGrid = img("gw-arith-candidates", "candidate samples: click to select");
  const arithStrip = img("gw-arith-strip", "from the base to base + mean(+) − mean(−)");
  const arithInfo = h("div", { class: "gw-muted gw-arith-info" });
  const clear = h("button", { text: "Clear", onclick: errors.guard("clear", () =>
    save({ arith_plus: [], arith_minus: [], arith_base: [] })) });

  el.append(status, failure);
  if (own) {
    el.append(title("Candidate samples from the prior: click one to set A"),
      h("div", { class: "gw-row" }, [newCandidates,
        h("label", { title: "redraw at every sample snapshot; unchecked: frozen" }, [follow, " follow training"]),
        h("label", { title: "interpolation between the real images' codes" }, ["method ", method]),
        h("label", {}, ["frames ", frames])]),
      candidatePick);
  }
  el.append(
    title("Semantic directions (GANSpace): move sample A"),
    h("div", { class: "gw-row" }, [recompute, reset, dirInfo]),
    sliders, h("div", { class: "gw-row" }, [moved]),
    h("div", { class: "gw-muted", text: "−3σ … +3σ along the chosen direction" }), strip,
    title("Real images into z: pick two"), realPick, projection, realFrames, realInfo,
    title("Nearest training images of the candidates (memorisation check)"),
    h("div", { class: "gw-row" }, [findNeighbours]), neighbours, neighbourInfo,
    title("Latent arithmetic: click candidates into selections"),
    h("div", { class: "gw-row" }, [h("label", {}, ["clicks select ", mode]), clear]),
    arithGrid, arithInfo, arithStrip);

  function renderSliders(): void {
    const variance: number[] = model.get("direction_variance") || [];
    const offsets: number[] = model.get("direction_offsets") || [];
    const chosen = Number(model.get("direction_index")) || 0;
    if (sliders.childElementCount !== variance.length) {
      sliders.replaceChildren(...variance.map((_, i) => {
        const input = h("input", { type: "range", min: "-3", max: "3", step: "0.1", class: "gw-direction-slider" });
        input.dataset.index = String(i);
        input.addEventListener("input", errors.guard("direction", () => {
          const now = [...(model.get("direction_offsets") || [])];
          while (now.length <= i) now.push(0);
          now[i] = Number(input.value);
          save({ direction_offsets: now });
        }));
        const radio = h("input", { type: "radio", name: `gw-strip-${model.get("run_name")}`, class: "gw-direction-pick",
          title: "show this direction in the strip" });
        radio.addEventListener("change", errors.guard("strip", () => save({ direction_index: i })));
        return h("div", { class: "gw-row gw-direction-row" }, [radio,
          h("span", { class: "gw-direction-name" }), input, h("span", { class: "gw-muted gw-direction-value" })]);
      }));
    }
    Array.from(sliders.children).forEach((row, i) => {
      const input = row.querySelector(".gw-direction-slider") as HTMLInputElement;
      const value = Number(offsets[i] ?? 0);
      if (document.activeElement !== input) input.value = String(value);
      (row.querySelector(".gw-direction-pick") as HTMLInputElement).checked = i === chosen;
      (row.querySelector(".gw-direction-name") as HTMLElement).textContent =
        `direction ${i + 1} (${(100 * Number(variance[i])).toFixed(1)}%)`;
      (row.querySelector(".gw-direction-value") as HTMLElement).textContent = `${value.toFixed(1)}σ`;
    });
    const step = Number(model.get("directions_step"));
    dirInfo.textContent = step >= 0 ? `directions of the weights at step ${step}` : "";
    el.dataset.directions = String(variance.length);
  }

  function placeMark(mark: HTMLElement, index: number, count: number): void {
    mark.hidden = index < 0 || index >= count;
    if (mark.hidden) return;
    Object.assign(mark.style, { left: `${(index / count) * 100}%`, top: "0", width: `${100 / count}%`, height: "100%" });
  }

  function render(): void {
    const busy = String(model.get("latent_busy") || "");
    status.textContent = busy ? `computing ${busy}…` : "";
    failure.textContent = String(model.get("latent_error") || "");
    renderSliders();
    const count = Number(model.get("real_count")) || 0;
    placeMark(markA, Number(model.get("real_start")), count);
    placeMark(markB, Number(model.get("real_end")), count);
    const errs: number[] = model.get("real_errors") || [];
    const pstep = Number(model.get("projection_step"));
    realInfo.textContent = errs.length
      ? `projection error (pixel MSE): ${errs.map((e) => e.toFixed(4)).join(", ")} · weights at step ${pstep}` : "";
    el.dataset.projections = String(errs.length);
    const distances: number[] = model.get("neighbour_distances") || [];
    const rate = Number(model.get("copy_rate"));
    neighbourInfo.textContent = distances.length
      ? `distances (${model.get("neighbour_space")}): ${distances.map((d) => d.toFixed(2)).join(", ")}` +
        (rate >= 0 ? ` · copy rate ${(100 * rate).toFixed(1)}%` : "") : "";
    el.dataset.neighbours = String(distances.length);
    const show = (name: string) => (model.get(name) || []).map((i: number) => i + 1).join(", ") || "none";
    arithInfo.textContent = `+ ${show("arith_plus")} · − ${show("arith_minus")} · base ${show("arith_base")}`;
    const width = `${Number(model.get("grid_width")) || 320}px`;
    arithGrid.style.width = width;
    if (own) {
      candidates.style.width = width;
      placeCell(markCandidate, Number(model.get("start_index")), Number(model.get("candidate_count")) || 0,
        Number(model.get("candidate_columns")) || 1);
      follow.checked = Boolean(model.get("explorer_auto"));
      method.value = String(model.get("method"));
      if (document.activeElement !== frames) frames.value = String(model.get("frames"));
    }
  }

  candidates.addEventListener("click", errors.guard("candidate pick", (event: MouseEvent) => {
    const count = Number(model.get("candidate_count")) || 0;
    const index = cellAt(candidates, event, count, Number(model.get("candidate_columns")) || 1);
    if (index >= 0) save({ start_index: index });
  }));
  follow.addEventListener("change", errors.guard("follow", () => save({ explorer_auto: follow.checked })));
  method.addEventListener("change", errors.guard("method", () => save({ method: method.value })));
  frames.addEventListener("change", errors.guard("frames", () => {
    const n = Math.round(Number(frames.value));
    if (Number.isFinite(n) && n >= 2 && n <= 32) save({ frames: n });
    else frames.value = String(model.get("frames"));
  }));

  real.addEventListener("click", errors.guard("real pick", (event: MouseEvent) => {
    const count = Number(model.get("real_count")) || 0;
    const index = cellAt(real, event, count, count);
    if (index < 0) return;
    save(nextReal === 0 ? { real_start: index } : { real_end: index });
    nextReal = nextReal === 0 ? 1 : 0;
  }));
  arithGrid.addEventListener("click", errors.guard("arith pick", (event: MouseEvent) => {
    const count = Number(model.get("candidate_count")) || 0;
    const index = cellAt(arithGrid, event, count, Number(model.get("candidate_columns")) || 1);
    if (index < 0) return;
    const trait = PICK_TRAIT[mode.value as Pick];
    const now: number[] = [...(model.get(trait) || [])];
    const at = now.indexOf(index);
    if (at >= 0) now.splice(at, 1); else now.push(index);
    save({ [trait]: now });
  }));

  const images: [HTMLImageElement, string][] = [[moved, "direction_moved_png"], [strip, "direction_strip_png"],
    [real, "real_png"], [projection, "real_projection_png"], [realFrames, "real_frames_png"],
    [neighbours, "neighbours_png"], [arithGrid, "candidates_png"], [arithStrip, "arith_png"],
    ...(own ? [[candidates, "candidates_png"] as [HTMLImageElement, string]] : [])];
  for (const [node, trait] of images) {
    subs.on(`change:${trait}`, errors.guard(trait, () => setImageBytes(node, model.get(trait))));
    setImageBytes(node, model.get(trait));
  }
  for (const name of ["latent_busy", "latent_error", "direction_variance",
    "direction_offsets", "direction_index", "directions_step", "real_start", "real_end", "real_errors",
    "projection_step", "neighbour_distances", "copy_rate", "arith_plus", "arith_minus", "arith_base", "grid_width",
    "start_index", "candidate_count", "candidate_columns", "explorer_auto", "method", "frames"]) {
    subs.on(`change:${name}`, errors.guard("latent space", render));
  }
  render();
  return () => {
    subs.dispose();
    for (const [node] of images) revokeImage(node);
  };
}
