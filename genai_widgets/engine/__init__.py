"""The headless engine: losses, the GAN and VAE steps, the `Run` thread that trains any model
family, its store and checkpoints. Nothing here imports a widget library."""

from __future__ import annotations

import importlib
from typing import Any

# Names load on first use (PEP 562): `engine.config` alone (the flags, `--help`) needs no torch.
_EXPORTS = {
    **dict.fromkeys(("build_run", "load_run", "train_gan", "train_vae"), "api"),
    "CheckpointError": "checkpoint",
    **dict.fromkeys(
        ("GANConfig", "RunConfig", "VAEConfig", "make_config", "make_vae_config"), "config"
    ),
    **dict.fromkeys(("Evaluator", "ModelCopies"), "evaluators"),
    "Family": "family",
    "GANFamily": "gan_family",
    **dict.fromkeys(("GANParts", "NonFiniteLossError", "gan_step"), "gan_step"),
    **dict.fromkeys(
        ("GANLoss", "HingeLoss", "MinimaxLoss", "NonSaturatingLoss", "WGANGPLoss", "get_loss"),
        "losses",
    ),
    **dict.fromkeys(("RUNS", "Event", "Run", "interpolate_latents"), "run"),
    "VAEFamily": "vae_family",
    **dict.fromkeys(("VAEParts", "elbo_terms", "vae_step"), "vae_step"),
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:  # a submodule not imported yet: the import system goes on
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "train_gan",
    "train_vae",
    "load_run",
    "build_run",
    "Run",
    "Event",
    "RUNS",
    "RunConfig",
    "GANConfig",
    "VAEConfig",
    "make_config",
    "make_vae_config",
    "Family",
    "GANFamily",
    "VAEFamily",
    "Evaluator",
    "ModelCopies",
    "GANParts",
    "gan_step",
    "VAEParts",
    "vae_step",
    "elbo_terms",
    "NonFiniteLossError",
    "CheckpointError",
    "GANLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "WGANGPLoss",
    "HingeLoss",
    "get_loss",
    "interpolate_latents",
]
