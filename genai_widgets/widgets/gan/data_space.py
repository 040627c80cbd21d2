"""`DataSpace`: the GAN game in data space for runs on 2-D points (GAN Lab's view, on the real
engine): real points, generated points, the discriminator's output as a heatmap over the plane,
the generator's image of a regular latent grid as a warped mesh, and arrows for the generator's
gradient on its samples.

Frames are computed by the run's flusher (at most `space_rate_hz` a second, at most
`space_duty` of the wall clock, and only when the run has stepped or a setting changed) on copies of G and D taken between two steps, inside
`foreground_torch()`; the arrays travel as Float32 bytes traits (binary buffers), so a reloaded
page draws the latest frame at once."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
import traitlets as t
from PIL import Image, ImageDraw

from ...engine.evaluators import ModelCopies
from ...engine.threads import foreground_torch
from ...families.gan.data_space import data_space_frame, latent_mesh, plane_grid, view_bounds
from .. import static_png
from .._base import Panel, RunWidget, bundle
from ..controls import ControlsPanel
from ..flusher import Pacer, Tick

LAYERS = ("heatmap", "real", "fake", "mesh", "arrows", "modes")
N_REAL = 1000  # real points drawn (a fixed random subset)
# The frames' default share of the wall clock: below the other views' VIEW_DUTY, as a frame
# keeps every core busy (measured on the ring, 2 cores: 0.97 of headless at 0.01, 1.00 at 0.002).
SPACE_DUTY = 0.004
_INPUTS = ("space_resolution", "mesh_size", "n_fake", "n_arrows", "space_layers")


def makes_points(run: Any) -> bool:
    """Whether the run's generator makes 2-D points (the data-space view applies)."""
    source = getattr(run, "data_source", None)
    if source is not None and getattr(source, "kind", None) is not None:
        return source.kind == "points" and tuple(source.sample_shape) == (2,)
    if not hasattr(run, "_step_lock"):  # not an engine Run: no model copies to draw from
        return False
    try:
        out = run.sample(z=run.random_z(1))
    except Exception:
        return False
    return out.dim() == 2 and out.shape[1] == 2


def _real_points(run: Any) -> torch.Tensor | None:
    source = getattr(run, "data_source", None)
    if source is None:
        return None
    tensor = getattr(source, "tensor", None)
    if tensor is None:
        try:
            return source.first_batch(min(N_REAL, 256)).reshape(-1, 2).float()
        except Exception:
            return None
    gen = torch.Generator().manual_seed(0)
    index = torch.randperm(len(tensor), generator=gen)[:N_REAL]
    return tensor[index].reshape(-1, 2).float()


def _f32(array: np.ndarray | torch.Tensor | None) -> bytes:
    if array is None:
        return b""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return np.ascontiguousarray(array, dtype=np.float32).tobytes()


