import time

import pytest

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


@pytest.fixture(name="wait_until")
def _wait_until_fixture():
    return wait_until
