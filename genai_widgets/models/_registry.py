"""The model registry, after torchvision's `models/_api.py`: builders registered by name."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, NamedTuple

from torch import nn

_BUILDERS: dict[str, Callable[..., Any]] = {}
_FAMILIES: dict[str, str] = {}  # name -> "gan" | "vae" (absent: "gan")


class GANModels(NamedTuple):
    """A generator and its discriminator (or critic)."""

    generator: nn.Module
    discriminator: nn.Module


class VAEModels(NamedTuple):
    """An encoder (images -> mean and log-variance of q(z|x)) and a decoder (z -> images)."""

    encoder: nn.Module
    decoder: nn.Module


def register_model(
    name: str | None = None, *, family: str = "gan"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: `@register_model("dcgan")` makes `get_model("dcgan", **kw)` call the builder.
    `family` ("gan" or "vae") says which trainer the model is for."""

    def wrapper(builder: Callable[..., Any]) -> Callable[..., Any]:
        key = name or builder.__name__
        if key in _BUILDERS:
            raise ValueError(f"a model is already registered as {key!r}")
        _BUILDERS[key] = builder
        _FAMILIES[key] = family
        return builder

    return wrapper


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, sorted; only those of `family` ("gan", "vae") if given."""
    return sorted(n for n in _BUILDERS if family is None or model_family(n) == family)


def model_family(name: str) -> str:
    """The family ("gan" or "vae") a registered model belongs to."""
    return _FAMILIES.get(name, "gan")


_TRAINERS = {
    "gan": "gw.train_gan / %gan_train",
    "vae": "gw.train_vae / %vae_train",
    "text": "gw.train_text / %text_train",
}
_PAIRS = {
    "gan": "(generator, discriminator)",
    "vae": "(encoder, decoder)",
    "text": "an nn.Module mapping (B, T) ids to (B, T, vocab) logits",
}


def check_model_name(name: str, family: str) -> None:
    """ValueError unless `name` is a registered model of `family` ("gan" or "vae"), naming
    that family's models only (and the trainer a model of the other family belongs to)."""
    own = list_models(family)
    if name in own:
        return
    if name in _BUILDERS:
        other = model_family(name)
        raise ValueError(
            f"model {name!r} is a {other.upper()} model; a {family.upper()} needs one of "
            f"{', '.join(own)} (or train it with {_TRAINERS.get(other, other)})"
        )
    close = difflib.get_close_matches(name, own, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown model {name!r}; the registered {family.upper()} models are: {', '.join(own)}, "
        f"or pass your own model={_PAIRS.get(family, 'pair of modules')}.{hint}"
    )


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
