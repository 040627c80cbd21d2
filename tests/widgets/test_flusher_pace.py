"""The mechanisms that keep the dashboard cheap at high step rates (issue 18): the flusher
keeps its own CPU time under TICK_DUTY by ticking less often, a request from the page cuts a
backed-off wait short, and views that follow training pace themselves (`Pacer`).

No timing assertions on performance: the tests check what the flusher decides from the costs
it measures, with costs made large enough that a loaded machine cannot blur the decision."""

from __future__ import annotations

import threading
import time

import pytest
from widget_helpers import StubRun, wait_until

import genai_widgets as gw
from genai_widgets.widgets import flusher as flusher_module
from genai_widgets.widgets.flusher import (
    MIN_RATE_HZ,
    RATE_HZ,
    TICK_DUTY,
    TICKS_PER_STEP,
    UNCONFIRMED_S,
    Flusher,
    Pacer,
)


def burn(seconds: float) -> None:
    """Hold this thread's CPU for `seconds` of thread time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Target:
    """A FlushTarget that costs `cost` CPU seconds per tick, or as much inside a Pacer."""

    def __init__(self, cost: float = 0.0, pacer: Pacer | None = None):
        self.cost = cost
        self.pacer = pacer
        self.ticks: list[float] = []
        self.event = threading.Event()

    def _flush(self, tick) -> None:
        self.ticks.append(time.monotonic())
        if self.pacer is not None:
            with self.pacer.timed(tick):
                burn(self.cost)
        else:
            burn(self.cost)
        self.event.set()

    def _flush_failed(self, error: BaseException) -> None:
        raise error


@pytest.fixture
def flusher():
    run = StubRun()
    f = Flusher(run)
    f._test_run = run  # keep the run alive: the flusher holds it weakly
    yield f
    f.stop()


def test_cheap_ticks_run_at_the_full_rate(flusher):
    target = Target(cost=0.0)
    flusher.attach(target)
    wait_until(lambda: flusher.ticks >= 5, 10, "ticks")
    assert flusher.interval == pytest.approx(1.0 / RATE_HZ)
    assert flusher.tick_cost < TICK_DUTY / RATE_HZ  # well under the duty at full rate


def test_costly_ticks_back_off_to_the_duty_then_the_floor(flusher):
    # 20 ms of CPU a tick: the duty would allow one tick per 4 s; the floor keeps MIN_RATE_HZ.
    target = Target(cost=0.02)
    flusher.attach(target)
    wait_until(lambda: flusher.ticks >= 4, 20, "ticks")
    assert flusher.tick_cost >= 0.015
    assert flusher.interval == pytest.approx(1.0 / MIN_RATE_HZ)
    # A cost of 0.3 * TICK_DUTY a tick: the duty sets the pace between the bounds (0.3 s).
    for _ in range(30):
        flusher._pace(0.3 * TICK_DUTY)
    assert flusher.interval == pytest.approx(0.3, rel=0.05)


def test_a_slow_run_gets_at_most_two_ticks_a_step(flusher):
    # Cheap ticks, but the run steps every 0.4 s: ten ticks a second would show nothing new.
    run = flusher._test_run
    stepping = threading.Event()

    def train() -> None:
        while not stepping.wait(0.4):
            run.add_row(1.0)

    trainer = threading.Thread(target=train, daemon=True)
    trainer.start()
    try:
        flusher.attach(Target(cost=0.0))
        wait_until(lambda: run.step >= 10, 30, "steps")
        assert flusher.step_seconds is not None and flusher.step_seconds >= 0.3
        assert 1.0 / RATE_HZ < flusher.interval <= 1.0 / MIN_RATE_HZ
        ticks, step = flusher.ticks, run.step
        wait_until(lambda: run.step >= step + 5, 30, "more steps")
        assert flusher.ticks - ticks <= TICKS_PER_STEP * (run.step - step) + 2
        # Paused: the gap is not a step rate, and the floor still ticks once a second.
        run.status = "paused"
        wait_until(lambda: flusher._step_mark is None, 10, "the pause seen")
    finally:
        stepping.set()
        trainer.join()


def test_a_request_from_the_page_cuts_a_backed_off_wait_short(flusher, monkeypatch):
    # 60 ms a tick and a floor of one tick per 20 s: the duty puts the next tick >= 12 s away.
    monkeypatch.setattr(flusher_module, "MIN_RATE_HZ", 0.05)
    target = Target(cost=0.06)
    flusher.attach(target)
    wait_until(lambda: flusher.ticks >= 1 and flusher.interval > 10, 20, "backed off")
    time.sleep(0.2)  # the loop is asleep now
    target.event.clear()
    seen = len(target.ticks)
    poked = time.monotonic()
    flusher.poke()
    assert target.event.wait(10), "no tick after the poke"
    assert len(target.ticks) > seen
    assert target.ticks[-1] - poked < 10  # within 1 / RATE_HZ on an idle machine, not 20 s


def test_paced_views_do_not_count_as_the_flusher_s_own_cost(flusher):
    # A view that takes 20 ms inside its Pacer: the flusher's pace stays at the full rate, and
    # the view refreshes at most VIEW_DUTY of the time.
    pacer = Pacer(duty=0.01)
    target = Target(cost=0.02, pacer=pacer)
    flusher.attach(target)
    wait_until(lambda: flusher.ticks >= 4, 20, "ticks")
    assert flusher.tick_cost < 0.005
    assert flusher.interval < 1.0 / MIN_RATE_HZ
    assert pacer.cost >= 0.015 and pacer.interval >= 1.5


def test_pacer_decides_from_the_last_cost():
    pacer = Pacer(min_interval=0.5, duty=0.01)
    assert pacer.due(0.0)  # never run: due
    pacer.cost, pacer.last = 0.001, 100.0  # 1 ms: the minimum interval governs
    assert pacer.interval == 0.5
    assert not pacer.due(100.4) and pacer.due(100.5)
    pacer.cost = 0.05  # 50 ms: 1% duty means once per 5 s
    assert pacer.interval == pytest.approx(5.0)
    assert not pacer.due(104.0) and pacer.due(105.0)
    with pytest.raises(ValueError, match="duty must be in"):
        Pacer(duty=0.0)


def test_pacer_times_its_block_and_leaves_it_out_of_the_tick():
    pacer = Pacer()

    class FakeTick:
        paced_cpu = 0.0

    tick = FakeTick()
    for _ in range(2):
        with pacer.timed(tick):
            burn(0.01)
    assert pacer.last_cost >= 0.009 and tick.paced_cpu >= 0.018
    assert pacer.cost >= 0.009 and not pacer.due()


def test_one_slow_computation_alone_does_not_set_the_pace():
    # The first computation warms up (on a loaded CI VM a first scatter took 0.6 s); a later
    # one may wait on a busy machine. The pace follows the smaller of the last two.
    pacer = Pacer(duty=0.01)
    with pacer.timed():
        burn(0.15)  # alone it would mean 15 s; unconfirmed, it holds the view 10 s at most
    assert pacer.cost >= 0.14 and pacer.interval == UNCONFIRMED_S
    with pacer.timed():
        burn(0.002)
    assert pacer.cost < 0.02 and pacer.interval < 2.0
    with pacer.timed():
        burn(0.05)  # an outlier after a cheap one: still the cheap one's pace
    assert pacer.cost < 0.02
    with pacer.timed():
        burn(0.05)  # two costly in a row: the view is costly now, and backs off
    assert pacer.cost >= 0.045 and pacer.interval >= 4.5


def test_page_messages_and_trait_changes_poke_the_flusher(stub_run, monkeypatch):
    w = gw.LossCurve(stub_run)
    pokes = []
    monkeypatch.setattr(w._flusher, "poke", lambda: pokes.append(1))
    try:
        w._on_custom_message(w, {"type": "hello"}, [])
        assert len(pokes) == 1
        w.set_state({"smoothing": 0.3})
        assert len(pokes) == 2 and w.smoothing == 0.3
    finally:
        w.close()


def test_run_dashboard_takes_the_widget_s_traits(live_run):
    dash = live_run.dashboard(explorer_auto=False)
    try:
        assert dash.explorer_auto is False
    finally:
        dash.close()
    with pytest.raises(TypeError, match="unknown argument"):
        live_run.dashboard(no_such_trait=1)