class DataSpacePanel(Panel):
    """Traits and flush logic of the data-space view (used by DataSpace and Dashboard)."""

    data_space_enabled = t.Bool(False).tag(sync=True)
    """bool: the run makes 2-D points, so the view is drawn (False: the panel stays empty)."""

    space_bounds = t.List(t.Float(), default_value=[-1.0, 1.0, -1.0, 1.0]).tag(sync=True)
    """list[float]: the plane shown, [x0, x1, y0, y1] (a square around the real data)."""

    space_resolution = t.Int(48, min=8, max=160).tag(sync=True)
    """int: heatmap cells per side (default 48)."""

    space_heatmap = t.Bytes(b"").tag(sync=True)
    """bytes: float32 D over the cell centres, space_resolution**2 values, row-major, row 0 at y0."""

    space_value_range = t.List(t.Float(), default_value=[0.0, 1.0]).tag(sync=True)
    """list[float]: [low, high] of the heatmap's colour scale: [0, 1] for probabilities,
    [-m, m] for critic values."""

    space_heatmap_kind = t.Unicode("probability").tag(sync=True)
    """str: "probability" (sigmoid of D's logit) or "critic" (wgan-gp, hinge: raw value)."""

    space_real = t.Bytes(b"").tag(sync=True)
    """bytes: float32 (x, y) pairs of up to 1000 real points (a fixed subset)."""

    space_modes = t.Bytes(b"").tag(sync=True)
    """bytes: float32 (x, y) mode centres for "ring" / "grid" (b"" otherwise)."""

    space_mode_radius = t.Float(0.0).tag(sync=True)
    """float: 3 standard deviations of the modes: inside it a sample is high quality."""

    space_fake = t.Bytes(b"").tag(sync=True)
    """bytes: float32 (x, y) of G(z) for `n_fake` fixed latent vectors."""

    space_mesh = t.Bytes(b"").tag(sync=True)
    """bytes: float32 (x, y) of G over a mesh_size x mesh_size latent grid, row-major."""

    space_gradients = t.Bytes(b"").tag(sync=True)
    """bytes: float32 (dx, dy) per arrow: minus the gradient of G's loss at the first n_arrows
    fake points (where G's update pushes them); b"" when the "arrows" layer is off."""

    mesh_size = t.Int(15, min=2, max=41).tag(sync=True)
    """int: latent grid lines per direction (default 15), over [-2, 2] in z[0] and z[1]."""

    n_fake = t.Int(500, min=1, max=5000).tag(sync=True)
    """int: generated points drawn (default 500, fixed noise)."""

    n_arrows = t.Int(100, min=0, max=1000).tag(sync=True)
    """int: gradient arrows drawn, on the first generated points (default 100)."""

    space_layers = t.List(t.Unicode(), default_value=list(LAYERS)).tag(sync=True)
    """list[str]: layers drawn: "heatmap", "real", "fake", "mesh", "arrows", "modes"."""

    space_size = t.Int(420, min=160, max=2000).tag(sync=True)
    """int: side of the drawing in CSS pixels (default 420; narrower when the panel is)."""

    space_rate_hz = t.Float(10.0, min=0.5, max=30.0).tag(sync=True)
    """float: most frames computed per second (default 10; the flusher ticks at most 10 Hz)."""

    space_duty = t.Float(SPACE_DUTY, min=0.001, max=0.5).tag(sync=True)
    """float: share of the wall clock the frames may take while training (default 0.004: a
    frame takes both cores of a small CPU, so this keeps training at >= 0.99 of its speed; on a
    GPU that is several frames a second, on a 2-core CPU one every few seconds). Raise it (the
    panel's "frames: smooth" sets 0.25) for a smooth animation at the cost of training speed;
    changing a setting draws a new frame at once whatever the pace."""

    space_step = t.Int(-1).tag(sync=True)
    """int: training step of the weights of the frame shown (-1: none yet)."""

    space_frames = t.Int(0).tag(sync=True)
    """int: frames computed so far (the browser counts updates with it)."""

    coverage = t.Dict().tag(sync=True)
    """dict: the latest mode coverage {"step", "modes_covered", "modes_total", "high_quality"}
    ({} when the data has no known modes or none was measured yet)."""

    def _init_panel(self, run: Any) -> None:
        self._space_lock = threading.Lock()
        self._space_dirty = True
        self._space_pacer = Pacer()
        self._space_copies: ModelCopies | None = None
        self._space_eval_cursor = 0
        enabled = makes_points(run)
        self.data_space_enabled = enabled
        if not enabled:
            return
        real = _real_points(run)
        if real is None:
            with foreground_torch():
                real = run.sample(N_REAL).reshape(-1, 2)
            self.space_layers = [layer for layer in self.space_layers if layer != "real"]
        else:
            self.space_real = _f32(real)
        self.space_bounds = list(view_bounds(real))
        source = getattr(run, "data_source", None)
        modes = getattr(source, "modes", None)
        if modes is not None:
            self.space_modes = _f32(modes)
            self.space_mode_radius = 3.0 * float(source.mode_std)
        self._space_fake_seed = int(getattr(getattr(run, "config", None), "seed", 0)) + 5
        # Now, not at the first tick: a flusher already running for this run may see no change.
        self._space_update_coverage(run)
        self.observe(self._space_request, names=list(_INPUTS))

    def _space_request(self, _change: Any = None) -> None:
        with self._space_lock:
            self._space_dirty = True

    def _flush_panel(self, tick: Tick) -> None:
        if not self.data_space_enabled:
            return
        run = tick.run
        if tick.changed:
            self._space_update_coverage(run)
        pacer = self._space_pacer
        pacer.min_interval, pacer.duty = 1.0 / self.space_rate_hz, self.space_duty
        with self._space_lock:
            dirty = self._space_dirty
        if dirty:  # a setting changed: at once, at most space_rate_hz frames a second
            if tick.time - pacer.last < pacer.min_interval and not tick.ended:
                return
        elif tick.step == self.space_step or not (pacer.due(tick.time) or tick.ended):
            return
        with self._space_lock:
            self._space_dirty = False
        with pacer.timed(tick):
            self.compute_frame(run)

    def compute_frame(self, run: Any) -> None:
        """Compute and publish one frame from the run's current weights (flusher thread)."""
        if self._space_copies is None:
            # The game as it is played: D against the generator being trained (not its average).
            self._space_copies = ModelCopies(run, live=True)
        copies = self._space_copies
        with foreground_torch():
            step = copies.refresh()
            assert copies.generator is not None and copies.discriminator is not None
            frame = data_space_frame(
                copies.generator,
                copies.discriminator,
                copies.loss,
                grid=plane_grid(tuple(self.space_bounds), self.space_resolution),
                mesh_z=latent_mesh(copies.latent_dim, self.mesh_size),
                fake_z=run.random_z(self.n_fake, seed=self._space_fake_seed),
                n_arrows=self.n_arrows if "arrows" in self.space_layers else 0,
                latent_shape=copies.latent_shape,
            )
        self.space_heatmap_kind = "probability" if copies.loss.probabilities else "critic"
        self.space_value_range = [float(v) for v in frame.value_range]
        self.space_heatmap = _f32(frame.heatmap)
        self.space_mesh = _f32(frame.mesh)
        self.space_fake = _f32(frame.fake)
        self.space_gradients = _f32(frame.gradients)
        self.space_step = int(step)
        self.space_frames += 1

    def _space_update_coverage(self, run: Any) -> None:
        since = getattr(run, "evaluations_since", None)
        if since is None:
            return
        self._space_eval_cursor, rows = since(self._space_eval_cursor)
        covered = rows.get("modes_covered")
        if covered is None:
            return
        measured = np.isfinite(covered)  # rows of other evaluators hold NaN here
        if not measured.any():
            return
        last = int(np.flatnonzero(measured)[-1])
        modes = len(self.space_modes) // 8
        self.coverage = {
            "step": int(rows["step"][last]),
            "modes_covered": int(covered[last]),
            "modes_total": modes,
            "high_quality": float(rows["high_quality"][last]),
        }

    # ------------------------------------------------------------------ static picture
    def _space_image(self, size: int = 360) -> Image.Image:
        if not self.data_space_enabled:
            return static_png.text_line("data space: the run does not make 2-D points", size)
        x0, x1, y0, y1 = self.space_bounds
        img = Image.new("RGB", (size, size), "white")
        layers = set(self.space_layers)

        def px(points: np.ndarray) -> np.ndarray:
            out = np.empty_like(points)
            out[:, 0] = (points[:, 0] - x0) / (x1 - x0) * size
            out[:, 1] = size - (points[:, 1] - y0) / (y1 - y0) * size
            return out

        heat = np.frombuffer(self.space_heatmap, dtype=np.float32)
        res = self.space_resolution
        if "heatmap" in layers and heat.size == res * res:
            lo, hi = self.space_value_range
            v = np.clip((heat.reshape(res, res)[::-1] - lo) / max(hi - lo, 1e-12), 0, 1)
            rgb = heat_colours(v)
            img = Image.fromarray(rgb, "RGB").resize((size, size), Image.BILINEAR)
        draw = ImageDraw.Draw(img, "RGBA")
        modes = np.frombuffer(self.space_modes, dtype=np.float32).reshape(-1, 2)
        if "modes" in layers and len(modes):
            r = self.space_mode_radius / (x1 - x0) * size
            for x, y in px(modes):
                draw.ellipse([x - r, y - r, x + r, y + r], outline=(90, 90, 90, 200))
        real = np.frombuffer(self.space_real, dtype=np.float32).reshape(-1, 2)
        if "real" in layers:
            for x, y in px(real):
                draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(0, 110, 40, 200))
        mesh = np.frombuffer(self.space_mesh, dtype=np.float32).reshape(-1, 2)
        m = self.mesh_size
        if "mesh" in layers and len(mesh) == m * m:
            grid = px(mesh).reshape(m, m, 2)
            for k in range(m):
                draw.line([tuple(p) for p in grid[k]], fill=(110, 60, 160, 110), width=1)
                draw.line([tuple(p) for p in grid[:, k]], fill=(110, 60, 160, 110), width=1)
        fake = np.frombuffer(self.space_fake, dtype=np.float32).reshape(-1, 2)
        if "fake" in layers:
            for x, y in px(fake):
                draw.ellipse([x - 1.8, y - 1.8, x + 1.8, y + 1.8], fill=(120, 40, 170, 220))
        grads = np.frombuffer(self.space_gradients, dtype=np.float32).reshape(-1, 2)
        if "arrows" in layers and len(grads) and len(fake) >= len(grads):
            norms = np.linalg.norm(grads, axis=1)
            scale = 0.06 * size / max(float(norms.max()), 1e-12)
            start = px(fake[: len(grads)])
            for (x, y), (dx, dy) in zip(start, grads, strict=False):
                draw.line([x, y, x + dx * scale, y - dy * scale], fill=(40, 40, 40, 160), width=1)
        text = f"data space, step {self.space_step}"
        if self.coverage:
            c = self.coverage
            text += (
                f" | modes {c['modes_covered']}/{c['modes_total']},"
                f" high quality {100 * c['high_quality']:.0f}%"
            )
        return static_png.caption(img, text)


