"""`GANConfig`: every field of a GAN run, and what its "auto" (None) fields become.

`gw.train_gan(**kw)` / `%%gan_train` build one; magic flags map one to one onto its fields
(`--latent-dim` -> `latent_dim`). Some fields default to None, "auto": latent_dim, batch_size
and lr take the value that suits the data (`DATA_DEFAULTS`) once the data is known; n_critic,
beta1 and beta2 the value that suits the loss (`LOSS_DEFAULTS`); image_size None keeps the
size of the data you bring (the named sets come at 32) and is set to the size trained at.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ...engine.config import build_config, finite_non_negative, positive_float, positive_int
from ..config import LatentConfig

DEFAULT_EMA = 0.999  # the generator average's decay on image data (GANConfig.ema=None)
LOSSES = ("nonsaturating", "minimax", "wgan-gp", "hinge")
INTERPOLATIONS = ("slerp", "lerp")


@dataclass(frozen=True)
class GANConfig(LatentConfig):
    """Everything that defines a GAN run."""

    family: ClassVar[str] = "gan"
    # Fields whose change mid-run `Run.set` accepts.
    settable: ClassVar[tuple[str, ...]] = (
        "lr", "lr_d", "n_critic", "gp_weight", "r1", "max_steps", "sample_every", "beta1",
        "beta2", "step_delay",
    )  # fmt: skip
    auto_fields: ClassVar[tuple[str, ...]] = (
        "latent_dim", "batch_size", "lr", "beta1", "beta2", "n_critic", "r1", "ema", "n_samples",
    )  # fmt: skip

    model: Any = "dcgan"  # registry name or a (generator, discriminator) pair
    loss: str = "nonsaturating"  # one of LOSSES
    latent_dim: int | None = None  # size of z; None: 64, or 2 for 2-D points
    batch_size: int | None = None  # real samples per D update; None: 64, or 256 for 2-D points
    lr: float | None = None  # Adam learning rate; None: 2e-4 (DCGAN paper), or 1e-3 for 2-D
    lr_d: float | None = None  # discriminator learning rate if different from lr
    beta1: float | None = None  # Adam beta1; None: 0.5 (DCGAN paper), or 0.0 for wgan-gp
    beta2: float | None = None  # Adam beta2; None: 0.999, or 0.9 for wgan-gp (WGAN-GP paper)
    n_critic: int | None = None  # D updates per G update; None: 1, or 5 for wgan-gp
    gp_weight: float = 10.0  # gradient-penalty weight for wgan-gp
    r1: float | None = None  # R1 penalty gamma on D at real data; None: 0.1 images, 0 2-D, wgan-gp
    r1_every: int = 16  # lazy R1: apply it every this many steps, weighted as many times
    augment: str = "translation,cutout"  # DiffAugment policy for D's inputs; "none": off
    ema: float | None = None  # generator average for sampling; None: 0.999 images, 0.99 2-D
    quality_every: int = 0  # steps between live FID/KID/precision/recall (labelled images; 0: off)
    inception_weights: str | None = None  # Inception weights file, or "auto": adds fid_inception
    conditional: bool = False  # class-conditional G(z, y) and D(x, y) on labelled images
    n_samples: int | None = None  # grid samples per snapshot; None: 64, conditional classes**2

    def replace(self, **changes: Any) -> GANConfig:
        return dataclasses.replace(self, **changes)

    def validate(self, resolved: bool = False) -> None:
        c = self
        if c.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {c.loss!r}")
        super().validate(resolved)
        positive_float("lr_d", c.lr_d, allow_none=True)
        positive_int("n_critic", c.n_critic, allow_none=c.is_auto("n_critic", resolved))
        finite_non_negative("gp_weight", c.gp_weight)
        finite_non_negative("r1", c.r1, allow_none=c.is_auto("r1", resolved))
        positive_int("r1_every", c.r1_every)
        if not isinstance(c.augment, str):
            raise ValueError(
                f"augment must be a string like 'translation,cutout', got {c.augment!r}"
            )
        from .augment import parse_policy

        parse_policy(c.augment)  # ValueError naming the valid policies
        positive_int("quality_every", c.quality_every, minimum=0)
        if c.inception_weights is not None and not isinstance(c.inception_weights, str):
            raise ValueError(
                "inception_weights must be a path string or 'auto', "
                f"got {type(c.inception_weights).__name__}"
            )
        if not isinstance(c.conditional, bool):
            raise ValueError(f"conditional must be True or False, got {c.conditional!r}")
        if c.ema is not None and (
            isinstance(c.ema, bool) or not isinstance(c.ema, (int, float)) or not 0 <= c.ema < 1
        ):
            raise ValueError(f"ema must be a decay in [0, 1) (0 turns it off), got {c.ema!r}")


# What the "auto" (None) fields become, by the kind of data. Images: the DCGAN paper's settings.
# 2-D points: GAN Lab's 2-D latent plane (the data-space view's mesh is then the whole latent
# space), and the batch and learning rate with which the MLP GAN covers the ring's 8 and the
# grid's 25 modes within a few thousand steps (benchmarks/toy2d.py; README).
# The generator average (ema) that sampling reads: 0.999 on images (about the last thousand
# steps); 0.99 on points, where it holds all 8 ring modes steady through the end of a run
# while the live generator's coverage swings between 2 and 8 (benchmarks/toy2d.py, README).
# R1 (Mescheder et al. 2018) with gamma 0.1 on images, lazily every 16 steps (r1_every; R1 on
# every step cost 46% more CPU per step): with DiffAugment and the average it took the digits'
# FID to 6.0 at step 3000 where the plain DCGAN was at 14.4 (benchmarks/quality.py, README);
# off on points, whose defaults cover the modes without it.
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "images": {"latent_dim": 64, "batch_size": 64, "lr": 2e-4, "ema": DEFAULT_EMA, "r1": 0.1},
    "points": {"latent_dim": 2, "batch_size": 256, "lr": 1e-3, "ema": 0.99, "r1": 0.0},
}


# What the loss-dependent "auto" fields become. WGAN-GP: the settings of Gulrajani et al. 2017,
# "Improved Training of Wasserstein GANs" (https://arxiv.org/abs/1704.00028), Algorithm 1:
# five critic updates per generator update and Adam (0.0, 0.9); its critic must be near
# optimal for the gradient to mean anything, and momentum destabilises it. With the DCGAN
# settings (one update, beta1 0.5) it covered 0 of 8 ring modes (benchmarks/toy2d.py).
# WGAN-GP has its own gradient penalty, so R1 stays off there.
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    "default": {"n_critic": 1, "beta1": 0.5, "beta2": 0.999},
    "wgan-gp": {"n_critic": 5, "beta1": 0.0, "beta2": 0.9, "r1": 0.0},
}


def grid_samples(n_classes: int | None) -> int:
    """The grid's samples per snapshot: 64, or for a class-conditional run one row per class
    (n_classes ** 2: 100 for the digits, `latent.grid_labels`) up to 16 classes."""
    return n_classes**2 if n_classes and n_classes <= 16 else 64


def resolve_defaults(config: GANConfig, kind: str, n_classes: int | None = None) -> GANConfig:
    """`config` with its "auto" (None) fields set for data of `kind` ("images" or "points"),
    for its loss and, for a class-conditional run, for its `n_classes`."""
    defaults = {
        **DATA_DEFAULTS.get(kind, DATA_DEFAULTS["images"]),
        **LOSS_DEFAULTS.get(config.loss, LOSS_DEFAULTS["default"]),
        "n_samples": grid_samples(n_classes),
    }
    changes = {k: v for k, v in defaults.items() if getattr(config, k) is None}
    return config.replace(**changes) if changes else config


def make_config(**kwargs: Any) -> GANConfig:
    """Build and validate a GANConfig; unknown keys raise TypeError listing the valid ones."""
    return build_config(GANConfig, kwargs)


# Fields whose change mid-run `Run.set` accepts on a GAN.
SETTABLE = GANConfig.settable

__all__ = [
    "GANConfig",
    "LOSSES",
    "SETTABLE",
    "DATA_DEFAULTS",
    "LOSS_DEFAULTS",
    "make_config",
    "resolve_defaults",
]
