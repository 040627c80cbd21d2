// The VAE's image views, computed in Python on copies of the encoder and decoder:
// reconstructions (held-out inputs above their outputs; a click on an input makes it an
// interpolation end), the interpolation between two real images through the encoder, and the
// traversal of each latent dimension around image A's code.
import { type Cleanup, ErrorArea, h, type Model, revokeImage, setImageBytes, Subscriptions } from "./util";

export interface ReconstructionOptions {
  /** Called with the index of a clicked input image. */
  onPick?: (index: number) => void;
}

function stepInfo(model: Model): string {
  const step = Number(model.get("views_step"));
  return model.get("views_busy") ? "computing…" : step >= 0 ? `weights at step ${step}` : "";
}

export function mountReconstructionPanel(model: Model, el: HTMLElement, errors: ErrorArea,
  options: ReconstructionOptions = {}): Cleanup {
  const subs = new Subscriptions(model);
  const img = h("img", { class: "gw-pixelated gw-recon-image", alt: "inputs and reconstructions" });
  const info = h("span", { class: "gw-muted gw-views-info" });
  const count = h("input", { type: "number", min: "1", max: "32", step: "1" });
  el.append(h("div", { class: "gw-row" }, [h("label", {}, ["images ", count]), info,
    h("button", { text: "Refresh", title: "recompute with the current weights",
      onclick: errors.guard("refresh", () => model.send({ type: "views_refresh" })) })]),
  img, h("div", { class: "gw-muted", text: "top: held-out inputs (click one to interpolate from / to it); bottom: reconstructions" }));

  function render(): void {
    if (document.activeElement !== count) count.value = String(model.get("recon_count"));
    info.textContent = stepInfo(model);
    el.dataset.step = String(model.get("views_step"));
    img.style.width = `${Math.min(560, 64 * (Number(model.get("recon_count")) || 8))}px`;
  }
  count.addEventListener("change", errors.guard("count", () => {
    const n = Math.round(Number(count.value));
    if (Number.isFinite(n) && n >= 1 && n <= 32) {
      model.set("recon_count", n);
      model.save_changes();
    } else count.value = String(model.get("recon_count"));
  }));
  img.addEventListener("click", errors.guard("pick", (event: MouseEvent) => {
    const rect = img.getBoundingClientRect();
    const n = Number(model.get("recon_count")) || 1;
    if (event.clientY - rect.top > rect.height / 2) return; // the reconstructions row
    const index = Math.min(n - 1, Math.floor(((event.clientX - rect.left) / rect.width) * n));
    if (index >= 0) options.onPick?.(index);
  }));
  for (const name of ["recon_count", "views_step", "views_busy"]) {
    subs.on(`change:${name}`, errors.guard("reconstructions", render));
  }
  subs.on("change:recon_png", errors.guard("reconstructions", () => setImageBytes(img, model.get("recon_png"))));
  setImageBytes(img, model.get("recon_png"));
  render();
  return () => {
    subs.dispose();
    revokeImage(img);
  };
}

export function mountInterpolationPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const img = h("img", { class: "gw-pixelated gw-interp-image", alt: "interpolation through the encoder" });
  const ends = h("span", { class: "gw-muted gw-interp-ends" });
  const method = h("select", {}, [h("option", { value: "lerp", text: "lerp" }),
    h("option", { value: "slerp", text: "slerp" })]);
  const frames = h("input", { type: "number", min: "2", max: "32", step: "1" });
  el.append(h("div", { class: "gw-row" }, [ends, h("label", {}, ["method ", method]),
    h("label", {}, ["frames ", frames])]), h("div", { class: "gw-strip" }, [img]));

  function render(): void {
    ends.textContent = `A = image ${model.get("interp_start")}, B = image ${model.get("interp_end")} (ends: the real images)`;
    method.value = model.get("interp_method");
    if (document.activeElement !== frames) frames.value = String(model.get("interp_frames"));
    el.dataset.start = String(model.get("interp_start"));
    el.dataset.end = String(model.get("interp_end"));
  }
  method.addEventListener("change", errors.guard("method", () => {
    model.set("interp_method", method.value);
    model.save_changes();
  }));
  frames.addEventListener("change", errors.guard("frames", () => {
    const n = Math.round(Number(frames.value));
    if (Number.isFinite(n) && n >= 2 && n <= 32) {
      model.set("interp_frames", n);
      model.save_changes();
    } else frames.value = String(model.get("interp_frames"));
  }));
  for (const name of ["interp_start", "interp_end", "interp_method", "interp_frames"]) {
    subs.on(`change:${name}`, errors.guard("interpolation", render));
  }
  subs.on("change:interp_png", errors.guard("interpolation", () => setImageBytes(img, model.get("interp_png"))));
  setImageBytes(img, model.get("interp_png"));
  render();
  return () => {
    subs.dispose();
    revokeImage(img);
  };
}

export function mountTraversalPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const img = h("img", { class: "gw-pixelated gw-traversal-image", alt: "latent traversal" });
  const labels = h("div", { class: "gw-traversal-labels" });
  const header = h("div", { class: "gw-muted gw-traversal-values" });
  el.append(header, h("div", { class: "gw-traversal" }, [labels, img]));

  function render(): void {
    const dims = Number(model.get("traversal_dims")) || 0;
    const values: number[] = model.get("traversal_values") || [];
    header.textContent = `each row: one latent dimension of image A's code set to ${values.join(", ")}`;
    labels.style.gridTemplateRows = `repeat(${Math.max(1, dims)}, 1fr)`;
    labels.replaceChildren(...Array.from({ length: dims }, (_, d) => h("span", { text: `z${d}` })));
    img.style.width = `${Math.min(420, 44 * Math.max(1, values.length))}px`;
    el.dataset.dims = String(dims);
  }
  for (const name of ["traversal_dims", "traversal_values"]) {
    subs.on(`change:${name}`, errors.guard("traversal", render));
  }
  subs.on("change:traversal_png", errors.guard("traversal", () => setImageBytes(img, model.get("traversal_png"))));
  setImageBytes(img, model.get("traversal_png"));
  render();
  return () => {
    subs.dispose();
    revokeImage(img);
  };
}
