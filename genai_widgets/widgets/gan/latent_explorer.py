"""`LatentExplorer`: pick two samples, interpolate between them (lerp / slerp, N frames) and move
one latent dimension with a slider. Frames come from `run.sample` / `run.interpolate`, which use
a snapshot of the generator's weights, so training is never paused for them; they follow the
training (recomputed at each sample snapshot) unless `explorer_auto` is switched off."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import torch
import traitlets as t

from ...engine import images
from ...engine.threads import foreground_torch
from .. import static_png
from .._base import RunWidget, bundle
from ..flusher import Pacer, Tick
from ..latent_space import CandidatesPanel

_INPUTS = (
    "candidate_seed",
    "candidate_count",
    "candidate_columns",
    "start_index",
    "end_index",
    "method",
    "frames",
    "dimension",
    "dimension_value",
    "explorer_label",
)


class ExplorerPanel(CandidatesPanel):
    """Traits and flush logic of the latent explorer (used by LatentExplorer and Dashboard).
    The candidates, sample A, the method, the frames, the class and "follow training" are
    `CandidatesPanel`'s traits, shared with the latent-space views; the explorer draws the
    candidate grid."""

    _explorer_draws_candidates: ClassVar[bool] = True

    end_index = t.Int(1).tag(sync=True)
    """int: candidate used as B, the end of the interpolation (default 1)."""

    frames_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG strip of the interpolation frames from A to B."""

    frame_count = t.Int(0).tag(sync=True)
    """int: frames in `frames_png` (0 until computed)."""

    latent_dim = t.Int(0).tag(sync=True)
    """int: size of the run's latent vectors."""

    dimension = t.Int(0, min=0).tag(sync=True)
    """int: latent dimension of A moved by the traversal slider."""

    dimension_value = t.Float(0.0, min=-5.0, max=5.0).tag(sync=True)
    """float: value given to `dimension` of A for `traverse_png` (the prior's typical range is -3..3)."""

    traverse_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG of A with `dimension` set to `dimension_value`."""

    explorer_step = t.Int(-1).tag(sync=True)
    """int: training step of the weights the frames were computed with (-1: not yet)."""

    explorer_busy = t.Bool(False).tag(sync=True)
    """bool: frames are being computed."""

    def _init_panel(self, run: Any) -> None:
        self._explorer_lock = threading.Lock()
        self._explorer_dirty = True
        self._explorer_snapshots = -1
        self._explorer_pacer = Pacer()  # following training costs at most VIEW_DUTY
        self.latent_dim = int(run.latent_dim)
        self._init_candidates(run)
        self.observe(self._explorer_request, names=list(_INPUTS))

    def _explorer_request(self, _change: Any = None) -> None:
        with self._explorer_lock:
            self._explorer_dirty = True

    def _flush_panel(self, tick: Tick) -> None:
        if getattr(self, "data_space_enabled", False):  # a Dashboard of 2-D points: not shown
            return
        if not getattr(tick.run, "has_weights", True):  # a run reopened without a checkpoint
            return
        with self._explorer_lock:
            dirty, self._explorer_dirty = self._explorer_dirty, False
        if (
            self.explorer_auto
            and tick.snapshot_count != self._explorer_snapshots
            and self._explorer_pacer.due(tick.time)
        ):
            dirty = True
        if not dirty:
            return
        self._explorer_snapshots = tick.snapshot_count
        self.explorer_busy = True
        try:
            # Now that it follows a training run, free this thread's OpenMP pool after each
            # computation, as the VAE's live views do (see engine/threads.py).
            with foreground_torch(), self._explorer_pacer.timed(tick):
                self._compute_frames(tick.run)
        finally:
            self.explorer_busy = False

    def _compute_frames(self, run: Any) -> None:
        count = self.candidate_count
        z = self._candidate_z(run)
        a = min(max(self.start_index, 0), count - 1)
        b = min(max(self.end_index, 0), count - 1)
        dim = min(self.dimension, self.latent_dim - 1)
        moved = z[a].clone()
        moved[dim] = self.dimension_value
        step = int(run.step)
        labels = self._explorer_labels(count)
        extra = None if labels is None else [*labels, labels[a]]
        out = self._decode(run, torch.cat([z, moved.unsqueeze(0)]), extra)
        if out.dim() != 4:
            raise ValueError(
                "the latent explorer needs an image generator (this run makes 2-D points)"
            )
        if labels is None:
            frames = run.interpolate(z[a], z[b], steps=self.frames, method=self.method)
        else:  # the class of A all the way: the interpolation moves z alone
            frames = run.interpolate(
                z[a], z[b], steps=self.frames, method=self.method, labels=labels[a]
            )
        self.candidates_png = images.grid_png(out[:count], nrow=self.candidate_columns)
        self.traverse_png = images.grid_png(out[count:], nrow=1)
        self.frames_png = images.grid_png(frames, nrow=self.frames)
        self.frame_count = int(frames.shape[0])
        self.explorer_step = step

    def _handle_message(self, content: dict[str, Any]) -> bool:
        if content.get("type") == "explorer_refresh":
            self._explorer_request()
            return True
        return False

    def _explorer_image(self, width: int = 480):
        parts = [
            static_png.png_image(self.candidates_png, width),
            static_png.png_image(self.frames_png, width),
        ]
        if not any(parts):
            if not getattr(self.run, "has_weights", True):
                text = "latent explorer: no weights (no checkpoint was written)"
                return static_png.text_line(text, width, "#666")
            return static_png.text_line("latent explorer: no frames yet", width, "#666")
        return static_png.caption(
            static_png.vstack(parts),
            f"{self.method} A={self.start_index} -> B={self.end_index}, step {self.explorer_step}",
        )


class LatentExplorer(ExplorerPanel, RunWidget):
    """Interpolations and single-dimension traversals of a run's latent space, computed from
    the generator's current weights and recomputed as training goes on (``explorer_auto``).

    ``gw.LatentExplorer(run, method="lerp", frames=12)``."""

    _esm = bundle("latent_explorer")

    def static_png(self) -> bytes:
        return static_png.to_png(self._explorer_image())
