"""Sample quality without a download: FID, KID, precision / recall and classes covered, in the
feature space of a small classifier trained once on the run's own labelled images and cached.

Why not Inception: its weights are a ~100 MB download, a notebook on a plane or behind a
firewall has none, and on 8x8 digits upscaled to 32x32 its ImageNet features say little. A
four-layer CNN trained for a few seconds on the labelled set sees exactly the structure that
matters there (which digit, drawn how), and its penultimate layer is the feature space.
Figures are therefore comparable within one data set and feature net, not with published
Inception FIDs (the same caveat applies to every domain-specific FID).

- FID: Frechet distance between Gaussians fitted to real and generated features
  (Heusel et al. 2017, "GANs trained by a two time-scale update rule...").
- KID: unbiased squared MMD with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3,
  averaged over subsets (Binkowski et al. 2018, "Demystifying MMD GANs"); its expectation is 0
  when both sets come from the same distribution, whatever their size.
- Precision / recall: the k-NN manifold estimate (Kynkaanniemi et al. 2019, "Improved
  precision and recall metric for assessing generative models"), k = 3: precision is the share
  of generated samples inside the real manifold (quality), recall the share of real samples
  inside the generated one (coverage).
- Classes covered: the share of classes the classifier finds among the samples (a class counts
  when at least a tenth of its fair share of samples is confidently assigned to it): it drops
  when the generator collapses onto a few modes.

Where the standard Inception weights are already on disk (torch-fidelity's
`weights-inception-2015-12-05-6726825d.pth`, which torchmetrics downloads into the torch hub
cache the first time anyone computes an Inception FID there), `inception_weights` adds the
standard Inception FID as `fid_inception` (torchmetrics' `FrechetInceptionDistance`; needs
`pip install torchmetrics torch-fidelity`). Nothing is ever downloaded. It costs about 6 GFLOP
per image at 299x299: minutes per evaluation on a laptop CPU, seconds on a GPU.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "InceptionFID",
    "find_inception_weights",
    "FeatureNet",
    "QualityMeter",
    "class_frechet_distances",
    "classes_covered",
    "frechet_distance",
    "kernel_distance",
    "precision_recall",
    "train_feature_net",
]


# --------------------------------------------------------------------------- feature network
class FeatureNet(nn.Module):
    """A small CNN classifier; `features(x)` is its (4 x width)-d penultimate layer."""

    def __init__(self, channels: int, n_classes: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, n_classes)

    def features(self, x: Tensor) -> Tensor:
        if x.shape[-1] > 16:  # digit-like sets carry no detail finer than 16x16; 4x cheaper
            x = F.adaptive_avg_pool2d(x, 16)
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _cache_dir() -> Path:
    from ..data import default_root

    return default_root().parent / "feature-nets"


def _data_key(images: Tensor, labels: Tensor) -> str:
    h = hashlib.sha1()
    h.update(str(tuple(images.shape)).encode())
    h.update(images.to(torch.float32).contiguous().numpy().tobytes())
    h.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train_feature_net(
    images: Tensor,
    labels: Tensor,
    *,
    epochs: int = 30,
    width: int = 32,
    seed: int = 0,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[FeatureNet, dict[str, Any]]:
    """Train (or load from the cache) the feature classifier on labelled images in [-1, 1].

    Returns the net in eval mode and its info: held-out accuracy, cache path. The cache key is
    a hash of the images and labels, so another data set or image size trains its own net."""
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if labels is None or len(labels) != len(images):
        raise ValueError("a feature net needs one class label per image (labelled data)")
    images, labels = images.detach().float().cpu(), labels.detach().long().cpu()
    n_classes = int(labels.max()) + 1
    key = _data_key(images, labels)
    path = Path(cache_dir) if cache_dir is not None else _cache_dir()
    path = path / f"featurenet-{key}-w{width}-e{epochs}-s{seed}.pt"
    net = FeatureNet(images.shape[1], n_classes, width)
    if cache and path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(saved["state"])
            return net.eval(), {"accuracy": float(saved["accuracy"]), "path": str(path)}
        except Exception:  # a corrupt or stale cache entry: train again
            pass
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=gen)
    n_val = max(1, len(images) // 10)
    val, train = order[:n_val], order[n_val:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FeatureNet(images.shape[1], n_classes, width)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    batch = 128
    for _ in range(epochs):
        net.train()
        perm = train[torch.randperm(len(train), generator=gen)]
        for i in range(0, len(perm), batch):
            idx = perm[i : i + batch]
            x = images[idx]
            # Light shift augmentation: the features must not hinge on exact pixel positions.
            shift = int(torch.randint(-2, 3, (1,), generator=gen))
            x = torch.roll(x, shifts=shift, dims=int(torch.randint(2, 4, (1,), generator=gen)))
            loss = F.cross_entropy(net(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(images[val]).argmax(1) == labels[val]).float().mean())
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"state": net.state_dict(), "accuracy": accuracy}, tmp)
            tmp.replace(path)
        except OSError:  # a read-only home: go without the cache
            pass
    return net, {"accuracy": accuracy, "path": str(path)}


# --------------------------------------------------------------------------- the measures
def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets (rows are samples): |mu1 - mu2|^2 + Tr(S1 + S2 - 2(S1 S2)^1/2)."""
    from scipy import linalg

    a, b = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two (N, D) feature sets with N >= 2, got {a.shape} and {b.shape}")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # singular product: nudge both (as pytorch-fid does)
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    return max(value, 0.0)


