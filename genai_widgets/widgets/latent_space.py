"""`LatentSpacePanel`: latent-space exploration beyond interpolation, on the live weights, in
the GAN `Dashboard` and the `VAEDashboard` alike:

- semantic directions (GANSpace): one slider per direction moves the candidate sample A,
  and a strip shows A from -3 to +3 sigma along the chosen direction; the directions are
  recomputed on demand ("Recompute directions") from the current weights, matched to the
  previous ones so slider 1 stays slider 1;
- real images: pick two of the data's images; each is projected into z (`run.project`; the
  VAE's encoder does it: the posterior mean) and an interpolation between the two
  projections runs through the generator / decoder;
- nearest training neighbours of the candidate samples, with their distances and the copy
  rate (the memorisation check);
- latent arithmetic: mean z of a "+" selection minus mean z of a "-" selection, added to a
  base selection, clicked on the candidate grid, shown as a strip from the base to the result.

The candidates (`CandidatesPanel`: seed, count, columns, sample A, the interpolation's method
and frames, "follow training") are the GAN explorer's own in the GAN dashboard; a dashboard
without the explorer (the VAE's) gets them from this panel, which then draws the candidate
grid itself.

Every computation runs in the flusher thread on the inference copy of the weights (as the
explorer's frames do), only when an input changed or a refresh was asked for; with
`explorer_auto` (follow training) the cheap views are recomputed at the sample snapshots, paced
by a `flusher.Pacer`."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import numpy as np
import torch
import traitlets as t

from ..engine import images
from ..engine.threads import foreground_torch
from . import static_png
from ._base import Panel
from .flusher import Pacer, Tick

#: Sigmas of the direction strip.
STRIP_SIGMAS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)

_DIRECTION_INPUTS = ("direction_offsets", "direction_index", "start_index", "candidate_seed")
_REAL_INPUTS = ("real_start", "real_end", "frames", "method")
_ARITH_INPUTS = ("arith_plus", "arith_minus", "arith_base", "candidate_seed")
_CANDIDATE_INPUTS = ("candidate_seed", "candidate_count", "candidate_columns", "explorer_label")


class CandidatesPanel(Panel):
    """The candidate samples shared by the latent explorer and the latent-space views: z drawn
    from the prior with `candidate_seed`, their grid, sample A among them, the interpolation's
    method and frames, the class of a class-conditional run and "follow training". It has no
    flush logic of its own: the panel that draws `candidates_png` (the GAN's `ExplorerPanel`,
    else `LatentSpacePanel`) feeds it."""

    #: True in a panel that draws `candidates_png` itself (the GAN's explorer); a widget
    #: without one gets the grid from `LatentSpacePanel`.
    _explorer_draws_candidates: ClassVar[bool] = False

    candidate_seed = t.Int(0).tag(sync=True)
    """int: seed of the candidate latent vectors (the "Random pair" button draws a new one)."""

    candidate_count = t.Int(8, min=2, max=64).tag(sync=True)
    """int: candidate samples to pick A and B from (default 8)."""

    candidate_columns = t.Int(8, min=1).tag(sync=True)
    """int: columns of the candidate grid (default 8)."""

    candidates_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG grid of the candidate samples."""

    start_index = t.Int(0).tag(sync=True)
    """int: candidate used as A, the start of the interpolation (default 0)."""

    method = t.Enum(["slerp", "lerp"], default_value="slerp").tag(sync=True)
    """str: "slerp" (great circle, keeps the prior's typical norm) or "lerp"."""

    frames = t.Int(8, min=2, max=32).tag(sync=True)
    """int: interpolation frames, both ends included (2-32, default 8)."""

    label_classes = t.Int(0).tag(sync=True)
    """int: classes of a class-conditional run (0: unconditional); the class picker lists them."""

    explorer_label = t.Int(-1).tag(sync=True)
    """int: class of the candidates in a class-conditional run (-1: cycling through the
    classes, candidate i of class i % classes); the interpolation and the traversal use A's."""

    explorer_auto = t.Bool(True).tag(sync=True)
    """bool: follow training: recompute with the newest weights at the sample snapshots
    (default True, as the VAE's scatter does), paced to VIEW_DUTY of the time (a slow model's
    views at every snapshot, a fast one's every few: `flusher.Pacer`); False freezes the frames until an input changes
    or "Refresh weights" is clicked (the "follow training" checkbox)."""

    def _init_candidates(self, run: Any) -> None:
        self.label_classes = int(getattr(getattr(run, "family", None), "n_classes", None) or 0)

    def _candidate_z(self, run: Any) -> torch.Tensor:
        """The candidates' latent vectors (`candidate_count` of them, from `candidate_seed`)."""
        return run.random_z(self.candidate_count, seed=self.candidate_seed)

    def _explorer_labels(self, n: int) -> list[int] | None:
        """Class ids of `n` candidates of a class-conditional run (None otherwise)."""
        k = self.label_classes
        if not k:
            return None
        if self.explorer_label >= 0:
            return [min(self.explorer_label, k - 1)] * n
        return [i % k for i in range(n)]

    def _decode(self, run: Any, z: torch.Tensor, labels: Any = None) -> torch.Tensor:
        """`run.sample(z=z)`, with `labels` for a class-conditional run."""
        if labels is None:
            return run.sample(z=z)
        return run.sample(z=z, labels=labels)


