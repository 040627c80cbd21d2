"""The headless engine every family shares: the `Run` thread (pause / resume / step / stop /
set), its history, store, snapshots, checkpoints and evaluators, the `RunConfig` base, the
`Family` contract and the family registry. It imports no family, widget or magic (a test
walks every import); the families (`genai_widgets.families`) plug into it."""

from __future__ import annotations

from .._lazy import lazy_exports

# Names load on first use (PEP 562): `engine.config` alone (the flags, `--help`) needs no torch.
_EXPORTS = {
    **dict.fromkeys(("attach", "build_run", "load_run"), "api"),
    **dict.fromkeys(("RemoteRun", "WorkerError"), "remote"),
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


__getattr__ = lazy_exports(__name__, {k: f".{v}" for k, v in _EXPORTS.items()})

__all__ = list(_EXPORTS)
