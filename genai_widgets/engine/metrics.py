"""From step metrics (tensors on the model's device) to history rows, without a per-step host
sync on GPUs: rows accumulate in a device buffer, chunks are copied with `non_blocking=True`
into pinned memory and read only after a CUDA event says the copy is done."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from .run import Run


class MetricSink:
    """Collects each step's metric vector and hands finished host rows to the run.

    `deferred=None` picks the deferred path on CUDA and the immediate one elsewhere (a CPU
    tensor's values are already on the host); tests force `deferred=True` on the CPU to
    exercise the chunking logic."""

    def __init__(
        self,
        run: Run,
        device: torch.device,
        *,
        deferred: bool | None = None,
        chunk: int = 32,
        max_delay: float = 0.2,
        store_interval: float = 0.25,
    ):
        self.run = run
        self.device = device
        self.deferred = device.type == "cuda" if deferred is None else deferred
        self.chunk = chunk
        self.max_delay = max_delay
        self.store_interval = store_interval
        self._lock = threading.Lock()
        self._store_rows: list[np.ndarray] = []
        self._last_store = time.monotonic()
        # deferred path
        self._dev_rows: list[torch.Tensor] = []
        self._meta: list[tuple[int, float, float]] = []  # (step, time, lr) per buffered row
        self._first_time = 0.0
        self._inflight: list[tuple[Any, torch.Tensor, list[tuple[int, float, float]]]] = []
        # The Run's "lr" column, unless the family reports its own (a schedule).
        self._own_lr = int("lr" not in run._metric_names)
        # Columns a family leaves NaN where not measured: not a non-finite loss.
        sparse = set(getattr(run.family, "sparse_metrics", ()))
        self._checked = np.array([n not in sparse for n in run._metric_names], dtype=bool)

    def add(self, step: int, elapsed: float, values: torch.Tensor, lr: float) -> None:
        with self._lock:
            if not self.deferred:
                row = np.empty(len(values) + 2 + self._own_lr)
                row[0], row[1] = step, elapsed
                row[2 : 2 + len(values)] = values.tolist()
                if self._own_lr:
                    row[-1] = lr
                self._publish(row[None, :])
            else:
                if not self._dev_rows:
                    self._first_time = time.monotonic()
                self._dev_rows.append(values)
                self._meta.append((step, elapsed, lr))
                if (
                    len(self._dev_rows) >= self.chunk
                    or time.monotonic() - self._first_time > self.max_delay
                ):
                    self._launch_copy()
                self._collect(wait=False)
            self._maybe_store()

    def drain(self, wait: bool = True) -> None:
        """Publish everything buffered (waits for in-flight copies if `wait`)."""
        with self._lock:
            if self.deferred:
                if self._dev_rows:
                    self._launch_copy()
                self._collect(wait=wait)
            self._maybe_store(force=True)

    # -- deferred path -------------------------------------------------------------------------
    def _launch_copy(self) -> None:
        stacked = torch.stack(self._dev_rows)  # one kernel on the device, no sync
        pinned = self.device.type == "cuda"
        host = torch.empty(stacked.shape, dtype=stacked.dtype, pin_memory=pinned)
        host.copy_(stacked, non_blocking=pinned)
        event = None
        if pinned:
            event = torch.cuda.Event()
            event.record()
        self._inflight.append((event, host, self._meta))
        self._dev_rows, self._meta = [], []

    def _collect(self, wait: bool) -> None:
        while self._inflight:
            event, host, meta = self._inflight[0]
            if event is not None and not event.query():
                if not wait:
                    return
                event.synchronize()
            self._inflight.pop(0)
            values = host.numpy().astype(np.float64)
            rows = np.empty((len(meta), values.shape[1] + 2 + self._own_lr))
            rows[:, 0] = [m[0] for m in meta]
            rows[:, 1] = [m[1] for m in meta]
            rows[:, 2 : 2 + values.shape[1]] = values
            if self._own_lr:
                rows[:, -1] = [m[2] for m in meta]
            checked = self._checked if len(self._checked) == values.shape[1] else slice(None)
            bad = ~np.isfinite(values[:, checked]).all(axis=1)
            self._publish(rows)
            if bad.any():
                i = int(np.argmax(bad))
                col = int(np.argmax(~np.isfinite(values[i]) & self._checked))
                names = self.run._metric_names
                self.run._non_finite(
                    int(rows[i, 0]),
                    names[col],
                    float(values[i, col]),
                    "The loss is checked after the update here (no sync per step), so that "
                    "update was applied",
                )

    # -- common ------------------------------------------------------------------------------
    def _publish(self, rows: np.ndarray) -> None:
        self.run._history.extend(rows)
        self._store_rows.append(rows)

    def _maybe_store(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._store_rows and (force or now - self._last_store >= self.store_interval):
            rows = np.concatenate(self._store_rows)
            self._store_rows = []
            self._last_store = now
            self.run._store.add_metrics(self.run._history.columns, rows)
