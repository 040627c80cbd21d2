"""The one thread per displayed run that writes widget state.

Widgets never hear from the trainer. A `Flusher` polls its run at most `RATE_HZ` times a second,
reads what changed once (`Tick`) and lets every widget attached to that run write its traits
and send its messages. Comm callbacks (button clicks, slider moves, possibly on a kernel
subshell thread) only record requests under a lock; the flusher acts on them at its next tick.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import Any, Protocol

import numpy as np

from ..engine.output import bind_output_parent, capture_output_parent
from ..engine.threads import stop_at_exit

RATE_HZ = 10.0
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

    def history(self) -> dict[str, np.ndarray]:
        if self._history is None:
            self._history = self.run.history
        return self._history

    def snapshot_steps(self) -> np.ndarray:
        if self._snapshot_steps is None or len(self._snapshot_steps) != self.snapshot_count:
            self._snapshot_steps = np.asarray(self.run.snapshot_steps())
        return self._snapshot_steps


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
        self._wake = threading.Event()
        self._stopped = False
        self._parent: Any = None
        self.ticks = 0  # flushes done; tests and the benchmark read it

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
            tick = Tick(run, previous)
            for widget in widgets:
                try:
                    widget._flush(tick)
                except Exception as error:  # one broken widget must not stop the others
                    with contextlib.suppress(Exception):
                        widget._flush_failed(error)
            previous = tick
            self.ticks += 1
            del run, tick
            # At most RATE_HZ flushes a second, whatever asked for one in between.
            self._wake.wait(max(0.0, self.interval - (time.monotonic() - started)))
            self._wake.clear()


def flusher_for(run: Any) -> Flusher:
    return Flusher.for_run(run)
