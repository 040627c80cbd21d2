"""Two torchrun launchers on 127.0.0.1 with `--nnodes 2`, one process each, joined by a c10d
rendezvous on a free port: this process starts one node (`gw.train_gan(nproc=1, nnodes=2)`)
and a subprocess the other (`run.node_command`). Either launcher may host global rank 0; both
share the run directory. The run trains and is steered like a one-node job."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness.jobs import until

import genai_widgets as gw
from genai_widgets.engine.remote import _pid_alive

PACKAGE_ROOT = str(Path(gw.__file__).resolve().parents[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_on_one_host_train_and_are_steered(tmp_path):
    run_dir = tmp_path / "two-nodes"
    run = gw.train_gan(
        data="digits",
        max_steps=400,
        nproc=1,
        nnodes=2,
        rdzv_endpoint=f"127.0.0.1:{_free_port()}",
        batch_size=16,
        step_delay=0.05,
        device="cpu",
        run_dir=str(run_dir),
    )
    command = shlex.split(run.node_command)
    assert command[command.index("--nnodes") + 1] == "2"
    command[0] = sys.executable
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, env.get("PYTHONPATH", "")])
    with open(tmp_path / "node2.log", "wb") as log:
        other = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        until(lambda: run.step >= 3 and run.workers.get("ranks"), 120)
        assert run.status == "running"
        assert run.workers["world_size"] == 2
        assert sorted(r["rank"] for r in run.workers["ranks"]) == [0, 1]
        run.pause()
        until(lambda: run.status == "paused")
        paused_at = run.step
        time.sleep(1.0)
        assert run.step == paused_at
        run.set(lr=1e-4)
        run.resume()
        until(lambda: run.step > paused_at)
        run.stop()
        assert run.wait(90) == "stopped"
        commands = run.commands
        assert [c["command"] for c in commands] == ["pause", "set", "resume", "stop"]
        assert all(c["applied_step"] is not None for c in commands)
        assert run.settings["lr"] == 1e-4
        assert other.wait(90) == 0, (tmp_path / "node2.log").read_text()
        pids = [r["pid"] for r in run.workers["ranks"]] + [run._process.pid, other.pid]
        until(lambda: not any(_pid_alive(p) for p in pids), 30)
    finally:
        run.kill(timeout=5)
        if other.poll() is None:
            os.killpg(other.pid, signal.SIGKILL)
            other.wait(30)
