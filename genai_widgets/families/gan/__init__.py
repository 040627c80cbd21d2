"""The GAN family: `GANConfig` (config.py), `GANFamily` (family.py: build, step, checkpoint
state), the step written like the papers (step.py), the losses, DiffAugment, the generator's
weight average (ema.py) and the data-space frames of 2-D runs (data_space.py).

Names load on first use (PEP 562): `gan.config` alone (the flags) needs no torch."""

from __future__ import annotations

from ..._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("GANConfig", "LOSSES", "make_config", "resolve_defaults"), ".config"),
    "GANFamily": ".family",
    **dict.fromkeys(("GANParts", "gan_step", "metric_names"), ".step"),
    **dict.fromkeys(
        ("GANLoss", "HingeLoss", "MinimaxLoss", "NonSaturatingLoss", "WGANGPLoss", "get_loss"),
        ".losses",
    ),
    "train_gan": ".api",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
