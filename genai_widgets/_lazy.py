"""Names a package loads on first use (PEP 562), so that importing it (the flags, `--help`)
costs no torch until something that needs torch is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `exports` maps a name to the (relative) module
    that defines it; the value is imported on first access and cached in the package."""

    def __getattr__(name: str) -> Any:
        if name not in exports:  # a submodule not imported yet: the import system goes on
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], package)
        value = getattr(module, name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__


def load_object(path: str) -> Any:
    """The object an import path "package.module:name" names (a family's dashboard)."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected an import path 'package.module:name', got {path!r}")
    return getattr(importlib.import_module(module_name), attr)
