"""What a failed job's handle shows, from the files a failed job leaves: rank 1's traceback
(failures/rank1.json, as `worker_main` writes it), workers whose pids have ended. The
dashboard's "Run failed" panel shows the traceback, and `result()` raises it. No process is
started: the real fault path (a raising worker under torchrun) is tested with the jobs."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

import genai_widgets as gw
from genai_widgets.engine.api import build_run
from genai_widgets.engine.config import build_config
from genai_widgets.engine.store import RunStore


def test_a_failed_job_shows_the_workers_traceback(tmp_path):
    config = build_config(
        gw.GANConfig,
        {"data": "digits", "image_size": 16, "width": 8, "batch_size": 16, "latent_dim": 8,
         "nproc": 2, "max_steps": 10, "run_dir": str(tmp_path / "job")},
    )  # fmt: skip
    run = build_run(config)  # the handle, not started
    assert isinstance(run, gw.RemoteRun)
    dead = subprocess.Popen(["true"])  # a pid that is gone (reaped)
    dead.wait()
    host = socket.gethostname()
    started = time.time() - 5
    store = RunStore(run.run_dir)
    store.set_meta(
        "workers",
        {"world_size": 2, "launcher_pid": dead.pid, "attempt": 0, "started": started,
         "ranks": [{"rank": 0, "pid": dead.pid, "host": host},
                   {"rank": 1, "pid": dead.pid, "host": host}]},
    )  # fmt: skip
    store.flush()
    store.close()
    folder = run.run_dir / "failures"
    folder.mkdir()
    text = 'Traceback (most recent call last):\n  File "model.py", line 3\nValueError: boom\n'
    (folder / "rank1.json").write_text(
        json.dumps({"rank": 1, "pid": dead.pid, "host": host, "time": started + 1,
                    "error": "ValueError: boom", "traceback": text})
    )  # fmt: skip

    run._refresh()
    assert run.status == "failed"
    assert "rank 1 failed: ValueError: boom" in run.message
    assert run.traceback_text == f"rank 1's traceback:\n{text}"
    controls = gw.Controls(run)
    try:
        assert controls.error_text == run.traceback_text  # the dashboard's "Run failed" panel
    finally:
        controls.close()
    with pytest.raises(gw.WorkerError, match="boom"):
        run.result(timeout=5)
