"""Helpers of the outside-family tests: the example family `examples/gmm_family.py`,
imported from its path as a user's notebook would (it registers itself), and waiting."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gmm_family.py"


def load_example() -> ModuleType:
    """Import examples/gmm_family.py as the module `gmm_family` (once per process)."""
    if "gmm_family" in sys.modules:
        return sys.modules["gmm_family"]
    spec = importlib.util.spec_from_file_location("gmm_family", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gmm_family"] = module
    spec.loader.exec_module(module)
    return module


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
