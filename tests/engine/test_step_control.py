"""Single step and slow motion: `run.step_once()` trains exactly one step of a paused run, and
`step_delay` (settable mid-run) waits after each step; pause, stop and a new delay cut the wait
short."""

from __future__ import annotations

import time

import pytest

import genai_widgets as gw
from genai_widgets.families.gan.config import SETTABLE, GANConfig, make_config


def paused_run(tiny, wait_until, **kw):
    run = gw.train_gan(**tiny(**kw))
    wait_until(lambda: run.step >= 2)
    run.pause()
    return run


def test_step_once_trains_exactly_one_step_and_stays_paused(tiny, wait_until):
    run = paused_run(tiny, wait_until)
    try:
        first = run.step_once()  # after the step that was under way when pause() came, if any
        assert run.status == "paused"
        rows = len(run.history["step"])
        assert run.step_once() == first + 1
        assert run.step == first + 1 and run.status == "paused"
        h = run.history
        assert len(h["step"]) == rows + 1 and h["step"][-1] == first + 1
        kinds = [e.kind for e in run.events_since(0)[1]]
        assert "RunResumed" not in kinds
    finally:
        run.stop()
        run.wait(30)


def test_each_call_asks_for_one_more_step(tiny, wait_until):
    run = paused_run(tiny, wait_until)
    try:
        base = run.step_once()
        for _ in range(3):
            run.step_once(wait=False)  # returns at once (a widget's comm thread must not wait)
        assert run.step_once() == base + 4
        assert run.step == base + 4
    finally:
        run.stop()
        run.wait(30)


def test_step_once_needs_a_paused_run(tiny, wait_until):
    run = gw.train_gan(**tiny())
    try:
        wait_until(lambda: run.step >= 1)
        with pytest.raises(RuntimeError, match="is running: pause it first"):
            run.step_once()
    finally:
        run.stop()
        run.wait(30)
    with pytest.raises(RuntimeError, match="is stopped"):
        run.step_once()


def test_step_once_stops_at_max_steps(tiny, wait_until):
    run = gw.train_gan(**tiny(max_steps=6))
    try:
        wait_until(lambda: run.step >= 2)
        run.pause()
        if run.status != "paused":  # it finished before the pause
            pytest.skip("the run finished first")
        while run.step < 6:
            run.step_once()
        with pytest.raises(RuntimeError, match="max_steps=6"):
            run.step_once()
        run.set(max_steps=7)
        assert run.step_once() == 7
    finally:
        run.stop()
        run.wait(30)


def test_step_delay_is_a_settable_validated_field():
    assert "step_delay" in SETTABLE and GANConfig().step_delay == 0.0
    assert make_config(step_delay=0.5).step_delay == 0.5
    for bad in (-0.1, float("nan"), 61.0, True, "1"):
        with pytest.raises(ValueError, match="step_delay"):
            make_config(step_delay=bad)


def test_slow_motion_waits_between_steps_and_a_new_delay_acts_at_once(tiny, wait_until):
    run = gw.train_gan(**tiny(step_delay=60.0))  # a minute per step: only the first one runs
    try:
        wait_until(lambda: run.step >= 1)
        time.sleep(0.5)
        assert run.step == 1, "the trainer did not wait after the step"
        assert run.settings["step_delay"] == 60.0
        with pytest.raises(ValueError, match="step_delay"):
            run.set(step_delay=-1)
        run.set(step_delay=0.0)  # ends the wait under way
        wait_until(lambda: run.step >= 5)
        run.set(step_delay=60.0)
        wait_until(lambda: run.settings["step_delay"] == 60.0)
        run.pause()  # a pause during the wait acts at once
        assert run.status == "paused"
        stepped = run.step_once()  # and single steps do not wait out the delay
        assert run.step_once() == stepped + 1
    finally:
        run.stop()
        assert run.wait(30) == "stopped"  # a stop during the wait acts at once too


def test_stop_during_slow_motion_acts_at_once(tiny, wait_until):
    run = gw.train_gan(**tiny(step_delay=60.0))
    wait_until(lambda: run.step >= 1)
    run.stop()
    assert run.wait(30) == "stopped" and run.step == 1
