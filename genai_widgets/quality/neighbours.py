"""Nearest training neighbours and the copy rate: the memorisation check of a generator.

- `nearest_neighbours(query, train, k)`: the k training rows nearest to each query row
  (Euclidean), computed in blocks so 10,000 x 2,000 (or far larger) sets fit in memory.
- The copy threshold of a training set: the median, over its images, of each image's distance
  to its nearest OTHER training image (itself excluded by position; an exact duplicate
  elsewhere in the set counts, at distance 0).
- `copy_rate(samples, train)`: the share of samples whose nearest training image is strictly
  closer than that threshold, i.e. closer to the training set than the typical training image
  is to the rest of it.

Reading the copy rate: samples that copy training images score near 1; noise, or samples
unlike the data, near 0. Fresh images from the data's own distribution score about 0.5: by
construction half the training images lie within the threshold of another one, and a new
image has the whole set (one image more) to be near. Measured on the digits in the feature
space below: held-out digits 0.47-0.55 (3 random 1200 / 597 splits, classifier
features and pixels alike), the training images themselves 1.0, uniform noise 0.0.
So a copy rate well above a held-out set's (about 0.5) is what memorisation looks like, and a
rise towards 1 during training is the warning sign (`quality.fid.quality_warnings`).

Feature space: the digits classifier the quality measures train and cache (`fid.py`,
`train_feature_net`) when the images have labels, else the raw pixels (flattened). Distances
in the two spaces are not comparable; `NeighbourIndex.space` says which one was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .fid import FeatureNet, _features, train_feature_net

__all__ = [
    "NeighbourIndex",
    "copy_rate",
    "copy_threshold",
    "nearest_neighbours",
    "nearest_other_distances",
]

#: Distances one block may hold (float64): 2**23 of them is 64 MB, whatever the set sizes.
BLOCK_ELEMENTS = 1 << 23
#: Extra candidates per query re-ranked by exact distance (the block's expanded form
#: |a|^2 + |b|^2 - 2 a.b rounds; near-ties are settled on the exact differences).
_SPARE = 4
#: Training images the run-level index holds at most (a seeded subset beyond it).
DEFAULT_CAP = 5000

CLASSIFIER = "classifier features"
PIXELS = "pixels"


def _as_features(x: Any, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D (N, D) feature array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite, got NaN or infinite values")
    return a


def nearest_neighbours(
    query_feats: Any, train_feats: Any, k: int = 1, *, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` rows of `train_feats` (M, D) nearest to each row of `query_feats` (N, D), by
    Euclidean distance: `(indices, distances)`, each (N, k), nearest first, ties to the lower
    index. With `exclude_self` the two arrays are the same set (N == M) and query row i never
    gets training row i (each point's nearest OTHER point). Computed in blocks of query rows
    (`BLOCK_ELEMENTS` distances at a time); the returned distances are recomputed from the
    exact differences, so they match a brute-force computation to rounding."""
    q, t = _as_features(query_feats, "query_feats"), _as_features(train_feats, "train_feats")
    if q.shape[1] != t.shape[1]:
        raise ValueError(
            f"query_feats and train_feats must have the same width, got {q.shape} and {t.shape}"
        )
    if exclude_self and len(q) != len(t):
        raise ValueError(f"exclude_self needs the same set twice, got {len(q)} and {len(t)} rows")
    available = len(t) - (1 if exclude_self else 0)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= available:
        raise ValueError(f"k must be an integer in 1..{available} (training rows), got {k!r}")
    k = int(k)
    m = min(available, k + _SPARE)
    t_sq = (t * t).sum(1)
    rows = max(1, BLOCK_ELEMENTS // max(len(t), m * t.shape[1]))  # distances, differences
    indices = np.empty((len(q), k), dtype=np.int64)
    distances = np.empty((len(q), k), dtype=np.float64)
    for start in range(0, len(q), rows):
        block = q[start : start + rows]
        sq = (block * block).sum(1)[:, None] + t_sq[None, :] - 2.0 * block @ t.T
        if exclude_self:
            own = np.arange(start, start + len(block))
            sq[np.arange(len(block)), own] = np.inf
        cand = np.argpartition(sq, m - 1, axis=1)[:, :m] if m < len(t) else np.argsort(sq, 1)
        cand = cand[:, :m]
        exact = np.sqrt(((block[:, None, :] - t[cand]) ** 2).sum(-1))
        if exclude_self:
            exact[cand == own[:, None]] = np.inf
        # Nearest first; equal distances go to the lower training index.
        order = np.lexsort((cand, exact), axis=1)[:, :k]
        indices[start : start + len(block)] = np.take_along_axis(cand, order, 1)
        distances[start : start + len(block)] = np.take_along_axis(exact, order, 1)
    return indices, distances


def nearest_other_distances(train_feats: Any) -> np.ndarray:
    """For each training row, the distance to its nearest other training row (M,)."""
    _, d = nearest_neighbours(train_feats, train_feats, 1, exclude_self=True)
    return d[:, 0]


def copy_threshold(train_feats: Any) -> float:
    """The median, over training rows, of each row's distance to its nearest other row: how
    close the typical training image is to the rest of the set. Needs 2 rows or more."""
    t = _as_features(train_feats, "train_feats")
    if len(t) < 2:
        raise ValueError(f"the copy threshold needs at least 2 training rows, got {len(t)}")
    return float(np.median(nearest_other_distances(t)))


def copy_rate(sample_feats: Any, train_feats: Any, *, threshold: float | None = None) -> float:
    """The share of samples whose nearest training row is strictly closer than `threshold`
    (default: `copy_threshold(train_feats)`, the median training row's distance to its own
    nearest other row). Near 1: the samples copy training images; about 0.5: as near to the
    training set as new images from the data's distribution; near 0: unlike any of them."""
    t = _as_features(train_feats, "train_feats")
    if threshold is None:
        threshold = copy_threshold(t)
    _, d = nearest_neighbours(sample_feats, t, 1)
    return float((d[:, 0] < threshold).mean())


# --------------------------------------------------------------------------- for a data set
@dataclass
class NeighbourIndex:
    """Training images in one feature space, ready for neighbour queries and copy rates.

    ``index = NeighbourIndex.for_data(images, labels)``; then ``index.nearest(samples)`` gives
    the nearest training image of each sample as a row of `images` (`rows`), and
    ``index.copy_rate(samples)`` the share of copies. `features[i]` is the feature of
    `images[rows[i]]`; `threshold` the copy threshold of those features. Samples are images
    (N, C, H, W) in [-1, 1] shaped like the training images."""

    space: str  # "classifier features" or "pixels"
    features: np.ndarray
    rows: np.ndarray
    threshold: float
    net: FeatureNet | None = None
    info: dict[str, Any] | None = None

    @classmethod
    def for_data(
        cls,
        images: Tensor,
        labels: Tensor | None = None,
        *,
        cap: int = DEFAULT_CAP,
        seed: int = 0,
        net: FeatureNet | None = None,
        **feature_net: Any,
    ) -> NeighbourIndex:
        """The index of `images` (all of them, or a seeded subset of `cap`): in the feature
        space of `net`, or of the classifier `train_feature_net(images, labels, seed=seed,
        **feature_net)` trains or loads from its cache (the quality measures' net for the
        same arguments) when there are labels; else in pixel space."""
        if not isinstance(images, Tensor) or images.dim() != 4 or len(images) < 2:
            got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be a (N, C, H, W) tensor with N >= 2, got {got}")
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 2:
            raise ValueError(f"cap must be an integer >= 2, got {cap!r}")
        info = None
        if net is None and labels is not None:
            net, info = train_feature_net(images, labels, seed=seed, **feature_net)
        rows = np.arange(len(images))
        if len(images) > cap:
            gen = torch.Generator().manual_seed(seed + 5)
            rows = np.sort(torch.randperm(len(images), generator=gen)[:cap].numpy())
        index = cls(
            CLASSIFIER if net is not None else PIXELS,
            np.zeros((0, 1)),
            rows,
            0.0,
            net.eval() if net is not None else None,
            info,
        )
        index.features = index.embed(images[torch.from_numpy(rows)])
        index.threshold = copy_threshold(index.features)
        return index

    def embed(self, images: Tensor) -> np.ndarray:
        """Images (N, C, H, W) -> their rows in this index's space (float64, N x D)."""
        x = images.detach().float().cpu()
        if self.net is not None:
            return _features(self.net, x)
        return x.reshape(len(x), -1).double().numpy()

    def nearest(self, images: Tensor, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(rows of the training images, distances), each (N, k), nearest first."""
        idx, dist = nearest_neighbours(self.embed(images), self.features, k)
        return self.rows[idx], dist

    def copy_rate(self, images: Tensor) -> float:
        """The share of `images` closer to a training image than `threshold`."""
        return copy_rate(self.embed(images), self.features, threshold=self.threshold)
