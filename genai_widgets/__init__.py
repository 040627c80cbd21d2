"""genai_widgets: train generative models in a background thread and watch them live in Jupyter.

import genai_widgets as gw
run = gw.train_gan(data="digits", max_steps=2000)   # returns at once
run.dashboard()
vae = gw.train_vae(data="digits", latent_dim=16, beta=1.0, max_steps=2000)
text = gw.train_text(data="python-docs", max_steps=2000); text.generate("def ")
hmm = gw.train_hmm(data="casino", n_states=2, restarts=10); hmm.transmat
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Every name loads on first use (PEP 562), so `python -m genai_widgets --help` and the magics'
# flag parsing answer without importing torch; `gw.train_gan` imports what it needs.
_WIDGETS = (
    "LossCurve",
    "SampleGrid",
    "LatentExplorer",
    "Controls",
    "DataSpace",
    "Dashboard",
    "VAEDashboard",
    "LatentScatter",
    "RunDashboard",
    "TextDashboard",
    "HMMDashboard",
)
_LAZY = {
    "get_dataset": ".data",
    **dict.fromkeys(
        (
            "GANConfig",
            "VAEConfig",
            "TextConfig",
            "HMMConfig",
            "load_run",
            "train_gan",
            "train_vae",
            "train_text",
            "train_hmm",
            "build_run",
        ),
        ".families",
    ),
    **dict.fromkeys(
        ("Run", "RunConfig", "Family", "Capability", "CapabilityError", "Built"), ".engine"
    ),
    **dict.fromkeys(("attach", "RemoteRun", "WorkerError"), ".engine"),
    **dict.fromkeys(("register_family", "NonFiniteLossError"), ".engine"),
    **dict.fromkeys(("get_model", "list_models", "register_model"), ".models"),
    **dict.fromkeys(_WIDGETS, ".widgets"),  # widgets import anywidget
}
_SUBPACKAGES = ("data", "engine", "families", "quality", "models", "widgets", "magics")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:  # `gw.engine.build_run` without importing it first
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'genai_widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBPACKAGES})


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext genai_widgets`: registers the training magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "train_gan",
    "train_vae",
    "train_hmm",
    "load_run",
    "build_run",
    "attach",
    "RemoteRun",
    "WorkerError",
    "register_family",
    "Run",
    "RunConfig",
    "Family",
    "Capability",
    "CapabilityError",
    "Built",
    "NonFiniteLossError",
    "GANConfig",
    "VAEConfig",
    "HMMConfig",
    "get_dataset",
    "get_model",
    "list_models",
    "register_model",
    *_WIDGETS,
    "__version__",
]
