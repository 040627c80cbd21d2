"""Bad input for torchrun jobs: each gets one clear line, and nothing starts (no launcher, no
run directory left behind)."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

import genai_widgets as gw
from genai_widgets.engine.distributed import _lock_writer
from genai_widgets.engine.store import RunStore


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nproc": 0}, r"nproc must be an integer >= 1, got 0"),
        ({"nproc": 1.5}, r"nproc must be an integer >= 1, got 1.5"),
        ({"nproc": 2, "device": "cuda"}, r"nproc=2 on device='cuda' needs 2 GPUs"),
        ({"nproc": 2, "device": "mps"}, r"nproc=2 needs one device per process; Apple's MPS"),
        ({"nproc": 2, "batch_size": 33}, r"batch_size=33 .* divide by the 2 processes.*32 or 34"),
        ({"nnodes": 2}, r"nnodes=2 needs rdzv_endpoint='host:port'"),
        ({"nnodes": 2, "rdzv_endpoint": "nohost"}, r"rdzv_endpoint must be 'host:port'"),
        ({"nproc": 2, "max_restarts": -1}, r"max_restarts must be an integer >= 0"),
    ],
)
def test_bad_launch_fields(tmp_path, options, message):
    if options.get("device") == "cuda" and torch.cuda.device_count() >= 2:
        pytest.skip("this machine has the GPUs")
    run_dir = tmp_path / "job"
    with pytest.raises(ValueError, match=message):
        gw.train_gan(data="digits", run_dir=str(run_dir), **options)
    assert not run_dir.exists()


class _Holding(nn.Module):
    """A module that holds a lock: it cannot be pickled for the workers."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.lock = net, threading.Lock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_unshippable_model_names_what_and_why(tmp_path):
    generator = nn.Sequential(nn.Linear(64, 32 * 32), nn.Tanh(), nn.Unflatten(1, (1, 32, 32)))
    discriminator = _Holding(nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 1), nn.Flatten(0)))
    with pytest.raises(ValueError, match=r"cannot ship model=.*lock") as caught:
        gw.train_gan(
            data="digits",
            model=(generator, discriminator),
            nproc=2,
            run_dir=str(tmp_path / "job"),
        )
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "job" / "launch.pkl").exists()


def test_a_live_job_directory_is_refused(tmp_path):
    run_dir = tmp_path / "live"
    run_dir.mkdir()
    RunStore(run_dir).close()
    lock = _lock_writer(run_dir)  # what a live rank 0 holds while it writes the store
    try:
        with pytest.raises(RuntimeError, match=r"live job .*refusing to start a second writer"):
            gw.train_gan(data="digits", nproc=2, run_dir=str(run_dir))
        with pytest.raises(RuntimeError, match=r"another live job"):
            _lock_writer(run_dir)
    finally:
        lock.close()
