"""Waiting on a real run in tests."""

from __future__ import annotations

import time
from typing import Any


def settled_step(run: Any, quiet: float = 0.3, timeout: float = 30.0) -> int:
    """The step of a paused run once the step in flight (if any) has completed: the step has
    not moved for `quiet` seconds. A step that takes longer than that on a loaded machine is
    waited out; a run that never stops stepping fails after `timeout`."""
    end = time.monotonic() + timeout
    step = run.step
    while time.monotonic() < end:
        time.sleep(quiet)
        if run.step == step:
            return step
        step = run.step
    raise AssertionError(f"the run kept stepping for {timeout} s after pause() (step {step})")
