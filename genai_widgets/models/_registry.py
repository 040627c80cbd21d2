"""The model registry, after torchvision's `models/_api.py`: builders registered by name."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, NamedTuple

from torch import nn

_BUILDERS: dict[str, Callable[..., Any]] = {}


class GANModels(NamedTuple):
    """A generator and its discriminator (or critic)."""

    generator: nn.Module
    discriminator: nn.Module


def register_model(name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: `@register_model("dcgan")` makes `get_model("dcgan", **kw)` call the builder."""

    def wrapper(builder: Callable[..., Any]) -> Callable[..., Any]:
        key = name or builder.__name__
        if key in _BUILDERS:
            raise ValueError(f"a model is already registered as {key!r}")
        _BUILDERS[key] = builder
        return builder

    return wrapper


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_BUILDERS)


def get_model(name: str, **kwargs: Any) -> Any:
    """Build the registered model `name` with the builder's keyword arguments."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    try:
        builder = _BUILDERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_BUILDERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}; registered models are: {', '.join(list_models())}.{hint}"
        ) from None
    return builder(**kwargs)
