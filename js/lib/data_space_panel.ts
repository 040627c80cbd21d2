// The game in data space (GAN Lab's view) on a <canvas>: D's output as a heatmap over the plane,
// real points, generated points, G's image of a regular latent grid as a warped mesh, arrows for
// G's gradient on its samples, and the modes' high-quality circles. Every array arrives as
// Float32 bytes traits (binary buffers) that the flusher writes together; one redraw per frame.
import { type Cleanup, ErrorArea, float32, h, type Model, Subscriptions } from "./util";

const LAYERS: [string, string][] = [["heatmap", "D(x)"], ["real", "real"], ["fake", "generated"],
  ["mesh", "latent mesh"], ["arrows", "G's gradient"], ["modes", "modes"]];
const FRAME_TRAITS = ["space_heatmap", "space_fake", "space_mesh", "space_gradients", "space_real",
  "space_modes", "space_bounds", "space_value_range", "space_layers", "space_frames"];

// purple (D = 0, "fake") -> white (0.5) -> green (D = 1, "real"); same ramp as data_space.py
const PURPLE = [167, 120, 200];
const WHITE = [247, 247, 247];
const GREEN = [110, 190, 120];

function ramp(v: number, out: Uint8ClampedArray, at: number): void {
  const t = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0.5));
  const [a, b, u] = t < 0.5 ? [PURPLE, WHITE, t * 2] : [WHITE, GREEN, t * 2 - 1];
  out[at] = a[0] + (b[0] - a[0]) * u;
  out[at + 1] = a[1] + (b[1] - a[1]) * u;
  out[at + 2] = a[2] + (b[2] - a[2]) * u;
  out[at + 3] = 255;
}

