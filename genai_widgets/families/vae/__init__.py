"""The VAE family: `VAEConfig` (config.py), `VAEFamily` (family.py: build, step, checkpoint
state, health checks), the negative ELBO step (step.py) and the encoding capability
(encoding.py: `run.encode`, `run.reconstruct`, `run.evaluate` ...).

Names load on first use (PEP 562): `vae.config` alone (the flags) needs no torch."""

from __future__ import annotations

from ..._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("VAEConfig", "LIKELIHOODS", "make_vae_config"), ".config"),
    "VAEFamily": ".family",
    **dict.fromkeys(("VAEParts", "elbo_terms", "vae_step"), ".step"),
    "train_vae": ".api",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
