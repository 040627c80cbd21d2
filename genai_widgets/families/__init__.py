"""The package's own model families, one folder each: `gan/`, `vae/`, `text/`
and `hmm/`. Each registers
itself (`engine.registry.register_family`) when its `family` module is imported, and through
the `genai_widgets.families` entry points, the same doors an outside family uses.

Names load on first use (PEP 562): the configs (the magics' flags, `--help`) need no torch."""

from __future__ import annotations

import importlib
from typing import Any

#: The package's families: name -> the module that defines and registers it.
BUILTIN = {
    "gan": "genai_widgets.families.gan.family",
    "vae": "genai_widgets.families.vae.family",
    "text": "genai_widgets.families.text.family",
    "hmm": "genai_widgets.families.hmm.family",
}

_EXPORTS = {
    "GANConfig": ".gan.config",
    "make_config": ".gan.config",
    "GANFamily": ".gan.family",
    "train_gan": ".gan.api",
    "VAEConfig": ".vae.config",
    "make_vae_config": ".vae.config",
    "VAEFamily": ".vae.family",
    "train_vae": ".vae.api",
    "TextConfig": ".text.config",
    "make_text_config": ".text.config",
    "TextFamily": ".text.family",
    "train_text": ".text.api",
    "HMMConfig": ".hmm.config",
    "make_hmm_config": ".hmm.config",
    "HMMFamily": ".hmm.family",
    "train_hmm": ".hmm.api",
    "LatentConfig": ".config",
    "LatentFamily": ".latent",
}


def register_builtin() -> None:
    """Import (and so register) the package's own families."""
    for module in BUILTIN.values():
        importlib.import_module(module)


def __getattr__(name: str) -> Any:
    if name in ("build_run", "load_run"):  # the engine's, with the package's families registered
        register_builtin()
        value = getattr(importlib.import_module("genai_widgets.engine.api"), name)
        globals()[name] = value
        return value
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


__all__ = ["BUILTIN", "register_builtin", "build_run", "load_run", *_EXPORTS]