class LatentSpacePanel(CandidatesPanel):
    """Traits and flush logic of the latent-space views (used by the GAN `Dashboard`, next to
    the explorer, and by the `VAEDashboard`, which has no explorer: this panel then draws the
    candidate grid)."""

    latent_space_enabled = t.Bool(False).tag(sync=True)
    """bool: the run can show these views (an image generator with the latent-space methods)."""

    latent_space_open = t.Bool(False).tag(sync=True)
    """bool: the views are open in the page (nothing is computed while they are folded: the
    first use trains or loads the cached feature net and measures the training set)."""

    # ------------------------------------------------------------------ directions
    directions_k = t.Int(8, min=1, max=32).tag(sync=True)
    """int: semantic directions computed (default 8)."""

    direction_variance = t.List(t.Float()).tag(sync=True)
    """list[float]: each direction's share of the first layer's activation variance."""

    direction_offsets = t.List(t.Float()).tag(sync=True)
    """list[float]: slider values, in sigmas along each direction, applied to sample A."""

    direction_index = t.Int(0, min=0).tag(sync=True)
    """int: direction shown in the -3 ... +3 sigma strip."""

    direction_moved_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG of sample A and A moved by the sliders."""

    direction_strip_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG strip of A from -3 to +3 sigma along `direction_index`."""

    directions_step = t.Int(-1).tag(sync=True)
    """int: training step of the weights the directions were computed from (-1: not yet)."""

    # ------------------------------------------------------------------ real images
    real_count = t.Int(8, min=2, max=32).tag(sync=True)
    """int: real images offered for projection (a fixed draw from the data)."""

    real_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG grid of the real images to pick from."""

    real_start = t.Int(-1).tag(sync=True)
    """int: first picked real image (-1: none)."""

    real_end = t.Int(-1).tag(sync=True)
    """int: second picked real image (-1: none)."""

    real_projection_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG of the picked real images (top row) over their projections through G."""

    real_frames_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG strip of the interpolation between the two projections."""

    real_errors = t.List(t.Float()).tag(sync=True)
    """list[float]: pixel mean squared error of each picked image's projection."""

    projection_step = t.Int(-1).tag(sync=True)
    """int: training step of the weights of the projections (-1: none yet)."""

    # ------------------------------------------------------------------ neighbours
    neighbours_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG of the candidate samples (top row) over their nearest training images."""

    neighbour_distances = t.List(t.Float()).tag(sync=True)
    """list[float]: distance of each candidate to its nearest training image."""

    neighbour_space = t.Unicode("").tag(sync=True)
    """str: where the distances are measured ("classifier features" or "pixels")."""

    copy_rate = t.Float(-1.0).tag(sync=True)
    """float: share of samples closer to a training image than training images are to each
    other (the median nearest-neighbour distance); -1 until measured."""

    # ------------------------------------------------------------------ arithmetic
    arith_plus = t.List(t.Int()).tag(sync=True)
    """list[int]: candidates whose mean z is added."""

    arith_minus = t.List(t.Int()).tag(sync=True)
    """list[int]: candidates whose mean z is subtracted."""

    arith_base = t.List(t.Int()).tag(sync=True)
    """list[int]: candidates whose mean z the difference is added to."""

    arith_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG strip from the base to base + mean(plus) - mean(minus)."""

    latent_busy = t.Unicode("").tag(sync=True)
    """str: what is being computed ('' when idle)."""

    latent_error = t.Unicode("").tag(sync=True)
    """str: why the last latent-space computation failed ('' if it did not)."""

    def _init_panel(self, run: Any) -> None:
        self._init_candidates(run)
        self._latent_lock = threading.Lock()
        self._latent_dirty: set[str] = {"candidates", "directions", "real", "neighbours", "arith"}
        self._latent_snapshots = -1
        self._latent_pacer = Pacer()  # following training costs at most VIEW_DUTY
        self._directions: Any = None
        self._projections: dict[int, Any] = {}
        self._real: torch.Tensor | None = None
        family = getattr(run, "family", None)
        kind = getattr(family, "sample_kind", "images")
        needed = ("latent_directions", "project", "nearest_neighbours")
        self.latent_space_enabled = kind == "images" and all(
            callable(getattr(family, name, None)) for name in needed
        )
        self.observe(lambda _c: self._latent_request("directions"), names=list(_DIRECTION_INPUTS))
        self.observe(lambda _c: self._latent_request("real"), names=list(_REAL_INPUTS))
        self.observe(lambda _c: self._latent_request("arith"), names=list(_ARITH_INPUTS))
        self.observe(lambda _c: self._latent_request("candidates"), names=list(_CANDIDATE_INPUTS))
        self.observe(
            lambda _c: self._latent_request("directions", "neighbours", "arith"),
            names=["explorer_label", "candidate_count"],
        )

    def _latent_request(self, *parts: str) -> None:
        with self._latent_lock:
            self._latent_dirty.update(parts)

    def _handle_message(self, content: dict[str, Any]) -> bool:
        kind = content.get("type")
        if kind == "directions_refresh":
            self._directions = None  # recomputed from the current weights, then matched
            self._latent_request("directions", "refit")
            return True
        if kind == "neighbours_refresh":
            self._latent_request("neighbours")
            return True
        if kind == "projection_refresh":
            self._projections.clear()
            self._latent_request("real")
            return True
        return False

    def _flush_panel(self, tick: Tick) -> None:
        if not (self.latent_space_enabled and self.latent_space_open):
            return
        if not getattr(tick.run, "has_weights", True):
            return
        with self._latent_lock:
            dirty, self._latent_dirty = self._latent_dirty, set()
        if (
            self.explorer_auto
            and tick.snapshot_count != self._latent_snapshots
            and self._latent_pacer.due(tick.time)
        ):
            if self._latent_snapshots >= 0:  # follow training: the cheap views again
                dirty |= {"candidates", "directions", "neighbours", "arith"}
            self._latent_snapshots = tick.snapshot_count
        if self._explorer_draws_candidates:  # the explorer's grid is on the page already
            dirty.discard("candidates")
        if not dirty:
            return
        with foreground_torch(), self._latent_pacer.timed(tick):
            for part, compute in (
                ("candidates", self._compute_candidates),
                ("directions", self._compute_directions),
                ("real", self._compute_real),
                ("neighbours", self._compute_neighbours),
                ("arith", self._compute_arithmetic),
            ):
                if part not in dirty:
                    continue
                self.latent_busy = part
                try:
                    compute(tick.run, refit="refit" in dirty)
                    self.latent_error = ""
                except Exception as error:  # shown in the panel; training goes on
                    self.latent_error = f"{part}: {type(error).__name__}: {error}"
                finally:
                    self.latent_busy = ""

    # ------------------------------------------------------------------ candidates
    def _compute_candidates(self, run: Any, refit: bool = False) -> None:
        z = self._candidate_z(run)
        out = self._decode(run, z, self._explorer_labels(len(z)))
        self.candidates_png = images.grid_png(out, nrow=self.candidate_columns)

    # ------------------------------------------------------------------ directions
    def _compute_directions(self, run: Any, refit: bool = False) -> None:
        if self._directions is None or refit:
            k = min(self.directions_k, int(run.latent_dim))
            self._directions = run.latent_directions(k=k)
            self.directions_step = int(getattr(self._directions, "step", run.step))
            self.direction_variance = [float(v) for v in self._directions.variance]
            if len(self.direction_offsets) != k:
                self.direction_offsets = [0.0] * k
        found = self._directions
        z = self._candidate_z(run)
        at = min(max(self.start_index, 0), len(z) - 1)
        a = z[at : at + 1]
        labels = self._explorer_labels(len(z))
        label = None if labels is None else labels[at]
        # The run's own moves and strip (`move_z`, `traverse_direction`), on these directions.
        amounts = [float(v) for v in self.direction_offsets[: found.k]]
        moved = run.move_z(a, amounts, directions=found) if amounts else a
        pair = self._decode(run, torch.cat([a, moved]), None if label is None else [label] * 2)
        index = min(self.direction_index, found.k - 1)
        strip = run.traverse_direction(
            z=a, index=index, sigmas=STRIP_SIGMAS, directions=found, labels=label
        )
        self.direction_moved_png = images.grid_png(pair, nrow=2)
        self.direction_strip_png = images.grid_png(strip, nrow=len(STRIP_SIGMAS))

    # ------------------------------------------------------------------ real images
    def _real_images(self, run: Any) -> torch.Tensor | None:
        if self._real is None:
            data = getattr(run, "data_source", None)
            pool = getattr(data, "tensor", None)
            if pool is None or len(pool) == 0:
                return None
            gen = torch.Generator().manual_seed(12345)
            idx = torch.randperm(len(pool), generator=gen)[: self.real_count]
            self._real = pool[idx].float()
            self.real_png = images.grid_png(self._real, nrow=self.real_count)
        return self._real

    def _projection(self, run: Any, index: int, real: torch.Tensor) -> Any:
        if index not in self._projections:
            self._projections[index] = run.project(real[index : index + 1])
        return self._projections[index]

    def _compute_real(self, run: Any, refit: bool = False) -> None:
        real = self._real_images(run)
        if real is None:
            return
        picked = [i for i in (self.real_start, self.real_end) if 0 <= i < len(real)]
        if not picked:
            return
        done = [self._projection(run, i, real) for i in picked]
        self.projection_step = int(getattr(done[0], "step", run.step))
        recon = torch.cat([p.reconstruction for p in done])
        self.real_projection_png = images.grid_png(
            torch.cat([real[picked], recon.to(real.dtype)]), nrow=len(picked)
        )
        self.real_errors = [float(np.asarray(p.error).reshape(-1)[0]) for p in done]
        if len(done) == 2:
            ends = (done[0].z[0], done[1].z[0])
            labels = getattr(done[0], "labels", None)
            if labels is None:
                frames = run.interpolate(*ends, steps=self.frames, method=self.method)
            else:  # a class-conditional run: the first image's class all the way
                frames = run.interpolate(
                    *ends, steps=self.frames, method=self.method, labels=int(labels[0])
                )
            self.real_frames_png = images.grid_png(frames, nrow=self.frames)

    # ------------------------------------------------------------------ neighbours
    def _compute_neighbours(self, run: Any, refit: bool = False) -> None:
        z = self._candidate_z(run)
        samples = self._decode(run, z, self._explorer_labels(len(z)))
        found = run.nearest_neighbours(samples=samples)
        pairs = torch.cat([samples, found.neighbours.to(samples.dtype)])
        self.neighbours_png = images.grid_png(pairs, nrow=len(samples))
        self.neighbour_distances = [float(d) for d in np.asarray(found.distances).reshape(-1)]
        self.neighbour_space = str(getattr(found, "space", ""))
        self.copy_rate = float(run.copy_rate())

    # ------------------------------------------------------------------ arithmetic
    def _compute_arithmetic(self, run: Any, refit: bool = False) -> None:
        z = self._candidate_z(run)
        n = len(z)

        def mean(picks: list[int]) -> torch.Tensor | None:
            chosen = [i for i in picks if 0 <= i < n]
            return z[chosen].mean(0) if chosen else None

        plus, minus, base = mean(self.arith_plus), mean(self.arith_minus), mean(self.arith_base)
        if base is None or (plus is None and minus is None):
            self.arith_png = b""
            return
        delta = (plus if plus is not None else 0) - (minus if minus is not None else 0)
        steps = torch.linspace(0.0, 1.0, 5).unsqueeze(1)
        base_labels = self._explorer_labels(n)
        first = next(i for i in self.arith_base if 0 <= i < n)
        label = None if base_labels is None else [base_labels[first]] * 5
        out = self._decode(run, base + steps * delta, label)
        self.arith_png = images.grid_png(out, nrow=5)

    # ------------------------------------------------------------------ static picture
    def _latent_space_image(self, width: int = 480):
        if not (self.latent_space_enabled and self.latent_space_open):
            return None
        parts = [
            static_png.png_image(self.direction_strip_png, width),
            static_png.png_image(self.neighbours_png, width),
        ]
        if not any(parts):
            return None
        rate = f", copy rate {self.copy_rate:.2f}" if self.copy_rate >= 0 else ""
        return static_png.caption(
            static_png.vstack([p for p in parts if p is not None]),
            f"direction {self.direction_index + 1}: -3..+3 sigma; nearest training images{rate}",
        )
