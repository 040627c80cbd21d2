"""genai_widgets: train generative models in a background thread and watch them live in Jupyter.

    import genai_widgets as gw
    run = gw.train_gan(data="digits", max_steps=2000)   # returns at once
    run.dashboard()
"""

from __future__ import annotations

from typing import Any

from .data import get_dataset
from .engine import GANConfig, Run, load_run, train_gan
from .models import get_model, list_models, register_model

__version__ = "0.1.0"

_WIDGETS = ("LossCurve", "SampleGrid", "LatentExplorer", "DataSpace", "Dashboard")


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
    "train_gan", "load_run", "Run", "GANConfig", "get_dataset", "get_model", "list_models",
    "register_model", *_WIDGETS, "__version__",
]