def kernel_distance(
    real: np.ndarray, fake: np.ndarray, *, subsets: int = 10, subset_size: int = 500, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel, mean and std over random subsets."""
    a, b = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = (
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
            + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean()
        )
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


def _kth_neighbour_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = np.sqrt(np.maximum(_sq_dists(x, x), 0))
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def _sq_dists(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision and recall (Kynkaanniemi et al. 2019)."""
    a, b = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(a), len(b)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    ra, rb = _kth_neighbour_radius(a, k), _kth_neighbour_radius(b, k)
    dab = np.sqrt(np.maximum(_sq_dists(b, a), 0))  # fake x real
    precision = float((dab <= ra[None, :]).any(axis=1).mean())
    recall = float((dab <= rb[:, None]).any(axis=0).mean())  # real points in the fake manifold
    return precision, recall


def classes_covered(
    logits: np.ndarray | Tensor, *, confidence: float = 0.5, min_share: float = 0.1
) -> float:
    """Share of classes found among samples: a class counts when at least `min_share` of its fair
    share (n / classes) of the samples is assigned to it with probability >= `confidence`."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    n, n_classes = z.shape
    prob = z.softmax(1)
    top, cls = prob.max(1)
    counts = torch.bincount(cls[top >= confidence], minlength=n_classes)
    need = max(1.0, min_share * n / n_classes)
    return float((counts >= need).double().mean())


# --------------------------------------------------------------------------- one meter
@dataclass
class QualityMeter:
    """Everything one evaluation needs: the feature net and the real set's features.

    ``meter = QualityMeter.for_data(source)``; then ``meter(images)`` -> dict of measures for a
    batch of generated images (N, C, H, W) in [-1, 1]. Thread-safe for one caller at a time."""

    net: FeatureNet
    real_features: np.ndarray
    info: dict[str, Any]
    n_classes: int
    inception: InceptionFID | None = None

    @classmethod
    def for_data(
        cls,
        images: Tensor,
        labels: Tensor,
        *,
        reference: int = 1000,
        seed: int = 0,
        inception_weights: str | Path | None = None,
        inception_features: int = 2048,
        **kw: Any,
    ) -> QualityMeter:
        """The feature net for `images` / `labels` (trained or cached) and the features of
        `reference` real images; with `inception_weights` (a path, or "auto": the torch hub
        cache) also the Inception FID's statistics of the same real images."""
        net, info = train_feature_net(images, labels, seed=seed, **kw)
        gen = torch.Generator().manual_seed(seed + 1)
        idx = torch.randperm(len(images), generator=gen)[: min(reference, len(images))]
        feats = _features(net, images[idx])
        inception = None
        if inception_weights is not None:
            path = find_inception_weights(inception_weights)
            inception = InceptionFID(images[idx], path, features=inception_features)
            info = {**info, "inception_weights": str(path)}
        return cls(net, feats, info, int(labels.max()) + 1, inception)

    def features(self, images: Tensor) -> np.ndarray:
        return _features(self.net, images)

    def predict(self, images: Tensor, batch: int = 500) -> Tensor:
        """The feature classifier's class for each image (N, C, H, W) in [-1, 1]: a LongTensor."""
        out = []
        with torch.no_grad():
            for i in range(0, len(images), batch):
                out.append(self.net(images[i : i + batch].detach().float().cpu()).argmax(1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)

    def __call__(self, images: Tensor) -> dict[str, float]:
        with torch.no_grad():
            x = images.detach().float().cpu()
            feats = self.net.features(x)
            logits = self.net.head(feats)
        f = feats.double().numpy()
        kid, _ = kernel_distance(self.real_features, f, subsets=5, subset_size=min(200, len(f)))
        precision, recall = precision_recall(self.real_features, f)
        return {
            "fid": frechet_distance(self.real_features, f),
            "kid": kid,
            "precision": precision,
            "recall": recall,
            "classes_covered": classes_covered(logits),
            **({"fid_inception": self.inception(x)} if self.inception is not None else {}),
        }


def class_frechet_distances(
    meter: QualityMeter,
    real: Tensor,
    real_labels: Tensor,
    fake: Tensor,
    fake_labels: Tensor,
) -> dict[int, float]:
    """{class id: FID} between the real images of each class and the generated images given
    that class (by a conditional generator, or as the classifier's prediction for an
    unconditional one: `meter.predict`), in `meter`'s feature space. A class with fewer than
    two images on either side gets NaN."""
    real_f, fake_f = meter.features(real), meter.features(fake)
    ry, fy = real_labels.long().cpu().numpy(), fake_labels.long().cpu().numpy()
    out: dict[int, float] = {}
    for c in range(meter.n_classes):
        a, b = real_f[ry == c], fake_f[fy == c]
        out[c] = frechet_distance(a, b) if min(len(a), len(b)) >= 2 else float("nan")
    return out


# --------------------------------------------------------------------------- Inception FID
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's file name


def find_inception_weights(path: str | Path = "auto") -> Path:
    """The Inception weights file: `path` itself, or for "auto" $GENAI_WIDGETS_INCEPTION_WEIGHTS
    or torch hub's checkpoint folder (where torchmetrics / torch-fidelity leave their download).
    Raises FileNotFoundError saying where it looked: nothing is downloaded."""
    if str(path) != "auto":
        found = Path(path).expanduser()
        if not found.is_file():
            raise FileNotFoundError(f"inception_weights: no file at {found}")
        return found
    looked = []
    env = os.environ.get("GENAI_WIDGETS_INCEPTION_WEIGHTS")
    if env:
        looked.append(Path(env).expanduser())
    looked.append(Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS)
    for candidate in looked:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"inception_weights='auto': no {INCEPTION_WEIGHTS} in "
        + " or ".join(str(p) for p in looked)
        + "; nothing is downloaded. Copy the file there (torch-fidelity's release), or pass its "
        "path, or leave inception_weights unset (the offline feature-net FID still runs)"
    )


def _uint8_rgb(images: Tensor) -> Tensor:
    """[-1, 1] (N, C, H, W) -> uint8 (N, 3, H, W), grey repeated: what the Inception net takes."""
    x = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x[:, :3]


class InceptionFID:
    """The standard Inception FID (torchmetrics `FrechetInceptionDistance`) of generated images
    against fixed real ones, from a weights file on disk. ``InceptionFID(real, path)(fake)``."""

    def __init__(
        self, real: Tensor, weights: str | Path, *, features: int = 2048, batch: int = 100
    ):
        try:
            from torchmetrics.image.fid import FrechetInceptionDistance
        except ImportError as exc:
            raise ImportError(
                "the Inception FID needs torchmetrics and torch-fidelity: "
                "pip install torchmetrics torch-fidelity"
            ) from exc
        self.batch = batch
        self.metric = FrechetInceptionDistance(
            feature=features,
            reset_real_features=False,
            feature_extractor_weights_path=str(weights),
        )
        with torch.no_grad():
            for i in range(0, len(real), batch):
                self.metric.update(_uint8_rgb(real[i : i + batch]), real=True)

    def __call__(self, fake: Tensor) -> float:
        self.metric.reset()  # the fake statistics only: reset_real_features=False
        with torch.no_grad():
            for i in range(0, len(fake), self.batch):
                self.metric.update(_uint8_rgb(fake[i : i + self.batch]), real=False)
            return float(self.metric.compute())


def _features(net: FeatureNet, images: Tensor, batch: int = 500) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out.append(net.features(images[i : i + batch].float().cpu()).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 1))


