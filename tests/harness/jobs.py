"""Real torchrun jobs in tests: a small slow 2-rank GAN job, and waiting on one."""

from __future__ import annotations

import time
from typing import Any

#: A job slow enough to steer step by step (2 gloo ranks, small batches, 50 ms a step).
SMALL_JOB = {"data": "digits", "max_steps": 400, "nproc": 2, "batch_size": 16, "step_delay": 0.05}


def small_job(run_dir: Any, **options: Any) -> Any:
    """`gw.train_gan` on `SMALL_JOB`, `options` overriding it."""
    import genai_widgets as gw

    return gw.train_gan(**{**SMALL_JOB, **options, "run_dir": str(run_dir)})


def until(predicate: Any, timeout: float = 90.0, what: str = "") -> None:
    """Wait until `predicate()` is true; fail after `timeout` s, saying what was awaited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out{': ' + what if what else ''}"
        time.sleep(0.05)


def job_pids(run: Any) -> list[int]:
    """Every pid of the job's tree on this host: its ranks and its launcher."""
    return [r["pid"] for r in run.workers["ranks"]] + [run.workers["launcher_pid"]]
