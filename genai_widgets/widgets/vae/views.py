"""The VAE's image views (part of the VAEDashboard): reconstructions (held-out inputs above
their outputs), an interpolation between two real images through the encoder, and a latent
traversal of each dimension around the first image's code. One encode and one decode pass per
update, on the flusher thread, on copies of the modules taken between two steps."""

from __future__ import annotations

import threading
from typing import Any

import torch
import traitlets as t

from ...engine import images
from ...engine.threads import foreground_torch
from ...families.latent import interpolate_latents
from .. import static_png
from ..flusher import Pacer, Tick
from .latent_scatter import LivePanel

_INPUTS = (
    "recon_count",
    "interp_start",
    "interp_end",
    "interp_frames",
    "interp_method",
    "traversal_values",
    "traversal_max_dims",
)


class VAEViewsPanel(LivePanel):
    """Traits and flush logic of the reconstructions, interpolation and traversal views."""

    recon_count = t.Int(8, min=1, max=32).tag(sync=True)
    """int: held-out images reconstructed (1-32, default 8)."""

    recon_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG, inputs in the top row and their reconstructions (posterior mean, decoded) below."""

    interp_start = t.Int(0, min=0).tag(sync=True)
    """int: held-out image at the start of the interpolation (A; a click on the scatter sets it)."""

    interp_end = t.Int(1, min=0).tag(sync=True)
    """int: held-out image at the end of the interpolation (B)."""

    interp_frames = t.Int(8, min=2, max=32).tag(sync=True)
    """int: decoded frames between A and B, both codes included (2-32, default 8)."""

    interp_method = t.Enum(["lerp", "slerp"], default_value="lerp").tag(sync=True)
    """str: "lerp" (default: posterior means need not have the prior's norm) or "slerp"."""

    interp_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG strip: image A, the decoded frames from A's code to B's, image B."""

    traversal_values = t.List(t.Float(), default_value=[-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]).tag(
        sync=True
    )
    """list[float]: values each latent dimension takes in turn (columns of the traversal)."""

    traversal_max_dims = t.Int(32, min=1).tag(sync=True)
    """int: latent dimensions shown at most, from z0 (default 32)."""

    traversal_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG, one row per latent dimension: A's code with that dimension set to each value."""

    traversal_dims = t.Int(0).tag(sync=True)
    """int: rows in `traversal_png` (latent dimensions shown)."""

    views_step = t.Int(-1).tag(sync=True)
    """int: training step of the weights the views were computed with (-1: not yet)."""

    views_auto = t.Bool(True).tag(sync=True)
    """bool: recompute as training proceeds (default True); False: on a "views_refresh" message."""

    views_busy = t.Bool(False).tag(sync=True)
    """bool: the views are being computed."""

    def _init_panel(self, run: Any) -> None:
        self._views_lock = threading.Lock()
        self._views_dirty = True
        self._views_pacer = Pacer()  # following training costs at most VIEW_DUTY
        self.observe(self._views_request, names=list(_INPUTS))

    def _views_request(self, _change: Any = None) -> None:
        with self._views_lock:
            self._views_dirty = True

    def _flush_panel(self, tick: Tick) -> None:
        with self._views_lock:
            dirty, self._views_dirty = self._views_dirty, False
        self._views_pacer.min_interval = self.refresh_seconds
        due = self.views_auto and tick.step != self.views_step and self._views_pacer.due(tick.time)
        if not (dirty or due):
            return
        self.views_busy = True
        try:
            with self._views_pacer.timed(tick):
                self._compute_views(tick.run)
        finally:
            self.views_busy = False

    def _compute_views(self, run: Any) -> None:
        step = int(run.step)
        if getattr(run, "held_out", None) is None and getattr(run, "data_source", None) is None:
            self.views_step = step  # loaded without its data: no images to show
            return
        held, _ = run.held_out_images()
        n = len(held)
        count = min(self.recon_count, n)
        a = min(self.interp_start, n - 1)
        b = min(self.interp_end, n - 1)
        values = torch.tensor(list(self.traversal_values) or [0.0], dtype=torch.float32)
        dims = min(int(run.latent_dim), self.traversal_max_dims)
        inputs = torch.cat([held[:count], held[a : a + 1], held[b : b + 1]])
        with foreground_torch():
            mu, _ = run.encode(inputs)
            z_a, z_b = mu[count], mu[count + 1]
            path = interpolate_latents(z_a, z_b, self.interp_frames, self.interp_method)
            grid = z_a.repeat(dims * len(values), 1)
            for d in range(dims):
                grid[d * len(values) : (d + 1) * len(values), d] = values
            out = run.sample(z=torch.cat([mu[:count], path, grid]))
        recons = out[:count]
        frames = out[count : count + len(path)]
        traversal = out[count + len(path) :]
        self.recon_png = images.grid_png(torch.cat([held[:count], recons]), nrow=count)
        strip = torch.cat([held[a : a + 1], frames, held[b : b + 1]])
        self.interp_png = images.grid_png(strip, nrow=len(strip))
        self.traversal_png = images.grid_png(traversal, nrow=len(values))
        self.traversal_dims = dims
        self.views_step = step

    def _handle_message(self, content: dict[str, Any]) -> bool:
        kind = content.get("type")
        if kind == "views_refresh":
            self._views_request()
            return True
        return False

    def _views_image(self, width: int = 480):
        parts = []
        for png, text in (
            (self.recon_png, "held-out inputs (top) and reconstructions"),
            (self.interp_png, f"A={self.interp_start} -> B={self.interp_end} through the encoder"),
        ):
            img = static_png.png_image(png, width)
            if img is not None:
                parts.append(static_png.caption(img, text))
        if not parts:
            return static_png.text_line("VAE views: not computed yet", width, "#666")
        return static_png.vstack(parts)

    def _traversal_image(self, width: int = 300):
        img = static_png.png_image(self.traversal_png, width)
        if img is None:
            return None
        return static_png.caption(img, f"traversal of z0..z{self.traversal_dims - 1}")
