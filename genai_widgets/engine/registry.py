"""The family registry: which kinds of generative model this process can train and reopen.

A family is a `Family` subclass with a `name` and a `config_class` (a `RunConfig` subclass).
The engine knows none of them by name: the package's own (GAN, VAE) register through the same
two doors an outside one uses:

- `register_family(MyFamily)` (also `gw.register_family`), from any code that runs first;
- an entry point in the group `genai_widgets.families` (``name = "package.module:MyFamily"``),
  loaded the first time a name is looked up and not found.

`gw.load_run` reads the family's name from a run directory's `config.json`, and the magics
derive `%%<name>_train` from each registered family's config."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import RunConfig
    from .family import Family

ENTRY_POINT_GROUP = "genai_widgets.families"
_NAME = re.compile(r"[a-z][a-z0-9_]*")

_FAMILIES: dict[str, type[Family]] = {}
_LISTENERS: list[Callable[[type[Family]], None]] = []
_lock = threading.RLock()
_entry_points_loaded = False


def register_family(family: type[Family], *, replace: bool = False) -> type[Family]:
    """Add a model family: `family` is a `Family` subclass with a lower-case `name` (the prefix
    of its magics, `%%<name>_train`) and a `config_class` (a `RunConfig` dataclass subclass whose
    `family` is the same name). Returns `family`, so it also works as a class decorator.
    Registering another class under a taken name raises unless `replace=True`."""
    from .config import RunConfig
    from .family import Family

    if not (isinstance(family, type) and issubclass(family, Family)):
        raise TypeError(
            f"register_family takes a Family subclass, got {family!r} ({type(family).__name__})"
        )
    name = family.name
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{family.__name__}.name must be a lower-case identifier such as 'gmm' "
            f"(it names the magic %%{{name}}_train), got {name!r}"
        )
    config_class = getattr(family, "config_class", None)
    if not (isinstance(config_class, type) and issubclass(config_class, RunConfig)):
        raise TypeError(
            f"{family.__name__}.config_class must be a RunConfig subclass, got {config_class!r}"
        )
    if config_class.family != name:
        raise ValueError(
            f"{family.__name__}.config_class.family is {config_class.family!r}; it must be "
            f"the family's name {name!r} (config.json records it, gw.load_run reads it back)"
        )
    with _lock:
        old = _FAMILIES.get(name)
        if old is not None and old is not family and not replace:
            if old.__qualname__ == family.__qualname__ and old.__module__ == family.__module__:
                pass  # the same class defined again (a notebook cell re-run): take the new one
            else:
                raise ValueError(
                    f"a model family named {name!r} is registered already "
                    f"({old.__module__}.{old.__qualname__}); pass replace=True to replace it"
                )
        _FAMILIES[name] = family
        listeners = list(_LISTENERS)
    for listener in listeners:  # e.g. the magics: %%<name>_train appears at once
        listener(family)
    return family


def on_register(listener: Callable[[type[Family]], None]) -> None:
    """Call `listener(family)` for every family registered now and later (the magics use it
    to add `%%<name>_train` for a family registered after `%load_ext genai_widgets`)."""
    with _lock:
        _LISTENERS.append(listener)
        current = list(_FAMILIES.values())
    for family in current:
        listener(family)


def remove_listener(listener: Callable[[type[Family]], None]) -> None:
    with _lock:
        if listener in _LISTENERS:
            _LISTENERS.remove(listener)


def unregister_family(name: str) -> None:
    """Remove a family registered under `name` (tests, notebooks redefining one)."""
    with _lock:
        _FAMILIES.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _FAMILIES:
                continue
            register_family(ep.load())


def get_family(name: str) -> type[Family]:
    """The family registered as `name`; KeyError naming the registered ones otherwise."""
    with _lock:
        if name not in _FAMILIES:
            _load_entry_points()
        if name in _FAMILIES:
            return _FAMILIES[name]
        known = ", ".join(sorted(_FAMILIES)) or "none"
    raise KeyError(
        f"no model family named {name!r} is registered (registered: {known}); an outside "
        f"family registers with gw.register_family(MyFamily) before its runs are built or loaded"
    )


def families() -> dict[str, type[Family]]:
    """Every registered family by name (the package's own and any outside one)."""
    _load_entry_points()
    with _lock:
        return dict(_FAMILIES)


def family_for_config(config: RunConfig) -> type[Family]:
    """The family a config builds: the registered one whose `config_class` it is."""
    return get_family(type(config).family)


__all__ = [
    "ENTRY_POINT_GROUP",
    "families",
    "family_for_config",
    "get_family",
    "on_register",
    "register_family",
    "remove_listener",
    "unregister_family",
]
