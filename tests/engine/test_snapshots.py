"""When the fixed-noise grid is snapshotted. sample_every None ("auto"): every
AUTO_SAMPLE_STEPS steps, but at least every AUTO_SAMPLE_MAX_SECONDS when steps are slow and at
most one per AUTO_SAMPLE_MIN_SECONDS when they are fast; an integer is a plain step interval.
The thresholds are moved per test, so that each outcome follows from a lower bound on time
(slow motion waits at least step_delay) or from a threshold no test reaches, never from how
fast this machine happens to be."""

from __future__ import annotations

import pytest

import genai_widgets as gw
from genai_widgets.engine import run as run_module


@pytest.fixture
def thresholds(monkeypatch):
    def move(*, steps: int = 50, max_seconds: float = 3600.0, min_seconds: float = 0.0) -> None:
        monkeypatch.setattr(run_module, "AUTO_SAMPLE_STEPS", steps)
        monkeypatch.setattr(run_module, "AUTO_SAMPLE_MAX_SECONDS", max_seconds)
        monkeypatch.setattr(run_module, "AUTO_SAMPLE_MIN_SECONDS", min_seconds)

    return move


def test_auto_is_the_default_in_both_families():
    assert gw.GANConfig().sample_every is None and gw.VAEConfig().sample_every is None
    assert "sample_every" in gw.GANConfig.settable and "sample_every" in gw.VAEConfig.settable


def test_auto_snapshots_every_n_steps_when_time_does_not_intervene(tiny, thresholds):
    thresholds(steps=3)
    run = gw.train_gan(**tiny(max_steps=10))
    assert run.wait(60) == "finished", run.traceback_text
    assert list(run.snapshot_steps()) == [1, 3, 6, 9, 10]  # 10: the last step, always


def test_slow_steps_snapshot_by_time(tiny, thresholds):
    # Each step waits 0.06 s of slow motion, so each is more than max_seconds after the last.
    thresholds(steps=1000, max_seconds=0.05)
    run = gw.train_gan(**tiny(max_steps=5, step_delay=0.06))
    assert run.wait(60) == "finished", run.traceback_text
    assert list(run.snapshot_steps()) == [1, 2, 3, 4, 5]


def test_fast_steps_are_held_to_the_minimum_interval(tiny, thresholds):
    # No step comes min_seconds after the first snapshot: only the first and the last.
    thresholds(steps=2, min_seconds=3600.0)
    run = gw.train_gan(**tiny(max_steps=8))
    assert run.wait(60) == "finished", run.traceback_text
    assert list(run.snapshot_steps()) == [1, 8]


def test_an_integer_keeps_its_meaning_whatever_the_time(tiny, thresholds):
    thresholds(steps=1000, max_seconds=0.0, min_seconds=3600.0)  # auto would snapshot every step
    run = gw.train_gan(**tiny(max_steps=7, sample_every=3))
    assert run.wait(60) == "finished", run.traceback_text
    assert list(run.snapshot_steps()) == [1, 3, 6, 7]


def test_the_vae_prior_samples_follow_the_same_rule(tmp_path, thresholds):
    thresholds(steps=1000, max_seconds=0.05)
    run = gw.train_vae(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=4, device="cpu",
        max_steps=4, step_delay=0.06, run_dir=str(tmp_path / "vae-snapshots"),
    )  # fmt: skip
    assert run.wait(60) == "finished", run.traceback_text
    assert list(run.snapshot_steps()) == [1, 2, 3, 4]


def test_the_stored_history_stays_bounded(tiny, thresholds, monkeypatch):
    thresholds(steps=1000, max_seconds=0.0)  # auto: a snapshot after every step
    monkeypatch.setattr(run_module, "MAX_SNAPSHOTS", 6)
    run = gw.train_gan(**tiny(max_steps=30))
    assert run.wait(60) == "finished", run.traceback_text
    steps = list(run.snapshot_steps())
    assert len(steps) <= 7 and steps[0] == 1 and steps[-1] == 30
    reopened = gw.load_run(run.run_dir)
    assert list(reopened.snapshot_steps()) == steps  # the store was thinned the same way


def test_sample_every_is_settable_to_auto_and_back(tiny, thresholds, wait_until):
    thresholds(steps=1000, max_seconds=0.0)  # auto: due after every step
    run = gw.train_gan(**tiny(sample_every=1000))
    try:
        wait_until(lambda: run.step >= 2)
        run.pause()
        first = run.step_once()
        count = run.snapshot_count
        run.step_once()
        assert run.snapshot_count == count, "an explicit interval followed the time rule"
        run.set(sample_every=None)
        assert run.settings["sample_every"] is None
        run.step_once()
        assert run.snapshot_count == count + 1 and run.snapshot_steps()[-1] == first + 2
        run.set(sample_every=1000)
        run.step_once()
        assert run.snapshot_count == count + 1
        with pytest.raises(ValueError, match="sample_every must be an integer >= 1, got 0"):
            run.set(sample_every=0)
    finally:
        run.stop()
        run.wait(30)
