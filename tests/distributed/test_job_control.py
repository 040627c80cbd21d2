"""A real torchrun job (2 gloo ranks) started from Python: pause, resume, stop, every command
acknowledged with its step, every process gone, a checkpoint on disk."""

from __future__ import annotations

import time

import genai_widgets as gw
from genai_widgets.engine.checkpoint import list_checkpoints
from genai_widgets.engine.remote import _pid_alive


def _until(predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_pause_resume_stop_on_two_ranks(tmp_path):
    run = gw.train_gan(
        data="digits",
        max_steps=400,
        nproc=2,
        batch_size=16,
        step_delay=0.05,
        run_dir=str(tmp_path / "job"),
    )
    try:
        assert isinstance(run, gw.RemoteRun)
        _until(lambda: run.step >= 3 and run.workers.get("ranks"))
        assert run.workers["world_size"] == 2
        run.pause()
        _until(lambda: run.status == "paused")
        paused_at = run.step
        time.sleep(1.5)
        assert run.step == paused_at  # no metric rows while paused
        run.resume()
        _until(lambda: run.step > paused_at)
        run.stop()
        assert run.wait(60) == "stopped"
        commands = run.commands
        assert [c["command"] for c in commands] == ["pause", "resume", "stop"]
        assert all(c["applied_step"] is not None for c in commands)
        pids = [r["pid"] for r in run.workers["ranks"]]
        _until(lambda: not any(_pid_alive(p) for p in pids), 30)
        assert list_checkpoints(run.run_dir)
    finally:
        run.kill(timeout=5)
