"""Helpers shared by the magic tests (fixtures live in conftest.py)."""

from __future__ import annotations

import threading
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

TINY = "--data digits --image-size 16 --width 8 --batch-size 16 --latent-dim 16 --device cpu"


def threads_started_since(before: set[threading.Thread]) -> set[threading.Thread]:
    """Threads of this package (trainer, store, flusher) started after `before` was taken."""
    return {
        t
        for t in threading.enumerate()
        if t not in before and t.name.startswith("genai-widgets") and t.is_alive()
    }


def the_magics(shell: InteractiveShell) -> Any:
    return shell.magics_manager.registry["GANTrainMagics"]


class FakeRun:
    """Stands in for build_run's result where only the config matters."""

    def __init__(self, config: Any):
        self.config = config
        self.name = config.name or "fake"
        self.status = "stopped"

    def start(self) -> FakeRun:
        self.status = "running"
        return self

    def dashboard(self) -> Any:
        raise ImportError("no widgets here")

    def __repr__(self) -> str:
        return f"<FakeRun {self.name}>"
