"""Real images into z: the projection capability of the two latent families
(`run.project(images)`), one API for both, so the latent explorer can show a real image's
projection and interpolate between two real images through the decoder.

- The GAN has no encoder: `project` finds z for each image by gradient descent (Adam on z
  alone, batched over images, a few random starting codes per image, the best kept; Creswell &
  Bharath 2018, "Inverting the generator of a GAN"). The loss is the pixel mean squared error
  plus `feature_weight` times the error in the feature space of the digits classifier that the
  quality measures train and cache (`genai_widgets.quality.fid`): pixels alone favour blurry
  near-misses, the features favour the right digit drawn the right way. Without labelled
  images there is no such classifier: pixels only, and `Projection.note` says so.
- The VAE has one: `project` is the posterior mean of its encoder (`run.encode`), decoded.

Both work on the eval-mode copy of the weights that `run.sample` reads, never on the modules
being trained; the copy's parameters are frozen (no gradient, no optimizer state), the
gradient is taken with respect to z only, and training goes on meanwhile.

For the explorer: ``p = run.project(x)`` (x: N x C x H x W in [-1, 1], or one C x H x W
image); show ``p.reconstruction`` beside ``x`` with ``p.error``; interpolate between two
real images through the decoder with ``run.interpolate(p.z[0], p.z[1])``."""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from ..engine.family import Capability

if TYPE_CHECKING:
    from ..engine.run import Run

PROJECTION = Capability("projection", "image projection", methods=("project",))

#: Weight of the feature-space term against the pixel MSE. Measured on the held-out digits
#: (benchmarks/projection.py): 0.1 cuts the feature error by a third for 4% more pixel error.
DEFAULT_FEATURE_WEIGHT = 0.1
#: Images optimised together (each with its `restarts` starting codes).
PROJECT_BATCH = 256


@dataclass
class Projection:
    """What `run.project(images)` returns, one row per image, on the CPU.

    z               (N, latent_dim) codes; `run.sample(z=p.z)` regenerates `reconstruction`
    reconstruction  (N, C, H, W) the decoder's images of z, in [-1, 1]
    error           (N,) pixel mean squared error between each image and its reconstruction
    loss            (N,) the loss that was minimised: `error` + feature_weight x the feature
                    error (the GAN); equal to `error` for the encoder (the VAE) or pixels only
    step            the training step of the weights used
    method          "gradient descent" (the GAN) or "encoder" (the VAE)
    features        what the feature term measured in ("digits classifier ...") or None
    note            one line on how it was found (and why pixels only, when so)
    labels          (N,) the class ids the codes were found for (a class-conditional run:
                    `run.sample(z=p.z, labels=p.labels)` regenerates), else None"""

    z: Tensor
    reconstruction: Tensor
    error: Tensor
    loss: Tensor
    step: int
    method: str
    features: str | None = None
    note: str = ""
    labels: Tensor | None = None

    def __len__(self) -> int:
        return int(self.z.shape[0])

    @property
    def mean_error(self) -> float:
        """Pixel MSE averaged over the images."""
        return float(self.error.double().mean())


