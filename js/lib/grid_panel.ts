// The fixed-noise sample grid: PNG bytes in `grid_png`, a slider over the snapshot history and
// "follow latest". The Python side answers a moved slider by sending that snapshot's PNG.
import { type Cleanup, ErrorArea, h, type Model, revokeImage, setImageBytes, Subscriptions } from "./util";

export function mountGridPanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const img = h("img", { class: "gw-pixelated gw-grid-image", alt: "fixed-noise samples" });
  const empty = h("div", { class: "gw-muted", text: "no snapshot yet" });
  const slider = h("input", { type: "range", min: "0", max: "0", step: "1", class: "gw-grid-slider" });
  const follow = h("input", { type: "checkbox" });
  const label = h("span", { class: "gw-muted gw-grid-label" });
  el.append(
    h("div", { class: "gw-row" }, [slider, h("label", {}, [follow, " follow latest"])]),
    label, img, empty,
  );

  function render(): void {
    const count = Number(model.get("snapshot_count")) || 0;
    const index = Number(model.get("snapshot_index")) || 0;
    const step = Number(model.get("snapshot_step"));
    slider.max = String(Math.max(0, count - 1));
    if (document.activeElement !== slider) slider.value = String(index);
    slider.disabled = count <= 1;
    follow.checked = Boolean(model.get("follow_latest"));
    label.textContent = count ? `step ${step} · snapshot ${index + 1} of ${count}` : "";
    el.dataset.step = String(step);
    el.dataset.count = String(count);
    img.style.width = `${Number(model.get("grid_width")) || 320}px`;
  }

  function showImage(): void {
    setImageBytes(img, model.get("grid_png"));
    empty.hidden = !img.hidden;
  }

  slider.addEventListener("input", errors.guard("slider", () => {
    const count = Number(model.get("snapshot_count")) || 0;
    const index = Number(slider.value);
    model.set("snapshot_index", index);
    model.set("follow_latest", index >= count - 1);
    model.save_changes();
    render();
  }));
  follow.addEventListener("change", errors.guard("follow", () => {
    model.set("follow_latest", follow.checked);
    model.save_changes();
  }));
  for (const name of ["snapshot_count", "snapshot_index", "snapshot_step", "follow_latest", "grid_width"]) {
    subs.on(`change:${name}`, errors.guard("grid", render));
  }
  subs.on("change:grid_png", errors.guard("grid image", showImage));
  render();
  showImage();
  return () => {
    subs.dispose();
    revokeImage(img);
  };
}
