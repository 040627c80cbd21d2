"""The one configuration object a GAN run is built from.

`gw.train_gan(**kw)` and the `%%gan_train` magic both build a `GANConfig`; magic flags map one
to one onto its fields (`--latent-dim` -> `latent_dim`). Three fields default to None, "auto":
they take the value that suits the data (`DATA_DEFAULTS`) once the data is known.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any

LOSSES = ("nonsaturating", "minimax", "wgan-gp", "hinge")
DEVICES = ("auto", "cpu", "cuda", "mps")
INTERPOLATIONS = ("slerp", "lerp")
MAX_STEP_DELAY = 60.0  # seconds; slower than this is a pause


@dataclass(frozen=True)
class GANConfig:
    """Everything that defines a GAN run. Objects (datasets, modules) are allowed for `data`
    and `model`; everything else is plain JSON-able data."""

    data: Any = "digits"  # name, Dataset, DataLoader, tensor or image-folder path
    model: Any = "dcgan"  # registry name or a (generator, discriminator) pair
    loss: str = "nonsaturating"  # one of LOSSES
    latent_dim: int | None = None  # size of z, the generator's input; None: 64, or 2 for 2-D points
    image_size: int = 32  # side of the square images the models see (16, 32 or 64 for dcgan)
    channels: int | None = None  # image channels; None takes them from the data
    width: int = 64  # base number of feature maps in the dcgan convolutions
    batch_size: int | None = None  # real samples per D update; None: 64, or 256 for 2-D points
    lr: float | None = None  # Adam lr, both networks; None: 2e-4 (DCGAN), or 1e-3 for 2-D points
    lr_d: float | None = None  # discriminator learning rate if different from lr
    beta1: float = 0.5  # Adam beta1 (DCGAN paper: 0.5 is steadier than 0.9)
    beta2: float = 0.999  # Adam beta2
    n_critic: int = 1  # discriminator updates per generator update (5 is usual for wgan-gp)
    gp_weight: float = 10.0  # gradient-penalty weight for wgan-gp
    max_steps: int | None = None  # stop after this many generator updates
    epochs: float | None = None  # or after this many passes over the data
    step_delay: float = 0.0  # slow motion: seconds to wait after each step (0: full speed)
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    seed: int = 0  # seeds weights, data order and the fixed sample noise
    name: str | None = None  # shown in dashboards; defaults to a time stamp
    run_dir: str | None = None  # where config, metrics and checkpoints go; None: ./runs/<name>
    sample_every: int = 50  # steps between fixed-noise sample snapshots
    n_samples: int = 64  # fixed-noise samples per snapshot (the grid)
    checkpoint_every: int = 500  # steps between checkpoints (0: only on save/stop)
    log_every: int = 1  # steps between metric rows written to the store

    def replace(self, **changes: Any) -> GANConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Plain data for config.json; objects are recorded by their type, not pickled."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or isinstance(value, (str, int, float, bool)):
                out[f.name] = value
            elif isinstance(value, (tuple, list)):
                out[f.name] = f"<{', '.join(type(v).__name__ for v in value)}>"
            else:
                out[f.name] = f"<{type(value).__name__}>"
        return out


def config_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(GANConfig))


def make_config(**kwargs: Any) -> GANConfig:
    """Build and validate a GANConfig; unknown keys raise TypeError listing the valid ones."""
    valid = {f.name for f in dataclasses.fields(GANConfig)}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(map(repr, unknown))}; "
            f"valid options are: {', '.join(sorted(valid))}"
        )
    if "run_dir" in kwargs and isinstance(kwargs["run_dir"], os.PathLike):
        kwargs["run_dir"] = os.fspath(kwargs["run_dir"])
    config = GANConfig(**kwargs)
    validate_config(config)
    return config


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


def validate_config(c: GANConfig) -> None:
    """Check the plain fields; data and model are checked when they are built."""
    if c.loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {c.loss!r}")
    if not isinstance(c.device, str) or not (c.device in DEVICES or re.fullmatch(r"cuda:\d+", c.device)):
        raise ValueError(
            f"device must be one of {', '.join(DEVICES)} or 'cuda:N'; got {c.device!r}"
        )
    _positive_int("latent_dim", c.latent_dim, allow_none=True)
    _positive_int("image_size", c.image_size, minimum=4)
    _positive_int("channels", c.channels, allow_none=True)
    _positive_int("width", c.width)
    _positive_int("batch_size", c.batch_size, allow_none=True)
    _positive_float("lr", c.lr, allow_none=True)
    _positive_float("lr_d", c.lr_d, allow_none=True)
    for name in ("beta1", "beta2"):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    _positive_int("n_critic", c.n_critic)
    if (
        isinstance(c.gp_weight, bool)
        or not isinstance(c.gp_weight, (int, float))
        or not 0 <= c.gp_weight < float("inf")
    ):
        raise ValueError(f"gp_weight must be a finite number >= 0, got {c.gp_weight!r}")
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
    _positive_int("sample_every", c.sample_every)
    _positive_int("n_samples", c.n_samples)
    _positive_int("checkpoint_every", c.checkpoint_every, minimum=0)
    _positive_int("log_every", c.log_every)
    if c.name is not None and not isinstance(c.name, str):
        raise ValueError(f"name must be a string, got {type(c.name).__name__}")
    if c.run_dir is not None and not isinstance(c.run_dir, (str,)):
        raise ValueError(f"run_dir must be a path string, got {type(c.run_dir).__name__}")


# What the "auto" (None) fields become, by the kind of data. Images: the DCGAN paper's settings.
# 2-D points: GAN Lab's 2-D latent plane (the data-space view's mesh is then the whole latent
# space), and the batch and learning rate with which the MLP GAN covers the ring's 8 and the
# grid's 25 modes within a few thousand steps (benchmarks/toy2d.py; README).
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "images": {"latent_dim": 64, "batch_size": 64, "lr": 2e-4},
    "points": {"latent_dim": 2, "batch_size": 256, "lr": 1e-3},
}


def resolve_defaults(config: GANConfig, kind: str) -> GANConfig:
    """`config` with its "auto" (None) fields set for data of `kind` ("images" or "points")."""
    defaults = DATA_DEFAULTS.get(kind, DATA_DEFAULTS["images"])
    changes = {k: v for k, v in defaults.items() if getattr(config, k) is None}
    return config.replace(**changes) if changes else config


# Fields whose change mid-run `Run.set` accepts.
SETTABLE = (
    "lr",
    "lr_d",
    "n_critic",
    "gp_weight",
    "max_steps",
    "sample_every",
    "beta1",
    "beta2",
    "step_delay",
)

__all__ = [
    "GANConfig",
    "LOSSES",
    "DEVICES",
    "SETTABLE",
    "DATA_DEFAULTS",
    "make_config",
    "resolve_defaults",
    "validate_config",
    "field",
]
