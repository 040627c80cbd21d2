"""Faults of a real torchrun job (2 gloo ranks) seen from the notebook's handle: a non-finite
loss on one rank pauses the job without applying the update, a worker that raises ends the
group with its traceback in `result()` and the dashboard, a SIGKILLed worker is named, and
with `max_restarts=1` torchrun restarts the group from the last checkpoint."""

from __future__ import annotations

import os
import signal
import sys

import cloudpickle
import numpy as np
import pytest
import torch
from harness.jobs import job_pids, small_job, until
from torch import nn

import genai_widgets as gw
from genai_widgets.engine.checkpoint import list_checkpoints
from genai_widgets.engine.remote import _pid_alive

NAN_AT_CALL = 40  # rank 1's critic returns NaN once, at this forward call (about step 13)
RAISE_AT_CALL = 110  # and raises from this call on (well after the resume)


def explode_on_rank_one(calls: int) -> None:
    """The user's bug: rank 1 alone fails, late in the run."""
    if os.environ.get("RANK") == "1" and calls >= RAISE_AT_CALL:
        raise RuntimeError(f"the user's critic broke at forward call {calls}")


class FlakyCritic(nn.Module):
    """A user's discriminator for 2-D points, defined here (shipped by value, as a notebook
    cell's class is): on rank 1 one NaN output, then an exception."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        explode_on_rank_one(self.calls)
        out = self.net(x)
        if os.environ.get("RANK") == "1" and self.calls == NAN_AT_CALL:
            out = out * float("nan")
        return out


def refuse_to_unpickle_in_a_worker() -> None:
    if "RANK" in os.environ:
        raise RuntimeError("this critic cannot be rebuilt in a worker")


class UnpicklableCritic(nn.Module):
    """Ships fine, but fails to unpickle in the workers: they die before they can record a
    failure, so the traceback comes from torchrun's log directory."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def __setstate__(self, state: dict) -> None:
        refuse_to_unpickle_in_a_worker()
        super().__setstate__(state)


def _by_value(make):
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)  # as a notebook cell's classes travel
    try:
        return make()
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def _generator() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def test_nan_then_raising_worker(tmp_path):
    """One job: rank 1's NaN pauses it (the update dropped on every rank, so training goes
    on after resume); then rank 1 raises: every process ends, status "failed", and the
    traceback naming the user's function is in result() and in the dashboard's state."""
    run = _by_value(
        lambda: gw.train_gan(
            data=torch.randn(256, 2),
            model=(_generator(), FlakyCritic()),
            latent_dim=8,
            max_steps=400,
            nproc=2,
            batch_size=16,
            step_delay=0.02,
            run_dir=str(tmp_path / "job"),
        )
    )
    try:
        until(lambda: run.status == "paused", what="the pause on rank 1's NaN")
        paused_at = run.step
        assert "non-finite loss" in run.message
        assert "not applied" in run.message
        run.resume()

        # Had the NaN update been applied, every later loss would be NaN and pause again.
        def pauses() -> int:
            return sum(e.kind == "NonFiniteLoss" for e in run.events_since(0)[1])

        until(lambda: run.step >= paused_at + 5 or pauses() > 1 or run.wait(0) == "failed")
        assert pauses() == 1 and run.step >= paused_at + 5
        assert run.wait(90) == "failed"
        assert not any(_pid_alive(p) for p in job_pids(run))
        assert run.message.startswith("rank 1 failed: RuntimeError: the user's critic broke")
        with pytest.raises(gw.WorkerError) as raised:
            run.result()
        text = str(raised.value)
        assert "explode_on_rank_one" in text and "Traceback (most recent call last)" in text
        board = run.dashboard()
        try:
            assert board.status == "failed"
            assert board.message == run.message
            assert "explode_on_rank_one" in board.error_text
        finally:
            board.close()  # its flusher thread ends with it
    finally:
        run.kill(timeout=5)


def test_sigkilled_worker_fails_the_job(tmp_path):
    run = small_job(tmp_path / "job", max_restarts=0)
    try:
        until(lambda: run.step >= 3 and run.workers.get("ranks"), what="the first steps")
        pids = job_pids(run)
        os.kill(run.workers["ranks"][1]["pid"], signal.SIGKILL)
        # The handle sees the dead pid at its next read, named by its rank.
        until(lambda: "rank 1" in (run.message or ""), 30, "the dead rank named")
        assert run.wait(60) == "failed"
        assert "worker rank 1" in run.message and "SIGKILL" in run.message
        until(lambda: not any(_pid_alive(p) for p in pids), 30, "every pid gone")
    finally:
        run.kill(timeout=5)


def test_restart_resumes_from_the_last_checkpoint(tmp_path):
    run = small_job(tmp_path / "job", max_steps=40, checkpoint_every=5, max_restarts=1)
    try:
        until(lambda: list_checkpoints(run.run_dir) and run.step >= 8, what="a checkpoint")
        killed_at = run.step
        os.kill(run.workers["ranks"][1]["pid"], signal.SIGKILL)
        seen: list[np.ndarray] = []

        def watch() -> bool:
            seen.append(np.asarray(run.history["step"]))
            return (
                run.workers.get("attempt") == 1 and run.step > killed_at or run.wait(0) == "failed"
            )

        until(watch, 120, "the restarted group past the kill point")
        assert run.wait(120) == "finished", run.message
        assert run.message is None
        assert run.step == 40
        steps = np.asarray(run.history["step"])
        assert steps.tolist() == list(range(1, 41))  # no duplicated or garbled steps
        for view in seen:  # nor at any moment the handle was read
            assert (np.diff(view) > 0).all()
        assert run.workers["attempt"] == 1
        # The second attempt started from a checkpoint (every 5 steps), not from scratch.
        starts = [e.step for e in run.events_since(0)[1] if e.kind == "RunStarted"]
        assert len(starts) == 2 and starts[0] == 0 and starts[1] > 0 and starts[1] % 5 == 0
        assert run.result() is not None
    finally:
        run.kill(timeout=5)


def test_worker_dead_before_its_record_shows_torchruns_log(tmp_path):
    run = _by_value(
        lambda: gw.train_gan(
            data=torch.randn(64, 2),
            model=(_generator(), UnpicklableCritic()),
            latent_dim=8,
            max_steps=5,
            nproc=2,
            batch_size=16,
            run_dir=str(tmp_path / "job"),
        )
    )
    try:
        assert run.wait(90) == "failed"
        assert "cannot be rebuilt in a worker" in run.message
        with pytest.raises(gw.WorkerError, match="refuse_to_unpickle_in_a_worker"):
            run.result()
        board = run.dashboard()
        try:
            assert "refuse_to_unpickle_in_a_worker" in board.error_text
        finally:
            board.close()  # its flusher thread ends with it
    finally:
        run.kill(timeout=5)
