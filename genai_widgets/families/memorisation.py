"""The memorisation check of the latent families on images (GAN, VAE): the nearest training
image of each sample, and the copy rate (`quality/neighbours.py` defines both).

``nb = run.nearest_neighbours(samples="grid")`` pairs each sample of the dashboard's grid
(the fixed-noise samples, from the current weights) with its nearest training image:
`nb.samples[i]` beside `nb.neighbours[i]`, at distance `nb.distances[i]` in the space
`nb.space` ("classifier features" on labelled images, else "pixels"); `nb.copied[i]` says
whether that distance is below the copy threshold `nb.threshold`. ``run.copy_rate(n=500)``
is the share of n fresh samples that are copies in that sense (about 0.5 for new images from
the data's own distribution, near 1 for a generator that reproduces its training images).

The training images' features are computed once per run, on first use, on the caller's
thread (the feature net comes from its disk cache, or is trained there: about 12 s on a CPU
for the digits); samples come from the eval-mode copy of the weights that `run.sample` uses,
under `torch.no_grad`, so training goes on meanwhile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..engine.family import Capability

if TYPE_CHECKING:
    from ..engine.run import Run
    from ..quality.neighbours import NeighbourIndex

TRAINING_NEIGHBOURS = Capability(
    "training neighbours",
    "training-neighbour search",
    methods=("nearest_neighbours", "copy_rate", "neighbour_index"),
)

_index_lock = threading.Lock()


@dataclass
class Neighbours:
    """Samples and their nearest training images (`run.nearest_neighbours`).

    samples     (N, C, H, W) in [-1, 1]: the images asked about
    neighbours  (N, C, H, W): the nearest training image of each, `data.tensor[indices]`
    indices     (N,) int64: their rows in the run's training set (`run.data_source.tensor`)
    distances   (N,) float64: sample to neighbour, in `space`
    space       "classifier features" (the quality measures' digits classifier) or "pixels"
    threshold   the copy threshold in that space (median training image's distance to its
                own nearest other training image)
    copied      (N,) bool: distances < threshold
    """

    samples: Tensor
    neighbours: Tensor
    indices: Tensor
    distances: Tensor
    space: str
    threshold: float
    copied: Tensor

    def __len__(self) -> int:
        return len(self.indices)


class NeighbourMethods:
    """Mixed into a latent family on images (`GANFamily`, `VAEFamily`): the methods of
    `TRAINING_NEIGHBOURS`, each taking the run first."""

    #: Passed to `train_feature_net` (epochs, width, cache_dir) for the feature space; the
    #: defaults are the quality evaluator's, so both read the same cached net.
    feature_net_options: ClassVar[dict[str, Any]] = {}
    #: Training images the index holds at most (a seeded subset beyond it).
    neighbour_cap: ClassVar[int] = 5000

    def neighbour_index(self, run: Run) -> NeighbourIndex:
        """The run's training images in the neighbour feature space, computed on first use
        and kept (`quality.neighbours.NeighbourIndex`: space, features, rows, threshold)."""
        from ..quality.neighbours import NeighbourIndex

        with _index_lock:  # one lock per family object: another run's index never waits
            lock = self.__dict__.setdefault("_neighbour_lock", threading.Lock())
        with lock:
            index = self.__dict__.get("_neighbour_index")
            if index is not None:
                return index
            images, labels = _training_images(run)
            index = NeighbourIndex.for_data(
                images,
                labels,
                cap=self.neighbour_cap,
                seed=int(run.config.seed),
                **self.feature_net_options,
            )
            self.__dict__["_neighbour_index"] = index
            return index

    def nearest_neighbours(
        self, run: Run, samples: Any = None, n: int = 16, seed: int = 0
    ) -> Neighbours:
        """The nearest training image of each sample, with its distance.

        `samples`: None (n fresh samples from the current weights, z drawn with `seed`),
        "grid" (the fixed-noise grid the dashboard shows, from the current weights), or
        images (N, C, H, W) / one image (C, H, W) in [-1, 1] shaped like the training
        images; uint8 NHWC arrays as `run.get_snapshot(i)` returns them are taken too."""
        index = self.neighbour_index(run)
        x = self._neighbour_samples(run, samples, n, seed)
        rows, dist = index.nearest(x, 1)
        rows_t = torch.from_numpy(rows[:, 0].copy())
        dist_t = torch.from_numpy(dist[:, 0].copy())
        return Neighbours(
            samples=x,
            neighbours=run.data_source.tensor[rows_t].clone(),
            indices=rows_t,
            distances=dist_t,
            space=index.space,
            threshold=index.threshold,
            copied=dist_t < index.threshold,
        )

    def copy_rate(self, run: Run, n: int = 500, seed: int = 0) -> float:
        """The share of `n` fresh samples (z drawn with `seed`) closer to a training image
        than the median training image is to its own nearest other one."""
        _check_n(n)
        index = self.neighbour_index(run)
        z = self.random_z(run, n, seed=seed)  # type: ignore[attr-defined]
        x = torch.cat([run.sample(z=z[i : i + 250]) for i in range(0, n, 250)])
        return index.copy_rate(x)

    # ------------------------------------------------------------------ helpers
    def _neighbour_samples(self, run: Run, samples: Any, n: int, seed: int) -> Tensor:
        if samples is None:
            _check_n(n)
            return run.sample(z=self.random_z(run, n, seed=seed))  # type: ignore[attr-defined]
        if isinstance(samples, str):
            if samples != "grid":
                raise ValueError(
                    f"samples must be None, 'grid' or images (N, C, H, W), got {samples!r}"
                )
            return run.sample(z=self.fixed_z)  # type: ignore[attr-defined]
        shape = tuple(run.data_source.sample_shape)
        if isinstance(samples, np.ndarray) and samples.dtype == np.uint8:
            c, h, w = shape  # a snapshot: NHWC uint8
            if samples.ndim == 4 and samples.shape[1:] == (h, w, c):
                samples = torch.from_numpy(samples.copy()).permute(0, 3, 1, 2).float() / 127.5 - 1
        x = torch.as_tensor(samples, dtype=torch.float32)
        if x.dim() == len(shape):
            x = x.unsqueeze(0)
        if tuple(x.shape[1:]) != shape or len(x) < 1:
            raise ValueError(
                f"samples must be images of shape (N, {', '.join(map(str, shape))}) like the "
                f"training images (or None, or 'grid'), got shape {tuple(x.shape)}"
            )
        return x.detach().cpu()


def _check_n(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")


def _training_images(run: Run) -> tuple[Tensor, Tensor | None]:
    data = run.data_source
    if data is None or getattr(data, "tensor", None) is None:
        raise ValueError(
            f"run {run.name!r}: nearest training neighbours need the training set in memory "
            "(data given as a name, tensor, Dataset or image folder); a DataLoader's has none"
        )
    if data.kind != "images" or data.tensor.dim() != 4:
        raise ValueError(
            f"run {run.name!r}: nearest training neighbours are for image data, got "
            f"{data.kind} of shape {tuple(data.sample_shape)}"
        )
    return data.tensor, data.labels