# ---------------------------------------------------------------------- input
def as_images(images: Any, shape: tuple[int, ...], name: str = "images") -> Tensor:
    """`images` (tensor or numpy, N x `shape` or one image of `shape`) as a float32 CPU batch;
    a ValueError naming the shape given and the shapes accepted otherwise."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, Tensor) else images)
    x = x.detach().to(torch.float32).cpu()
    if x.dim() == len(shape):
        x = x.unsqueeze(0)
    dims = ", ".join(map(str, shape))
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape) or len(x) == 0:
        raise ValueError(
            f"{name} must be of shape (N, {dims}) or ({dims}) in [-1, 1] (the run's samples), "
            f"got shape {tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite values in [-1, 1], got NaN or infinity")
    return x


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _non_negative(name: str, value: Any, *, strict: bool = False) -> float:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) < 0 or (strict and value == 0):
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def pixel_error(x: Tensor, target: Tensor) -> Tensor:
    """Mean squared error per image (N,)."""
    return (x - target).pow(2).reshape(len(x), -1).mean(1)


def feature_error(fx: Tensor, ft: Tensor, scale: Tensor) -> Tensor:
    """Squared feature distance per image, over `scale` (the targets' mean squared feature,
    a constant): about 1 between unrelated images, 0 for the same image."""
    return (fx - ft).pow(2).mean(1) / scale


def frozen(module: nn.Module) -> nn.Module:
    """A deep copy of `module` in eval mode whose parameters take no gradient."""
    clone = copy.deepcopy(module).eval()
    for p in clone.parameters():
        p.requires_grad_(False)
        p.grad = None
    return clone


# ---------------------------------------------------------------------- the descent
def descend(
    decode: Callable[[Tensor], Tensor],
    targets: Tensor,
    latent_dim: int,
    *,
    steps: int,
    lr: float,
    restarts: int,
    seed: int,
    features: Callable[[Tensor], Tensor] | None = None,
    feature_weight: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Find z for each of `targets` (N, ...) by Adam on z alone: `restarts` codes per image
    drawn from N(0, I) with `seed`, `steps` updates with a cosine-decaying learning rate from
    `lr`, the loss pixel MSE + `feature_weight` x `feature_error` (when `features` is given).
    `decode` maps (M, latent_dim) codes to samples like `targets` and must not need gradients
    of its own parameters. Returns (z, reconstruction, pixel error, loss) of each image's best
    restart (by loss), on the targets' device."""
    n, device = len(targets), targets.device
    gen = torch.Generator().manual_seed(seed)
    z0 = torch.randn(restarts * n, latent_dim, generator=gen).to(device)
    target = targets.repeat(restarts, *([1] * (targets.dim() - 1)))  # row r * n + i: image i
    use_features = features is not None and feature_weight > 0
    with torch.no_grad():
        ft = features(target) if use_features else None  # type: ignore[misc]
        scale = ft.pow(2).mean().clamp_min(1e-12) if ft is not None else None

    def losses(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = decode(z)
        pixels = pixel_error(out, target)
        total = pixels
        if ft is not None:
            total = pixels + feature_weight * feature_error(features(out), ft, scale)  # type: ignore[misc, arg-type]
        return out, pixels, total

    with torch.enable_grad():
        z = z0.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        for t in range(steps):
            for group in opt.param_groups:  # cosine decay to a tenth of lr
                group["lr"] = lr * (0.1 + 0.45 * (1 + math.cos(math.pi * t / steps)))
            _, _, total = losses(z)
            opt.zero_grad(set_to_none=True)
            # Rows are independent (eval-mode decoder): the sum gives each its own gradient.
            total.sum().backward()
            opt.step()
    with torch.no_grad():
        z = z.detach()
        out, pixels, total = losses(z)
        best = total.view(restarts, n).argmin(0)  # each image's best start
        rows = best * n + torch.arange(n, device=device)
        return z[rows], out[rows], pixels[rows], total[rows]


# ---------------------------------------------------------------------- the capability
class DescentProjection:
    """Mixed into a latent family without an encoder (`GANFamily`): `project` by gradient
    descent on z through a frozen copy of the decoding module."""

    def project(
        self,
        run: Run,
        images: Any,
        steps: int = 200,
        lr: float = 0.05,
        restarts: int = 4,
        seed: int = 0,
        feature_weight: float = DEFAULT_FEATURE_WEIGHT,
        labels: Any = None,
    ) -> Projection:
        """Codes z whose samples match real `images` (N x C x H x W in [-1, 1], tensor or
        numpy, or one C x H x W image: the run's sample shape), found by `steps` Adam updates
        of z from `restarts` random starts per image (drawn with `seed`), the best kept. The
        loss is pixel MSE + `feature_weight` x the error in the feature space of the cached
        digits classifier of the quality measures (on labelled image data; trained once, a
        few seconds, the first time; otherwise pixels only). Works on a frozen copy of the
        weights `run.sample` reads: training goes on and is not touched. Returns a
        `Projection` (z, reconstruction, per-image pixel error and loss, the weights' step).

        A class-conditional run's codes are found for class ids: `labels` (one id, or one per
        image), else the class the digits classifier reads in each image (an unlabelled
        run without the classifier needs `labels=`)."""
        steps = _positive_int("steps", steps)
        restarts = _positive_int("restarts", restarts)
        lr = _non_negative("lr", lr, strict=True)
        feature_weight = _non_negative("feature_weight", feature_weight)
        seed = int(seed)
        family: Any = self
        role = family.decoder_name
        with run.inference_copy(role) as shared:
            decoder = frozen(shared)
            step = _copy_step(run, role)
        shape = _sample_shape(run, decoder, family)
        x = as_images(images, shape)
        net, described, note = None, None, "pixels only: feature_weight=0"
        if feature_weight > 0:
            net, described, note = _feature_net(run, family, shape)
        device = run.device
        features = None
        if net is not None:
            net = net.to(device)
            features = net.features
        latent_shape = tuple(family.latent_shape)
        y = _class_ids(family, x, labels, net)

        def decoder_for(chunk_y: Tensor | None) -> Callable[[Tensor], Tensor]:
            def decode(z: Tensor) -> Tensor:
                codes = z.view(len(z), *latent_shape)
                if chunk_y is None:
                    return family.to_samples(decoder(codes))
                rows = chunk_y.repeat(len(z) // len(chunk_y)).to(device)  # restarts' rows
                return family.to_samples(decoder(codes, rows))

            return decode

        parts = []
        for start in range(0, len(x), PROJECT_BATCH):
            chunk = x[start : start + PROJECT_BATCH].to(device)
            chunk_y = None if y is None else y[start : start + PROJECT_BATCH]
            parts.append(
                descend(
                    decoder_for(chunk_y),
                    chunk,
                    family.latent_dim,
                    steps=steps,
                    lr=lr,
                    restarts=restarts,
                    seed=seed + start,
                    features=features,
                    feature_weight=feature_weight if net is not None else 0.0,
                )
            )
        z, recon, pixels, total = (torch.cat([p[i] for p in parts]).float().cpu() for i in range(4))
        return Projection(
            z=z,
            reconstruction=recon,
            error=pixels,
            loss=total,
            step=step,
            method="gradient descent",
            features=described,
            note=f"{steps} Adam steps on z from {restarts} random starts per image; {note}",
            labels=y,
        )


class EncoderProjection:
    """Mixed into a latent family with an encoder (`VAEFamily`): `project` is the posterior
    mean, so the explorer's projection panel uses one API for both families."""

    def project(self, run: Run, images: Any) -> Projection:
        """The posterior mean of each real image (N x C x H x W in [-1, 1], tensor or numpy,
        or one C x H x W image) under the encoder, and its decoding: a `Projection` whose z is
        `run.encode(images)[0]`, with the pixel error of the reconstructions. No descent: the
        encoder already maps images into z."""
        family: Any = self
        shape = tuple(getattr(family, "sample_shape", ()) or ())
        x = as_images(images, shape) if shape else family.check_images(images, "images")
        with run.inference_copy("encoder", family.decoder_name) as (encoder, decoder):
            step = _copy_step(run, "encoder")
            mu, _ = encoder(x.to(run.device))
            out = family.to_samples(decoder(mu.view(len(mu), *family.latent_shape)))
            recon, mu = out.float().cpu(), mu.float().cpu()
        pixels = pixel_error(recon, x)
        return Projection(
            z=mu,
            reconstruction=recon,
            error=pixels,
            loss=pixels.clone(),
            step=step,
            method="encoder",
            note="the encoder's posterior mean",
        )


# ---------------------------------------------------------------------- helpers
def _class_ids(family: Any, x: Tensor, labels: Any, net: Any) -> Tensor | None:
    """The class ids a class-conditional family projects `x` for (None: unconditional):
    `labels` checked by the family, else the digits classifier's reading of each image."""
    if not getattr(family, "n_classes", None):
        if labels is not None:
            family.check_labels(labels, len(x))  # raises: this run takes no labels
        return None
    if labels is not None:
        return family.check_labels(labels, len(x)).cpu()
    if net is None:
        raise ValueError(
            "this run is class-conditional: pass labels= (one class id, or one per image) "
            "to project its images, or keep feature_weight > 0 on labelled data so the "
            "digits classifier reads each image's class"
        )
    with torch.no_grad():
        device = next(net.parameters()).device
        return net.head(net.features(x.to(device))).argmax(1).cpu()


def _copy_step(run: Run, role: str) -> int:
    """The step of the weights in the run's inference copy of `role` (call inside
    `run.inference_copy`, whose copy it is); the run's step if the run keeps no such record."""
    copies = getattr(run, "_copies", None)
    if isinstance(copies, dict) and role in copies:
        return int(copies[role][0])
    return int(run.step)


def _sample_shape(run: Run, decoder: nn.Module, family: Any) -> tuple[int, ...]:
    """The shape of one sample: the data's, else what the decoder makes of one zero code."""
    data = getattr(run, "data_source", None)
    if data is not None and getattr(data, "sample_shape", None):
        return tuple(data.sample_shape)
    with torch.no_grad():
        z = torch.zeros(1, *family.latent_shape, device=run.device)
        return tuple(family.to_samples(decoder(z)).shape[1:])


_nets_lock = threading.Lock()


def _feature_net(run: Run, family: Any, shape: tuple[int, ...]):
    """(frozen feature net, its description, a note) for the run's labelled images: the
    classifier `quality_evaluator` trains for FID (same images, labels and seed, so the same
    disk cache entry), kept on the family; (None, None, why) without labels."""
    data = getattr(run, "data_source", None)
    images = getattr(data, "tensor", None)
    labels = getattr(data, "labels", None)
    if data is None or images is None or labels is None or len(shape) != 3:
        why = (
            "no data loaded with the run"
            if data is None
            else "the run's data are not labelled images"
        )
        return None, None, f"pixels only: {why}, so there is no digits classifier to compare in"
    from ..quality.fid import train_feature_net

    seed = int(getattr(family, "seed", 0))
    with _nets_lock:
        found = getattr(family, "_projection_net", None)
        if found is None or found[0] is not images:
            net, info = train_feature_net(images, labels, seed=seed)
            described = (
                f"digits classifier features (held-out accuracy {info['accuracy']:.0%}, "
                f"{info['path']})"
            )
            found = family._projection_net = (images, frozen(net), described)
    _, net, described = found
    return frozen(net), described, "pixels + classifier features"
