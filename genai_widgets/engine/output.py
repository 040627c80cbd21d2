"""Route text printed by background threads to the notebook cell that started them.

ipykernel 7.x sends thread output to the *latest* cell unless the thread sets the parent
message of the starting cell (ipykernel 7.4: `set_thread_parent`; 6.x / 7.1-7.3: `set_parent`)."""

from __future__ import annotations

import sys
from typing import Any


def capture_output_parent() -> tuple[Any, dict] | None:
    """In the cell's thread: the shell and the parent header of the executing cell (or None)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    get_parent = getattr(shell, "get_parent", None)
    parent = get_parent() if get_parent is not None else getattr(shell, "parent_header", None)
    if not parent:
        return None
    return shell, parent


def bind_output_parent(captured: tuple[Any, dict] | None) -> None:
    """In the background thread: make its stdout / display output belong to the captured cell."""
    if captured is None:
        return
    shell, parent = captured
    try:
        if hasattr(shell, "set_thread_parent"):
            shell.set_thread_parent(parent)  # this thread only (ipykernel >= 7.4)
        else:
            shell.set_parent(parent)
    except Exception:  # output routing must never break training
        pass
