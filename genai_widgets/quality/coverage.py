"""Mode coverage of a generator on a mixture of Gaussians (the "ring" and "grid" toys).

The measures of the unrolled-GAN / VEEGAN / PacGAN line of work on 2-D mixtures:

- a sample is *high quality* if it lies within three standard deviations of the nearest mode
  centre (VEEGAN, Srivastava et al. 2017, sec. 5.1: "within three standard deviations of the
  nearest mode"; the ring of 8 modes with std 0.02 at radius 2 and the 5 x 5 grid with std 0.05
  are their data sets, after Metz et al. 2017, unrolled GANs);
- a mode is *covered* if at least a minimum number of high-quality samples are assigned to it
  (its nearest-mode count). PacGAN (Lin et al. 2018, sec. 5), following VEEGAN on the grid,
  draws 2,500 samples and calls a mode lost when fewer than 20 land on it, "1/5 of the
  expected number of samples in each mode" (2500 / 25 = 100). We keep that rule in its
  relative form: `min_fraction` (default 0.2) of the expected per-mode count n / K, so it is
  20 for 2,500 samples on the grid, ~63 on the 8-mode ring, and scales with n.

Pure functions of tensors; no run, no widget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ..engine.evaluators import Evaluator

HIGH_QUALITY_STDS = 3.0  # VEEGAN's "within three standard deviations"
MIN_FRACTION = 0.2  # PacGAN: a mode needs 1/5 of its expected share of samples
N_SAMPLES = 2500  # samples per measurement in VEEGAN and PacGAN


@dataclass(frozen=True)
class Coverage:
    """The result of `mode_coverage`."""

    modes_covered: int  # modes with at least `min_count` high-quality samples
    modes_total: int
    high_quality: float  # share of all samples within `stds` std of their nearest mode
    counts: tuple[int, ...]  # high-quality samples assigned to each mode
    min_count: int  # the threshold used

    def as_dict(self) -> dict[str, float]:
        return {"modes_covered": float(self.modes_covered), "high_quality": self.high_quality}


def nearest_modes(
    samples: torch.Tensor, centres: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of each sample's nearest mode centre and the distance to it."""
    samples = torch.as_tensor(samples, dtype=torch.float64).reshape(-1, centres.shape[-1])
    centres = torch.as_tensor(centres, dtype=torch.float64)
    distances = torch.cdist(samples, centres)
    best, index = distances.min(dim=1)
    return index, best


def mode_coverage(
    samples: torch.Tensor,
    centres: torch.Tensor,
    std: float,
    *,
    stds: float = HIGH_QUALITY_STDS,
    min_fraction: float = MIN_FRACTION,
    min_count: int | None = None,
) -> Coverage:
    """Modes covered and the share of high-quality samples (see the module docstring).

    samples: (N, D) generated points; centres: (K, D) mode centres; std: the modes' standard
    deviation. `min_count` overrides the threshold `ceil(min_fraction * N / K)` (at least 1).
    Non-finite samples count as low quality."""
    samples = torch.as_tensor(samples).detach().cpu()
    centres = torch.as_tensor(centres).detach().cpu()
    if samples.dim() != 2 or centres.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(
            f"samples (N, D) and centres (K, D) must agree in D; got {tuple(samples.shape)} "
            f"and {tuple(centres.shape)}"
        )
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std!r}")
    n, k = samples.shape[0], centres.shape[0]
    if n == 0:
        return Coverage(0, k, 0.0, (0,) * k, min_count or 1)
    index, distance = nearest_modes(samples, centres)
    good = torch.isfinite(distance) & (distance <= stds * std)
    counts = torch.bincount(index[good], minlength=k)
    threshold = min_count if min_count is not None else max(1, math.ceil(min_fraction * n / k))
    return Coverage(
        modes_covered=int((counts >= threshold).sum()),
        modes_total=k,
        high_quality=float(good.double().mean()),
        counts=tuple(int(c) for c in counts),
        min_count=int(threshold),
    )


def coverage_evaluator(
    centres: torch.Tensor,
    std: float,
    *,
    n_samples: int = N_SAMPLES,
    seed: int = 0,
    every_steps: int = 100,
    every_seconds: float = 2.0,
) -> Evaluator:
    """An `Evaluator` measuring `modes_covered` and `high_quality` on `n_samples` samples of
    fixed noise (fixed, so the curve follows the generator, not the draw)."""
    from ..engine.evaluators import Evaluator, ModelCopies

    centres = torch.as_tensor(centres, dtype=torch.float32)
    cache: dict[str, torch.Tensor] = {}

    def measure(models: ModelCopies) -> dict[str, float]:
        z = cache.get("z")
        if z is None or z.shape[1] != models.latent_dim:
            gen = torch.Generator().manual_seed(seed)
            z = cache["z"] = torch.randn(n_samples, models.latent_dim, generator=gen)
        points = models.generate(z).float().cpu().reshape(n_samples, -1)
        return mode_coverage(points, centres, std).as_dict()

    return Evaluator(
        "coverage",
        measure,
        every_steps=every_steps,
        every_seconds=every_seconds,
        columns=("modes_covered", "high_quality"),
    )


__all__ = ["Coverage", "mode_coverage", "nearest_modes", "coverage_evaluator"]
