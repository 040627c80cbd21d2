"""Fixtures for widget trait tests (no frontend): a real tiny run that trains until stopped,
a stub run and a message recorder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from widget_helpers import Recorder, StubRun, wait_until

import genai_widgets as gw


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A tiny digits GAN that trains until stopped (module scope: it starts once)."""
    run = gw.train_gan(
        data="digits",
        image_size=16,
        width=8,
        batch_size=16,
        latent_dim=16,
        max_steps=None,
        sample_every=5,
        n_samples=16,
        run_dir=tmp_path_factory.mktemp("run"),
    )
    wait_until(lambda: run.snapshot_count >= 2, 60, "two snapshots")
    yield run
    run.stop()
    run.wait(10)


@pytest.fixture
def stub_run() -> StubRun:
    return StubRun()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
