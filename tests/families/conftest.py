"""Fixtures for the outside-family tests: the example family, a config maker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from family_helpers import load_example


@pytest.fixture(scope="session")
def gmm() -> ModuleType:
    """The example module: GMMConfig, GMMFamily (registered as "gmm"), Mixture."""
    module = load_example()
    from genai_widgets.engine import registry

    registry.register_family(module.GMMFamily, replace=True)  # a test may have replaced it
    return module


@pytest.fixture
def gmm_config(gmm: ModuleType, tmp_path: Path) -> Callable[..., Any]:
    """GMMConfig(...) on the CPU in a fresh run directory under tmp_path."""
    counter = iter(range(1000))

    def make(**kw: Any) -> Any:
        kw.setdefault("run_dir", str(tmp_path / f"run{next(counter)}"))
        return gmm.GMMConfig(device="cpu", **kw)

    return make