def heat_colours(v: np.ndarray) -> np.ndarray:
    """D's value in [0, 1] -> RGB: purple (fake, 0) through white (0.5) to green (real, 1), as
    GAN Lab colours the plane. The same ramp as js/lib/data_space_panel.ts."""
    purple = np.array([167.0, 120.0, 200.0])
    white = np.array([247.0, 247.0, 247.0])
    green = np.array([110.0, 190.0, 120.0])
    v = v[..., None]
    low = purple + (white - purple) * (v * 2)
    high = white + (green - white) * (v * 2 - 1)
    return np.where(v < 0.5, low, high).clip(0, 255).astype(np.uint8)


class DataSpace(ControlsPanel, DataSpacePanel, RunWidget):
    """The game in data space for a run on 2-D data (GAN Lab's view), with pause / resume,
    single step and slow motion.

    ``gw.DataSpace(run, space_resolution=64, mesh_size=21)``. Runs on "ring", "grid", "spiral",
    "moons" or any N x 2 tensor; for other runs the view says it does not apply."""

    _esm = bundle("data_space")

    def static_png(self) -> bytes:
        status = f"{self.run_name} | {self.status} | step {self.step}"
        return static_png.to_png(
            static_png.vstack([static_png.text_line(status, 360), self._space_image()])
        )