export function mountDataSpacePanel(model: Model, el: HTMLElement, errors: ErrorArea): Cleanup {
  const subs = new Subscriptions(model);
  const canvas = h("canvas", { class: "gw-space-canvas" });
  const info = h("span", { class: "gw-muted gw-space-info" });
  const coverage = h("span", { class: "gw-space-coverage" });
  const legend = h("div", { class: "gw-muted gw-space-legend" });
  const toggles = LAYERS.map(([name, label]) => {
    const box = h("input", { type: "checkbox", "data-layer": name });
    box.addEventListener("change", errors.guard("layers", () => {
      const on = new Set<string>(model.get("space_layers") || []);
      if (box.checked) on.add(name);
      else on.delete(name);
      model.set("space_layers", LAYERS.map(([n]) => n).filter((n) => on.has(n)));
      model.save_changes();
    }));
    return [name, box, h("label", {}, [box, ` ${label}`])] as const;
  });
  // How much of the time the frames may take while training (`space_duty`): the default keeps
  // training at full speed (a frame every few seconds on a small CPU); "smooth" animates.
  const pace = h("select", { class: "gw-space-pace", title: "share of the time the frames may take" }, [
    h("option", { value: "default" }, ["frames: training first"]),
    h("option", { value: "0.25" }, ["frames: smooth (training slower)"]),
  ]);
  const defaultDuty = Number(model.get("space_duty")) || 0.004;
  if (defaultDuty >= 0.25) pace.value = "0.25";
  pace.addEventListener("change", errors.guard("pace", () => {
    model.set("space_duty", pace.value === "default" ? defaultDuty : Number(pace.value));
    model.save_changes();
  }));
  el.append(
    h("div", { class: "gw-row" }, [info, coverage]),
    h("div", { class: "gw-row gw-space-layers" }, [...toggles.map(([, , label]) => label), pace]),
    canvas, legend,
  );

  const heat = document.createElement("canvas");
  let frames = 0; // frames drawn
  const arrivals: number[] = []; // times of the last frames, for the rate shown
  let pending = 0;

  function size(): number {
    const width = el.clientWidth > 0 ? el.clientWidth - 16 : 360;
    return Math.max(200, Math.min(Number(model.get("space_size")) || 420, width));
  }

  function draw(): void {
    pending = 0;
    const css = size();
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(css * ratio)) {
      canvas.width = Math.round(css * ratio);
      canvas.height = Math.round(css * ratio);
      canvas.style.width = `${css}px`;
      canvas.style.height = `${css}px`;
    }
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, css, css);
    const [x0, x1, y0, y1] = (model.get("space_bounds") || [-1, 1, -1, 1]).map(Number);
    const px = (x: number) => ((x - x0) / (x1 - x0)) * css;
    const py = (y: number) => css - ((y - y0) / (y1 - y0)) * css;
    const layers = new Set<string>(model.get("space_layers") || []);

    // D over the plane: one pixel per cell in an offscreen canvas, scaled up smoothly.
    const values = float32(model.get("space_heatmap"));
    const res = Number(model.get("space_resolution")) || 0;
    if (layers.has("heatmap") && res > 0 && values.length === res * res) {
      const [lo, hi] = (model.get("space_value_range") || [0, 1]).map(Number);
      heat.width = res;
      heat.height = res;
      const hctx = heat.getContext("2d")!;
      const image = hctx.createImageData(res, res);
      for (let r = 0; r < res; r++) {
        const row = res - 1 - r; // row 0 of the data is the bottom of the picture
        for (let c = 0; c < res; c++) {
          ramp((values[r * res + c] - lo) / (hi - lo || 1), image.data, (row * res + c) * 4);
        }
      }
      hctx.putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heat, 0, 0, css, css);
    } else {
      ctx.fillStyle = "#fafafa";
      ctx.fillRect(0, 0, css, css);
    }
    ctx.strokeStyle = "#bbb";
    ctx.strokeRect(0.5, 0.5, css - 1, css - 1);

    const modes = float32(model.get("space_modes"));
    const radius = Number(model.get("space_mode_radius")) || 0;
    if (layers.has("modes") && modes.length && radius > 0) {
      ctx.strokeStyle = "rgba(60, 60, 60, 0.6)";
      ctx.setLineDash([3, 3]);
      const r = Math.max(2, (radius / (x1 - x0)) * css);
      for (let i = 0; i + 1 < modes.length; i += 2) {
        ctx.beginPath();
        ctx.arc(px(modes[i]), py(modes[i + 1]), r, 0, 2 * Math.PI);
        ctx.stroke();
      }
      ctx.setLineDash([]);
    }
    const dots = (points: Float32Array, colour: string, r: number) => {
      ctx.fillStyle = colour;
      for (let i = 0; i + 1 < points.length; i += 2) {
        ctx.beginPath();
        ctx.arc(px(points[i]), py(points[i + 1]), r, 0, 2 * Math.PI);
        ctx.fill();
      }
    };
    if (layers.has("real")) dots(float32(model.get("space_real")), "rgba(0, 110, 40, 0.75)", 1.6);

    const mesh = float32(model.get("space_mesh"));
    const m = Number(model.get("mesh_size")) || 0;
    if (layers.has("mesh") && m > 1 && mesh.length === m * m * 2) {
      ctx.strokeStyle = "rgba(110, 60, 160, 0.45)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < m; j++) { // row i of the latent grid
          const k = 2 * (i * m + j);
          if (j === 0) ctx.moveTo(px(mesh[k]), py(mesh[k + 1]));
          else ctx.lineTo(px(mesh[k]), py(mesh[k + 1]));
        }
        for (let j = 0; j < m; j++) { // column i
          const k = 2 * (j * m + i);
          if (j === 0) ctx.moveTo(px(mesh[k]), py(mesh[k + 1]));
          else ctx.lineTo(px(mesh[k]), py(mesh[k + 1]));
        }
      }
      ctx.stroke();
    }
    const fake = float32(model.get("space_fake"));
    if (layers.has("fake")) dots(fake, "rgba(120, 40, 170, 0.85)", 2);

    const grads = float32(model.get("space_gradients"));
    if (layers.has("arrows") && grads.length && fake.length >= grads.length) {
      let longest = 0;
      for (let i = 0; i + 1 < grads.length; i += 2) longest = Math.max(longest, Math.hypot(grads[i], grads[i + 1]));
      const scale = longest > 0 ? (0.06 * css) / longest : 0;
      ctx.strokeStyle = "rgba(30, 30, 30, 0.7)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let i = 0; i + 1 < grads.length; i += 2) {
        const sx = px(fake[i]);
        const sy = py(fake[i + 1]);
        const ex = sx + grads[i] * scale;
        const ey = sy - grads[i + 1] * scale;
        ctx.moveTo(sx, sy);
        ctx.lineTo(ex, ey);
        const angle = Math.atan2(ey - sy, ex - sx);
        if (Math.hypot(ex - sx, ey - sy) > 3) {
          ctx.moveTo(ex, ey);
          ctx.lineTo(ex - 3 * Math.cos(angle - 0.5), ey - 3 * Math.sin(angle - 0.5));
          ctx.moveTo(ex, ey);
          ctx.lineTo(ex - 3 * Math.cos(angle + 0.5), ey - 3 * Math.sin(angle + 0.5));
        }
      }
      ctx.stroke();
    }
    frames += 1;
    el.dataset.drawn = String(frames);
  }

  function schedule(): void {
    if (!pending) pending = window.requestAnimationFrame(errors.guard("draw", draw));
  }

  function frameArrived(): void {
    const now = performance.now();
    arrivals.push(now);
    while (arrivals.length > 1 && now - arrivals[0] > 3000) arrivals.shift();
    renderInfo();
  }

  function renderInfo(): void {
    const step = Number(model.get("space_step"));
    const count = Number(model.get("space_frames")) || 0;
    const span = (arrivals[arrivals.length - 1] - arrivals[0]) / 1000;
    const rate = arrivals.length > 1 && span > 0 ? (arrivals.length - 1) / span : 0;
    info.textContent = step >= 0 ? `weights at step ${step} · ${rate.toFixed(1)} frames/s` : "no frame yet";
    el.dataset.step = String(step);
    el.dataset.frames = String(count);
    el.dataset.fps = rate.toFixed(2);
  }

  function renderCoverage(): void {
    const c = model.get("coverage") || {};
    if (typeof c.modes_covered === "number") {
      coverage.textContent = `modes covered ${c.modes_covered}/${c.modes_total} · ` +
        `high quality ${(100 * c.high_quality).toFixed(0)}% (step ${c.step})`;
      el.dataset.modes = String(c.modes_covered);
    } else {
      coverage.textContent = "";
    }
  }

  function renderControls(): void {
    const on = new Set<string>(model.get("space_layers") || []);
    for (const [name, box] of toggles) box.checked = on.has(name);
    const kind = model.get("space_heatmap_kind");
    legend.textContent = kind === "critic"
      ? "background: critic value (purple low = judged fake, green high = judged real)"
      : "background: D(x), the probability of real (purple 0 = fake, white 0.5, green 1 = real)";
  }

  if (!model.get("data_space_enabled")) {
    el.replaceChildren(h("div", { class: "gw-muted",
      text: "The data-space view needs a run on 2-D points (ring, grid, spiral, moons, N x 2 tensor)." }));
    return () => subs.dispose();
  }
  for (const name of FRAME_TRAITS) subs.on(`change:${name}`, errors.guard("data space", schedule));
  subs.on("change:space_frames", errors.guard("data space info", frameArrived));
  subs.on("change:space_step", errors.guard("data space info", renderInfo));
  subs.on("change:coverage", errors.guard("coverage", renderCoverage));
  subs.on("change:space_layers", errors.guard("layers", renderControls));
  subs.on("change:space_heatmap_kind", errors.guard("legend", renderControls));
  const resize = new ResizeObserver(errors.guard("resize", schedule));
  resize.observe(el);
  subs.add(() => resize.disconnect());
  renderControls();
  renderCoverage();
  renderInfo();
  schedule();
  return () => {
    subs.dispose();
    if (pending) window.cancelAnimationFrame(pending);
  };
}
