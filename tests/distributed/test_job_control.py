"""A real torchrun job (2 gloo ranks) started from Python, steered through its whole control
round trip: set lr, pause for 2 s, resume, stop. Every command is acknowledged with its step,
no metric rows are written while paused, both ranks end with the same lr and the same weights
(their parameter checksums), the launcher exits 0, every process is gone, and the checkpoint
loads."""

from __future__ import annotations

import time

import torch
from harness.jobs import small_job, until

import genai_widgets as gw
from genai_widgets.engine.checkpoint import list_checkpoints
from genai_widgets.engine.remote import _pid_alive

NEW_LR = 3e-4


def _applied(run, n: int) -> bool:
    commands = run.commands
    return len(commands) >= n and commands[n - 1]["applied_step"] is not None


def test_control_round_trip_on_two_ranks(tmp_path):
    run = small_job(tmp_path / "job")
    try:
        assert isinstance(run, gw.RemoteRun)
        until(lambda: run.step >= 3 and run.workers.get("ranks"))
        assert run.workers["world_size"] == 2
        run.set(lr=NEW_LR)
        until(lambda: _applied(run, 1))
        run.pause()
        until(lambda: run.status == "paused")
        paused_at = run.step
        time.sleep(2.0)
        assert run.step == paused_at  # no metric rows while paused
        run.resume()
        until(lambda: run.step > paused_at)
        run.stop()
        assert run.wait(60) == "stopped"
        pids = [r["pid"] for r in run.workers["ranks"]]
        until(lambda: not any(_pid_alive(p) for p in pids), 30)
        assert run._process.wait(30) == 0  # the launcher's exit code

        commands = run.commands
        assert [c["command"] for c in commands] == ["set", "pause", "resume", "stop"]
        steps = [c["applied_step"] for c in commands]
        assert all(isinstance(s, int) for s in steps), commands
        assert steps == sorted(steps) and steps[1] <= paused_at < steps[3], commands
        assert commands[0]["args"] == {"lr": NEW_LR}

        final = run.ranks_final
        ranks = final["ranks"]
        assert [r["rank"] for r in ranks] == [0, 1] and final["agree"], final
        assert ranks[0]["checksum"] == ranks[1]["checksum"], ranks
        assert ranks[0]["lr"] == ranks[1]["lr"] == [NEW_LR, NEW_LR], ranks  # G's and D's groups
        assert ranks[0]["step"] == ranks[1]["step"] == steps[3]

        assert list_checkpoints(run.run_dir)
        loaded = gw.load_run(run.run_dir)
        assert loaded.step == steps[3]
        total = sum(
            p.detach().double().sum()
            for m in loaded.family.modules().values()
            for p in m.parameters()
        )
        assert torch.isclose(total, torch.tensor(ranks[0]["checksum"], dtype=torch.float64))
    finally:
        run.kill(timeout=5)


def test_a_fast_job_polls_every_few_steps_and_stays_in_step(tmp_path):
    """Hundreds of steps a second (the 2-D toy): the ranks read the channel only every few
    steps (the broadcast names the next poll step), and still apply each command together:
    a pause, two single steps of exactly one step each, resume, stop; the ranks agree."""
    run = gw.train_gan(
        data="ring", max_steps=100_000, nproc=2, batch_size=64, run_dir=str(tmp_path / "fast")
    )
    try:
        until(lambda: run.step >= 300)
        run.pause()
        until(lambda: run.status == "paused")
        paused_at = run.step
        assert run.step_once() == paused_at + 1
        assert run.step_once() == paused_at + 2
        run.resume()
        until(lambda: run.step > paused_at + 50)
        run.stop()
        assert run.wait(60) == "stopped"
        commands = run.commands
        assert [c["command"] for c in commands] == ["pause", "step", "step", "resume", "stop"]
        applied = [c["applied_step"] for c in commands]
        assert applied[:4] == [paused_at, paused_at, paused_at + 1, paused_at + 2], commands
        final = run.ranks_final
        assert final["agree"] and final["ranks"][0]["step"] == applied[4], final
    finally:
        run.kill(timeout=5)
