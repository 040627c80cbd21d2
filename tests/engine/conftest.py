import time

import pytest
import torch
from harness.runs import settled_step

TINY = dict(data="digits", image_size=16, width=8, batch_size=16, latent_dim=16, device="cpu")


@pytest.fixture
def tiny(tmp_path):
    """Keyword arguments for a fast CPU run in its own directory."""
    counter = iter(range(1000))
    return lambda **kw: dict(TINY, run_dir=str(tmp_path / f"run{next(counter)}"), **kw)


def wait_until(predicate, timeout=30.0, interval=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(name="settled_step")
def _settled_step_fixture():
    return settled_step


@pytest.fixture(name="wait_until")
def _wait_until_fixture():
    return wait_until


class NaNAfter(torch.nn.Module):
    """A discriminator for 16x16 grey images whose output turns NaN after `after` calls."""

    def __init__(self, after: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 1))
        self.calls, self.after = 0, after

    def forward(self, x):
        self.calls += 1
        out = self.net(x)
        return out * float("nan") if self.calls > self.after else out


@pytest.fixture(name="NaNAfter")
def _nan_after():
    return NaNAfter
