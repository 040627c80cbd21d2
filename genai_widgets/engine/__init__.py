"""The headless engine every family shares: the `Run` thread (pause / resume / step / stop /
set), its history, store, snapshots, checkpoints and evaluators, the `RunConfig` base, the
`Family` contract and the family registry. It imports no family, widget or magic (a test
walks every import); the families (`genai_widgets.families`) plug into it."""

from __future__ import annotations

import importlib
from typing import Any

# Names load on first use (PEP 562): `engine.config` alone (the flags, `--help`) needs no torch.
_EXPORTS = {
    **dict.fromkeys(("build_run", "load_run"), "api"),
    "CheckpointError": "checkpoint",
    **dict.fromkeys(("RunConfig", "build_config", "validate_config"), "config"),
    **dict.fromkeys(("Evaluator", "ModelCopies"), "evaluators"),
    **dict.fromkeys(
        ("Built", "Capability", "CapabilityError", "Family", "NonFiniteLossError", "NoWeights"),
        "family",
    ),
    **dict.fromkeys(("families", "get_family", "register_family", "unregister_family"), "registry"),
    **dict.fromkeys(("RUNS", "Event", "Run"), "run"),
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:  # a submodule not imported yet: the import system goes on
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = list(_EXPORTS)
