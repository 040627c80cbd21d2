"""The configuration objects runs are built from: one frozen dataclass per model family.

`RunConfig` holds the fields every family shares (data, sizes, optimizer, budget, run
directory); `GANConfig` and `VAEConfig` add their own and redeclare only the shared fields whose
default differs. `gw.train_gan(**kw)` / `%%gan_train` build a `GANConfig`, `gw.train_vae(**kw)` /
`%%vae_train` a `VAEConfig`; magic flags map one to one onto their fields
(`--latent-dim` -> `latent_dim`).
Some GAN fields default to None, "auto": latent_dim, batch_size and lr take the value that
suits the data (`DATA_DEFAULTS`) once the data is known; n_critic, beta1 and beta2 the value
that suits the loss (`LOSS_DEFAULTS`). In every family, image_size None keeps the size of the
data you bring (the named sets come at 32: `data.NAMED_IMAGE_SIZE`) and is set to the size
trained at once the data is built; sample_every None snapshots every 50 steps, but at least
every 5 s and at most about twice a second (`run.AUTO_SAMPLE_*`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

DEFAULT_EMA = 0.999  # the generator average's decay on image data (GANConfig.ema=None)
LOSSES = ("nonsaturating", "minimax", "wgan-gp", "hinge")
LIKELIHOODS = ("bernoulli", "gaussian")
DEVICES = ("auto", "cpu", "cuda", "mps")
INTERPOLATIONS = ("slerp", "lerp")
MAX_STEP_DELAY = 60.0  # seconds; slower than this is a pause


@dataclass(frozen=True)
class RunConfig:
    """Fields every family shares. Objects (datasets, modules) are allowed for `data` and
    `model`; everything else is plain JSON-able data. Not used on its own."""

    family: ClassVar[str] = ""
    settable: ClassVar[tuple[str, ...]] = ()

    data: Any = "digits"  # name, Dataset, DataLoader, tensor or image-folder path
    model: Any = None  # registry name or the family's pair of modules
    latent_dim: int = 64  # size of z, the generator's input
    image_size: int | None = None  # side of the square images; None: the data's own, named sets 32
    channels: int | None = None  # image channels; None takes them from the data
    width: int = 64  # base number of feature maps in the dcgan convolutions
    batch_size: int = 64  # real images per discriminator update
    lr: float = 2e-4  # Adam learning rate, both networks (DCGAN paper)
    beta1: float = 0.5  # Adam beta1 (DCGAN paper: 0.5 is steadier than 0.9)
    beta2: float = 0.999  # Adam beta2
    max_steps: int | None = None  # stop after this many generator updates
    epochs: float | None = None  # or after this many passes over the data
    step_delay: float = 0.0  # slow motion: seconds to wait after each step (0: full speed)
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    seed: int = 0  # seeds weights, data order and the fixed sample noise
    name: str | None = None  # shown in dashboards; defaults to a time stamp
    run_dir: str | None = None  # where config, metrics and checkpoints go; None: ./runs/<name>
    sample_every: int | None = None  # steps between fixed-noise snapshots; None: 50, 0.5-5 s apart
    n_samples: int = 64  # fixed-noise samples per snapshot (the grid)
    checkpoint_every: int = 500  # steps between checkpoints (0: only on save/stop)
    checkpoint_every_seconds: float = 60.0  # seconds between checkpoints, if sooner (0: off)
    log_every: int = 1  # steps between metric rows written to the store

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Plain data for config.json; objects are recorded by their type, not pickled. The
        family is recorded too, so `gw.load_run` rebuilds the right kind of run."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or isinstance(value, (str, int, float, bool)):
                out[f.name] = value
            elif isinstance(value, (tuple, list)):
                out[f.name] = f"<{', '.join(type(v).__name__ for v in value)}>"
            else:
                out[f.name] = f"<{type(value).__name__}>"
        out["family"] = self.family
        return out


@dataclass(frozen=True)
class GANConfig(RunConfig):
    """Everything that defines a GAN run."""

    family: ClassVar[str] = "gan"
    # Fields whose change mid-run `Run.set` accepts.
    settable: ClassVar[tuple[str, ...]] = (
        "lr", "lr_d", "n_critic", "gp_weight", "r1", "max_steps", "sample_every", "beta1",
        "beta2", "step_delay",
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

    def replace(self, **changes: Any) -> GANConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class VAEConfig(RunConfig):
    """Everything that defines a VAE run: the shared fields, the KL weight `beta` with its
    warm-up, the likelihood the reconstruction term uses, and the held-out share of the data."""

    family: ClassVar[str] = "vae"
    settable: ClassVar[tuple[str, ...]] = (
        "lr", "beta", "beta_warmup", "max_steps", "sample_every", "beta1", "beta2", "step_delay",
    )  # fmt: skip

    model: Any = "conv-vae"  # registry name or an (encoder, decoder) pair
    latent_dim: int = 16  # size of z, the encoder's output and the decoder's input
    width: int = 32  # base number of feature maps in the conv-vae convolutions
    batch_size: int = 64  # images per update
    lr: float = 1e-3  # Adam learning rate (encoder and decoder)
    beta1: float = 0.9  # Adam beta1
    max_steps: int | None = None  # stop after this many updates
    sample_every: int | None = None  # steps between prior-sample snapshots; None: 50, 0.5-5 s apart
    n_samples: int = 64  # prior samples per snapshot (fixed z, the grid)
    beta: float = 1.0  # weight of the KL term: 1 trains on the ELBO, > 1 is a beta-VAE
    beta_warmup: int = 0  # steps over which the KL weight rises linearly from 0 to beta (0: none)
    likelihood: str = "bernoulli"  # one of LIKELIHOODS: how the decoder's output scores an image
    likelihood_std: float = 0.1  # std of the gaussian likelihood, on the [-1, 1] pixel scale
    test_fraction: float = 0.1  # share of in-memory data held out: held-out ELBO, latent scatter

    def replace(self, **changes: Any) -> VAEConfig:
        return dataclasses.replace(self, **changes)


#: Config class of each family, by the name `config.json` records.
CONFIGS: dict[str, type[RunConfig]] = {"gan": GANConfig, "vae": VAEConfig}


def config_fields(cls: type[RunConfig] = GANConfig) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def build_config(cls: type[RunConfig], kwargs: dict[str, Any]) -> Any:
    """Build and validate a `cls`; unknown keys raise TypeError listing the valid ones."""
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise TypeError(_unknown_options(cls, unknown, valid))
    if "run_dir" in kwargs and isinstance(kwargs["run_dir"], os.PathLike):
        kwargs = {**kwargs, "run_dir": os.fspath(kwargs["run_dir"])}
    config = cls(**kwargs)
    validate_config(config)
    return config


def _unknown_options(cls: type, unknown: list[str], valid: set[str]) -> str:
    """One line: each unknown key with its likely meaning; all valid keys only when a key
    resembles none of them (a typo is answered with the option, not a list of 30)."""
    close = {key: difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6) for key in unknown}
    guesses = [f"{key!r} (did you mean {close[key][0]!r}?)" for key in unknown if close[key]]
    others = [repr(key) for key in unknown if not close[key]]
    text = f"unknown option(s) {', '.join(guesses + others)} for {cls.__name__}"
    if others:
        return f"{text}; valid options are: {', '.join(sorted(valid))}"
    return f"{text}; see help(gw.{cls.__name__}) for all options"


def make_config(**kwargs: Any) -> GANConfig:
    """Build and validate a GANConfig; unknown keys raise TypeError listing the valid ones."""
    return build_config(GANConfig, kwargs)


def make_vae_config(**kwargs: Any) -> VAEConfig:
    """Build and validate a VAEConfig; unknown keys raise TypeError listing the valid ones."""
    return build_config(VAEConfig, kwargs)


def _positive_int(name: str, value: Any, *, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _positive_float(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if value != value or value == float("inf"):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _finite_non_negative(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value < float("inf")
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def validate_config(c: RunConfig, *, resolved: bool = False) -> None:
    """Check the plain fields; data and model are checked when they are built. A GAN's "auto"
    fields may be None unless the config is `resolved` (a running run's: `Run.set`)."""
    if isinstance(c, GANConfig) and c.loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {c.loss!r}")
    if not isinstance(c.device, str) or not (
        c.device in DEVICES or re.fullmatch(r"cuda:\d+", c.device)
    ):
        raise ValueError(
            f"device must be one of {', '.join(DEVICES)} or 'cuda:N'; got {c.device!r}"
        )
    # A GAN's None means "suit the data and the loss" (DATA_DEFAULTS, LOSS_DEFAULTS).
    auto = isinstance(c, GANConfig) and not resolved
    _positive_int("latent_dim", c.latent_dim, allow_none=auto)
    _positive_int("image_size", c.image_size, minimum=4, allow_none=True)  # None: the data's
    _positive_int("channels", c.channels, allow_none=True)
    _positive_int("width", c.width)
    _positive_int("batch_size", c.batch_size, allow_none=auto)
    _positive_float("lr", c.lr, allow_none=auto)
    for name in ("beta1", "beta2"):
        value = getattr(c, name)
        if value is None and auto:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    if isinstance(c, GANConfig):
        _positive_float("lr_d", c.lr_d, allow_none=True)
        _positive_int("n_critic", c.n_critic, allow_none=auto)
        _finite_non_negative("gp_weight", c.gp_weight)
        _finite_non_negative("r1", c.r1, allow_none=auto)
        _positive_int("r1_every", c.r1_every)
        if not isinstance(c.augment, str):
            raise ValueError(
                f"augment must be a string like 'translation,cutout', got {c.augment!r}"
            )
        from .augment import parse_policy

        parse_policy(c.augment)  # ValueError naming the valid policies
        _positive_int("quality_every", c.quality_every, minimum=0)
        if c.inception_weights is not None and not isinstance(c.inception_weights, str):
            raise ValueError(
                "inception_weights must be a path string or 'auto', "
                f"got {type(c.inception_weights).__name__}"
            )
        if c.ema is not None and (
            isinstance(c.ema, bool) or not isinstance(c.ema, (int, float)) or not 0 <= c.ema < 1
        ):
            raise ValueError(f"ema must be a decay in [0, 1) (0 turns it off), got {c.ema!r}")
    if isinstance(c, VAEConfig):
        _validate_vae(c)
    _positive_int("max_steps", c.max_steps, allow_none=True)
    _positive_float("epochs", c.epochs, allow_none=True)
    if (
        isinstance(c.step_delay, bool)
        or not isinstance(c.step_delay, (int, float))
        or not 0 <= c.step_delay <= MAX_STEP_DELAY
    ):
        raise ValueError(
            f"step_delay must be a number of seconds in [0, {MAX_STEP_DELAY:g}], "
            f"got {c.step_delay!r}"
        )
    if isinstance(c.seed, bool) or not isinstance(c.seed, int) or c.seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {c.seed!r}")
    _positive_int("sample_every", c.sample_every, allow_none=True)  # None: by steps and time
    _positive_int("n_samples", c.n_samples)
    _positive_int("checkpoint_every", c.checkpoint_every, minimum=0)
    _finite_non_negative("checkpoint_every_seconds", c.checkpoint_every_seconds)
    _positive_int("log_every", c.log_every)
    if c.name is not None and not isinstance(c.name, str):
        raise ValueError(f"name must be a string, got {type(c.name).__name__}")
    if c.run_dir is not None and not isinstance(c.run_dir, (str,)):
        raise ValueError(f"run_dir must be a path string, got {type(c.run_dir).__name__}")


def _validate_vae(c: VAEConfig) -> None:
    if c.likelihood not in LIKELIHOODS:
        raise ValueError(
            f"likelihood must be one of {', '.join(LIKELIHOODS)}; got {c.likelihood!r}"
        )
    _finite_non_negative("beta", c.beta)
    _positive_int("beta_warmup", c.beta_warmup, minimum=0)
    _positive_float("likelihood_std", c.likelihood_std)
    value = c.test_fraction
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {value!r}")


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


def resolve_defaults(config: GANConfig, kind: str) -> GANConfig:
    """`config` with its "auto" (None) fields set for data of `kind` ("images" or "points")
    and for its loss."""
    defaults = {
        **DATA_DEFAULTS.get(kind, DATA_DEFAULTS["images"]),
        **LOSS_DEFAULTS.get(config.loss, LOSS_DEFAULTS["default"]),
    }
    changes = {k: v for k, v in defaults.items() if getattr(config, k) is None}
    return config.replace(**changes) if changes else config


# Fields whose change mid-run `Run.set` accepts on a GAN (each config class has `settable`).
SETTABLE = GANConfig.settable

__all__ = [
    "RunConfig",
    "GANConfig",
    "VAEConfig",
    "CONFIGS",
    "LOSSES",
    "LIKELIHOODS",
    "DEVICES",
    "SETTABLE",
    "build_config",
    "make_config",
    "make_vae_config",
    "validate_config",
    "DATA_DEFAULTS",
    "LOSS_DEFAULTS",
    "resolve_defaults",
    "field",
]