# --------------------------------------------------------------------------- warnings
def quality_warnings(
    evaluations: dict[str, np.ndarray],
    *,
    collapse_ratio: float = 0.7,
    rising: int = 3,
    copy_level: float = 0.6,
    copy_rise: float = 0.1,
) -> list[tuple[str, str]]:
    """Warnings from the quality measures so far (columns "step", "fid", "classes_covered",
    "copy_rate"):

    - "ModeCollapse" when classes covered fell below `collapse_ratio` of its best so far: the
      generator is concentrating on a few classes (mode collapse);
    - "QualityDeclining" when FID rose in each of the last `rising` evaluations and stands
      above its best by 10%: on a small data set the usual cause is the discriminator
      over-fitting the real images (keep `augment` on, stop at the best step, or lower lr);
    - "CopyRateRising" when the copy rate (`neighbours.py`) stands at `copy_level` or more
      and at least `copy_rise` above its lowest so far: more samples lie near a training
      image than new images of the data's own distribution would (about 0.5; 0.47-0.55 on
      held-out digits), and the number is growing: the generator is memorising.
    Returns (kind, message) pairs, for `Run`'s health mechanism."""
    out: list[tuple[str, str]] = []
    steps = np.asarray(evaluations.get("step", ()), dtype=np.float64)
    covered = np.asarray(evaluations.get("classes_covered", ()), dtype=np.float64)
    fid = np.asarray(evaluations.get("fid", ()), dtype=np.float64)
    ok = np.isfinite(covered)
    if ok.sum() >= 2:
        c, best = covered[ok][-1], covered[ok].max()
        if c < collapse_ratio * best:
            out.append(
                (
                    "ModeCollapse",
                    f"classes covered fell to {c:.0%} (best {best:.0%}): the generator is "
                    "collapsing onto a few modes; lower the learning rate, or resume from an "
                    "earlier checkpoint",
                )
            )
    ok = np.isfinite(fid)
    if ok.sum() > rising:
        f, s = fid[ok], steps[ok] if len(steps) == len(fid) else np.arange(ok.sum())
        tail = f[-(rising + 1) :]
        if np.all(np.diff(tail) > 0) and f[-1] > 1.1 * f.min():
            best_step = int(s[int(np.argmin(f))])
            out.append(
                (
                    "QualityDeclining",
                    f"FID has risen {rising} evaluations in a row to {f[-1]:.1f} (best "
                    f"{f.min():.1f} at step {best_step}): the discriminator is likely "
                    "over-fitting the real images; keep augment on, lower lr, or stop at the "
                    "best step's checkpoint",
                )
            )
    rate = np.asarray(evaluations.get("copy_rate", ()), dtype=np.float64)
    rate = rate[np.isfinite(rate)]
    if len(rate) >= 2 and rate[-1] >= copy_level and rate[-1] >= rate.min() + copy_rise:
        out.append(
            (
                "CopyRateRising",
                f"copy rate rose to {rate[-1]:.0%} (lowest {rate.min():.0%}; new images of "
                "the data's own distribution score about 50%): the generator is reproducing "
                "training images; see run.nearest_neighbours(), keep augment on, or stop at "
                "an earlier checkpoint",
            )
        )
    return out


