"""genai_widgets: train generative models in a background thread and watch them live in Jupyter.

import genai_widgets as gw
run = gw.train_gan(data="digits", max_steps=2000)   # returns at once
run.dashboard()
vae = gw.train_vae(data="digits", latent_dim=16, beta=1.0, max_steps=2000)
"""

from __future__ import annotations

from typing import Any

from .data import get_dataset
from .engine import GANConfig, Run, VAEConfig, load_run, train_gan, train_vae
from .models import get_model, list_models, register_model

__version__ = "0.1.0"

_WIDGETS = (
    "LossCurve",
    "SampleGrid",
    "LatentExplorer",
    "Controls",
    "DataSpace",
    "Dashboard",
    "VAEDashboard",
    "LatentScatter",
)


def __getattr__(name: str) -> Any:
    # Widgets import anywidget; keep `import genai_widgets` light for headless use.
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'genai_widgets' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext genai_widgets`: registers the training magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "train_gan",
    "train_vae",
    "load_run",
    "Run",
    "GANConfig",
    "VAEConfig",
    "get_dataset",
    "get_model",
    "list_models",
    "register_model",
    *_WIDGETS,
    "__version__",
]
