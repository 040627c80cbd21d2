"""A run continues with another world size: one process -> a 2-rank torchrun job -> one
process again, each from the last checkpoint the one before wrote (rank 0 writes them)."""

from __future__ import annotations

import numpy as np
import pytest

import genai_widgets as gw
from genai_widgets.engine.checkpoint import list_checkpoints


def test_one_process_then_two_ranks_then_one(tmp_path):
    run_dir = str(tmp_path / "grow")
    local = gw.train_gan(data="digits", max_steps=4, batch_size=16, run_dir=run_dir)
    assert local.wait(120) == "finished"

    job = gw.load_run(run_dir, nproc=2)
    try:
        assert isinstance(job, gw.RemoteRun) and job.step == 4
        job.set(max_steps=8)  # sent before the launch: applied before the job's first step
        job.resume()
        assert job.wait(120) == "finished", job.message
        assert job.step == 8 and job.workers["world_size"] == 2
        assert [c["applied_step"] for c in job.commands] == [4]
    finally:
        job.kill(timeout=5)
    assert len(list_checkpoints(run_dir)) >= 2

    again = gw.load_run(run_dir)  # the job's checkpoint, in this process
    assert type(again) is gw.Run and again.step == 8
    again.set(max_steps=10)
    again.resume()
    assert again.wait(120) == "finished"
    steps = again.history["step"]
    np.testing.assert_array_equal(steps, np.arange(1, 11))  # no step lost or repeated


def test_resume_as_job_bad_input(tmp_path):
    with pytest.raises(TypeError, match="nnodes"):
        gw.load_run(str(tmp_path), nproc=2, nprocs=3)
    with pytest.raises(FileNotFoundError):
        gw.load_run(str(tmp_path / "none"), nproc=2)
