"""The VAE family: `VAEConfig` (config.py), `VAEFamily` (family.py: build, step, checkpoint
state, health checks), the negative ELBO step (step.py) and the encoding capability
(encoding.py: `run.encode`, `run.reconstruct`, `run.evaluate` ...).

Names load on first use (PEP 562): `vae.config` alone (the flags) needs no torch."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    **dict.fromkeys(("VAEConfig", "LIKELIHOODS", "make_vae_config"), ".config"),
    "VAEFamily": ".family",
    **dict.fromkeys(("VAEParts", "elbo_terms", "vae_step"), ".step"),
    "train_vae": ".api",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


__all__ = list(_EXPORTS)