# --------------------------------------------------------------------------- live evaluator
def quality_evaluator(
    images: Tensor,
    labels: Tensor,
    *,
    every_steps: int = 500,
    n_samples: int = 1000,
    seed: int = 0,
    inception_weights: str | Path | None = None,
    **feature_net: Any,
):
    """An `Evaluator` (see `evaluators.py`) measuring fid, kid, precision, recall,
    classes_covered and copy_rate (`neighbours.copy_rate` against up to 5000 of `images`, in
    the same feature space) on `n_samples` samples of fixed noise, every `every_steps` steps,
    on the evaluation thread: the feature net is trained (or loaded from its cache) there on
    the first evaluation, so no training step ever waits for it. `feature_net` goes to
    `train_feature_net` (epochs, width, cache_dir). With `inception_weights` (a file, or
    "auto"), also `fid_inception`; a missing file raises here, when the run is built."""
    if inception_weights is not None:
        inception_weights = find_inception_weights(inception_weights)
    from ..engine.evaluators import Evaluator, ModelCopies

    state: dict[str, Any] = {}

    def measure(models: ModelCopies) -> dict[str, float]:
        meter = state.get("meter")
        if meter is None:
            meter = state["meter"] = QualityMeter.for_data(
                images, labels, seed=seed, inception_weights=inception_weights, **feature_net
            )
        z = state.get("z")
        if z is None:
            gen = torch.Generator().manual_seed(seed + 7)
            z = state["z"] = torch.randn(n_samples, models.latent_dim, generator=gen)
        fake = torch.cat(
            [models.generate(z[i : i + 250]).float().cpu() for i in range(0, len(z), 250)]
        )
        copies = state.get("copies")
        if copies is None:
            from .neighbours import NeighbourIndex

            copies = state["copies"] = NeighbourIndex.for_data(images, seed=seed, net=meter.net)
        return {**meter(fake), "copy_rate": copies.copy_rate(fake)}

    return Evaluator(
        "quality",
        measure,
        every_steps=every_steps,
        every_seconds=None,
        columns=("fid", "kid", "precision", "recall", "classes_covered", "copy_rate")
        + (("fid_inception",) if inception_weights is not None else ()),
    )
