"""`gw.attach(run_dir)` on runs the terminal started: `python -m genai_widgets` alone (one
process, the control channel of a job of world size 1), with `--nproc 2` (the CLI launches the
torchrun job and tails it), and `torchrun ... -m genai_widgets` (every rank runs the CLI).
Each is watched and steered from this process: the step grows, pause / resume / stop are
acknowledged with their steps, and every process ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.jobs import until

import genai_widgets as gw
from genai_widgets.engine.checkpoint import list_checkpoints
from genai_widgets.engine.remote import _pid_alive

PACKAGE_ROOT = str(Path(gw.__file__).resolve().parents[1])
FLAGS = ["--data", "digits", "--max-steps", "400", "--batch-size", "16", "--device", "cpu"]
FLAGS += ["--step-delay", "0.05", "--sample-every", "50"]


def _start(command: list[str], run_dir: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, env.get("PYTHONPATH", "")])
    log = open(run_dir.parent / f"{run_dir.name}.log", "wb")  # noqa: SIM115 (the child's)
    try:
        return subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # as a terminal would: its own process group
        )
    finally:
        log.close()


def _attach(run_dir: Path, process: subprocess.Popen) -> gw.RemoteRun:
    def started() -> bool:
        assert process.poll() is None, (run_dir.parent / f"{run_dir.name}.log").read_text()
        return (run_dir / "config.json").exists()

    until(started, 120)
    return gw.attach(run_dir, timeout=120)


def _steer(run: gw.RemoteRun, world: int, stop=None) -> list[int]:
    """Watch the step grow, pause, resume, stop (`run.stop()`, or `stop()`: Ctrl-C in the
    terminal); returns every pid the job had."""
    until(lambda: run.step >= 3, 120)
    assert run.status == "running"
    assert run.workers["world_size"] == world
    run.pause()
    until(lambda: run.status == "paused")
    paused_at = run.step
    time.sleep(1.0)
    assert run.step == paused_at  # no rows while paused
    run.resume()
    until(lambda: run.step > paused_at)
    (stop or run.stop)()
    assert run.wait(90) == "stopped"
    commands = run.commands
    assert [c["command"] for c in commands][-3:] == ["pause", "resume", "stop"]
    assert all(c["applied_step"] is not None for c in commands)
    pids = [r["pid"] for r in run.workers["ranks"]]
    if run.workers.get("launcher_pid"):
        pids.append(run.workers["launcher_pid"])
    return pids


def _ended(process: subprocess.Popen, pids: list[int], run_dir: Path, code: int | None = 0) -> None:
    got = process.wait(90)
    assert code is None or got == code, (run_dir.parent / f"{run_dir.name}.log").read_text()
    until(lambda: not any(_pid_alive(p) for p in pids), 30)


def _cleanup(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def test_attach_to_a_single_process_cli_run(tmp_path):
    run_dir = tmp_path / "one"
    process = _start(
        [sys.executable, "-m", "genai_widgets", *FLAGS, "--run-dir", str(run_dir)], run_dir
    )
    try:
        run = _attach(run_dir, process)
        assert isinstance(run, gw.RemoteRun)
        pids = _steer(run, world=1)
        assert pids == [process.pid]
        _ended(process, pids, run_dir)
        assert gw.load_run(run_dir).status == "stopped"
    finally:
        _cleanup(process)


def test_attach_to_a_job_the_cli_launched(tmp_path):
    run_dir = tmp_path / "cli-job"
    command = [sys.executable, "-m", "genai_widgets", "--nproc", "2", *FLAGS]
    process = _start([*command, "--run-dir", str(run_dir)], run_dir)
    try:
        run = _attach(run_dir, process)
        # Ctrl-C in the CLI's terminal (the job's processes have their own session).
        pids = _steer(run, world=2, stop=lambda: os.killpg(process.pid, signal.SIGINT))
        _ended(process, [*pids, process.pid], run_dir)
        log = (run_dir.parent / f"{run_dir.name}.log").read_text()
        assert "on 2 processes (torchrun)" in log and "stopped at step" in log
    finally:
        _cleanup(process)


def test_attach_to_torchrun_running_the_cli(tmp_path):
    run_dir = tmp_path / "torchrun"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    torchrun += ["--nproc-per-node", "2", "-m", "genai_widgets"]
    process = _start([*torchrun, *FLAGS, "--run-dir", str(run_dir)], run_dir)
    try:
        run = _attach(run_dir, process)
        # Ctrl-C in torchrun's terminal: every process of the group gets SIGINT; rank 0
        # turns it into a stop command, so the job stops at a step boundary. (torchrun
        # itself reports the signal and exits non-zero: its own behaviour.)
        pids = _steer(run, world=2, stop=lambda: os.killpg(process.pid, signal.SIGINT))
        assert run.workers["launcher_pid"] == process.pid
        _ended(process, pids, run_dir, code=None)
        assert run.config.nproc == 2
        assert list_checkpoints(run_dir)
    finally:
        _cleanup(process)


def test_cli_job_whose_worker_is_killed_exits_1_and_says_why(tmp_path):
    run_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "genai_widgets", "--nproc", "2", *FLAGS]
    process = _start([*command, "--run-dir", str(run_dir)], run_dir)
    try:
        run = _attach(run_dir, process)
        until(lambda: run.step >= 3, 120)
        victim = next(r for r in run.workers["ranks"] if r["rank"] == 1)
        os.kill(victim["pid"], signal.SIGKILL)
        assert process.wait(120) == 1
        log = (run_dir.parent / f"{run_dir.name}.log").read_text()
        assert "failed at step" in log and "rank 1" in log, log
        assert run.wait(60) == "failed"
    finally:
        _cleanup(process)
