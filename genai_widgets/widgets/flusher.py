"""The one thread per displayed run that writes widget state.

Widgets never hear from the trainer. A `Flusher` polls its run at most `RATE_HZ` times a second,
reads what changed once (`Tick`) and lets every widget attached to that run write its traits
and send its messages. Comm callbacks (button clicks, slider moves, possibly on a kernel
subshell thread) only record requests under a lock and `poke` the flusher, which acts on them
at its next tick.

What it costs the trainer. Every millisecond the flusher holds the GIL (traitlets, packing,
JSON, PNG encoding, comm sends) is a millisecond a Python-bound trainer (a small model, or any
model on a GPU, where the trainer's thread is launching kernels) waits. So the flusher keeps
its own CPU time under `TICK_DUTY` of the wall clock: it measures each tick's thread CPU time
and, when ticks cost more, ticks less often, down to `MIN_RATE_HZ`. A request from the page
(`poke`) is answered within 1 / `RATE_HZ` whatever the pace. Views computed from the weights
(the explorer following training, a VAE's reconstructions, a text model's attention) pace
themselves the same way with a `Pacer`: each recomputes at most `VIEW_DUTY` of the time.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from ..engine.output import bind_output_parent, capture_output_parent
from ..engine.threads import stop_at_exit

RATE_HZ = 10.0
"""At most this many ticks a second (the widgets' update rate when ticks are cheap)."""
MIN_RATE_HZ = 1.0
"""At least this many ticks a second, however much a tick costs. One a second: a dashboard
whose ticks cost 3 ms (the HMM's matrices and posterior ribbon at each EM iteration) would
spend 0.6% of the wall clock at two, twice `TICK_DUTY`."""
TICK_DUTY = 0.003
"""The flusher's own CPU time, at most this share of the wall clock (averaged over ticks)."""
TICKS_PER_STEP = 2.0
"""At most this many ticks per training step (within the bounds above): a model that steps
twice a second gains nothing from ten updates a second, and each wake-up takes a core from the
trainer's OpenMP team. A request from the page still gets its tick at once (`Flusher.poke`)."""
VIEW_DUTY = 0.01
"""A view that follows training (`Pacer`) recomputes at most this share of the wall clock."""
UNCONFIRMED_S = 10.0
"""After a view's first computation, its next comes within this many seconds at most (or its
`min_interval`), however long the first took; from the second on, the costs set the pace."""
TERMINAL = ("finished", "stopped", "failed")


class FlushTarget(Protocol):
    def _flush(self, tick: Tick) -> None: ...
    def _flush_failed(self, error: BaseException) -> None: ...


class Tick:
    """What the flusher read from the run at one tick; shared by all its widgets.

    Expensive reads (the whole history) happen at most once per tick, and only if a widget
    asks for them."""

    def __init__(self, run: Any, previous: Tick | None):
        self.run = run
        self.time = time.monotonic()
        self.version: int = run.version
        self.status: str = run.status
        self.step: int = int(run.step)
        self.snapshot_count: int = int(run.snapshot_count)
        prev_status = previous.status if previous is not None else None
        self.ended = self.status in TERMINAL and prev_status not in TERMINAL
        self.changed = previous is None or previous.version != self.version or self.ended
        self._history: dict[str, np.ndarray] | None = None
        self._snapshot_steps: np.ndarray | None = None
        self.paced_cpu = 0.0  # thread CPU seconds of paced views in this tick (not the tick's)

    def history(self) -> dict[str, np.ndarray]:
        if self._history is None:
            self._history = self.run.history
        return self._history

    def snapshot_steps(self) -> np.ndarray:
        if self._snapshot_steps is None or len(self._snapshot_steps) != self.snapshot_count:
            self._snapshot_steps = np.asarray(self.run.snapshot_steps())
        return self._snapshot_steps


class Pacer:
    """When a view that follows training may recompute: at most `duty` of the wall clock goes
    to it, judged by what its last computation took, and never more often than `min_interval`
    seconds. On a GPU a refresh takes a millisecond and the view follows closely; on a 2-core
    CPU where it takes 50 ms it refreshes every 5 s rather than slow the trainer.

    The cost that sets the pace is the smaller of the last two computations' wall times, so
    one slow computation (one that waited on a busy machine) does not hold the view still for
    a hundred times its length. The first computation, which also warms caches up, holds it
    for at most `UNCONFIRMED_S`: on a loaded 2-core VM a first scatter of 0.6 s would
    otherwise freeze the view for a minute.

    ``if pacer.due(tick.time): with pacer.timed(tick): compute()``. Work the user asked for
    (a click, a slider) runs at once; time it too, so the pace accounts for it."""

    def __init__(self, min_interval: float = 0.0, duty: float = VIEW_DUTY):
        if not 0.0 < duty <= 1.0:
            raise ValueError(f"duty must be in (0, 1], got {duty!r}")
        self.min_interval = float(min_interval)
        self.duty = duty
        self.cost = 0.0  # the pace's cost: min of the last two computations (wall seconds)
        self.last_cost: float | None = None  # wall seconds of the last computation
        self.computations = 0
        self.last = -float("inf")  # time.monotonic() when it ended

    @property
    def interval(self) -> float:
        """Seconds from the end of one computation to the next."""
        paced = max(self.min_interval, self.cost / self.duty)
        if self.computations < 2:  # one measurement alone: the warm-up, maybe an outlier
            return min(paced, max(self.min_interval, UNCONFIRMED_S))
        return paced

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) - self.last >= self.interval

    @contextlib.contextmanager
    def timed(self, tick: Tick | None = None) -> Iterator[None]:
        """Time the computation in the block; its thread CPU time is left out of `tick`'s own
        cost (the flusher's pace), being the view's."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            cost = time.perf_counter() - wall
            self.cost = cost if self.last_cost is None else min(self.last_cost, cost)
            self.last_cost = cost
            self.computations += 1
            self.last = time.monotonic()
            if tick is not None:
                tick.paced_cpu += time.thread_time() - cpu


class Flusher:
    """Polls one run and flushes every widget attached to it; the thread ends when the last
    widget is closed. Get it with `Flusher.for_run(run)`."""

    _registry: dict[int, Flusher] = {}
    _registry_lock = threading.Lock()

    def __init__(self, run: Any, rate_hz: float = RATE_HZ):
        self._run_ref = weakref.ref(run)
        self.interval = 1.0 / rate_hz
        self._lock = threading.Lock()
        self._widgets: list[FlushTarget] = []
        self._thread: threading.Thread | None = None
        self.min_interval = self.interval
        self._wake = threading.Event()
        self._poked = False  # a request from the page waits for the next tick
        self._stopped = False
        self._parent: Any = None
        self.ticks = 0  # flushes done; tests and the benchmark read it
        self.cpu_seconds = 0.0  # this thread's CPU time in ticks, paced views left out
        self.tick_cost = 0.0  # its moving average per tick (seconds): what sets the pace
        self.step_seconds: float | None = None  # moving average of the run's seconds per step
        self._step_mark: tuple[int, float] | None = None  # (step, time) it last changed

    @classmethod
    def for_run(cls, run: Any) -> Flusher:
        with cls._registry_lock:
            flusher = cls._registry.get(id(run))
            if flusher is None or flusher._run_ref() is not run:
                flusher = cls._registry[id(run)] = cls(run)
            return flusher

    @classmethod
    def active(cls) -> list[Flusher]:
        with cls._registry_lock:
            return [f for f in cls._registry.values() if f.alive]

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def widget_count(self) -> int:
        with self._lock:
            return len(self._widgets)

    def capture_parent(self) -> None:
        """Called in the cell that displays a widget: text the flusher prints goes there."""
        parent = capture_output_parent()
        if parent is not None:
            self._parent = parent

    def attach(self, widget: FlushTarget) -> None:
        self.capture_parent()
        with self._lock:
            if widget not in self._widgets:
                self._widgets.append(widget)
            if self._thread is None:  # the loop clears it, under this lock, when it ends
                self._stopped = False
                run = self._run_ref()
                name = getattr(run, "name", "run")
                self._thread = threading.Thread(
                    target=self._loop, name=f"genai-widgets-flusher-{name}", daemon=True
                )
                self._thread.start()
                stop_at_exit(self.stop)  # it may be inside torch when a script ends

    def detach(self, widget: FlushTarget) -> None:
        with self._lock:
            if widget in self._widgets:
                self._widgets.remove(widget)
            if not self._widgets:
                self._wake.set()  # let the loop see it has nothing left to do

    def poke(self) -> None:
        """A request from the page (a click, a slider): tick within 1 / RATE_HZ, however far
        the flusher has backed off."""
        self._poked = True
        self._wake.set()

    def _pace(self, cost: float) -> None:
        """Set the interval from this tick's CPU time (at most TICK_DUTY of the wall clock) and
        the run's step rate (at most TICKS_PER_STEP ticks a step)."""
        self.cpu_seconds += cost
        self.tick_cost = cost if self.ticks == 0 else 0.8 * self.tick_cost + 0.2 * cost
        follow = (self.step_seconds or 0.0) / TICKS_PER_STEP
        self.interval = min(
            1.0 / MIN_RATE_HZ, max(self.min_interval, self.tick_cost / TICK_DUTY, follow)
        )

    def _follow_steps(self, tick: Tick, previous: Tick | None) -> None:
        """Keep `step_seconds` from the steps the ticks see while the run trains; a start or a
        pause in between says nothing about the step rate."""
        if tick.status != "running" or previous is None or previous.status != "running":
            self._step_mark = None
            return
        if self._step_mark is None:
            self._step_mark = (tick.step, tick.time)
            return
        step, since = self._step_mark
        if tick.step > step:
            seconds = (tick.time - since) / (tick.step - step)
            old = self.step_seconds
            self.step_seconds = seconds if old is None else 0.7 * old + 0.3 * seconds
            self._step_mark = (tick.step, tick.time)

    def _sleep(self, started: float) -> None:
        """Until `interval` after `started`; a poke cuts it short at `min_interval`, a stop or
        the last detach at once."""
        while True:
            with self._lock:
                if self._stopped or not self._widgets:
                    return
            now = time.monotonic()
            until = started + (self.min_interval if self._poked else self.interval)
            if now >= until:
                self._poked = False
                return
            self._wake.wait(until - now)
            self._wake.clear()

    def stop(self, timeout: float = 2.0) -> None:
        """End the thread (widgets stay attached but stop updating until one is attached)."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        bind_output_parent(self._parent)
        previous: Tick | None = None
        while True:
            started = time.monotonic()
            run = self._run_ref()
            with self._lock:
                widgets = list(self._widgets)
                if run is None or not widgets or self._stopped:
                    self._thread = None
                    return
            cpu = time.thread_time()
            tick = Tick(run, previous)
            for widget in widgets:
                try:
                    widget._flush(tick)
                except Exception as error:  # one broken widget must not stop the others
                    with contextlib.suppress(Exception):
                        widget._flush_failed(error)
            self._follow_steps(tick, previous)
            previous = tick
            self._pace(time.thread_time() - cpu - tick.paced_cpu)
            self.ticks += 1
            del run, tick
            # At most RATE_HZ flushes a second, whatever asked for one in between.
            self._sleep(started)


def flusher_for(run: Any) -> Flusher:
    return Flusher.for_run(run)
