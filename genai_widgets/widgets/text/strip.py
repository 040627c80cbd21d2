"""The text family's live sample strip and memorisation meter (parts of the TextDashboard).

The strip: one record per `sample_every` steps (a sample from a fixed prompt and seed, with
its memorisation measures), scrubbable by a step slider that follows the latest by default.
Only the record shown travels (`strip_record`); the meter gets the numbers of every record
(step, novel 8-gram share, longest shared substring) and the over-fitting warning when the
samples' novelty falls while the held-out loss rises."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import traitlets as t

from ...families.text.memorisation import overfitting_warning
from .._base import Panel
from ..flusher import Tick
from ..sample_grid import pick_snapshot

RECORD_KEYS = ("prompt", "text", "seed", "temperature", "longest", "longest_text", "novel_8grams")


def strip_record(record: Any) -> dict[str, Any]:
    """The strip record as it travels: its known fields (JSON-safe numbers) and where the
    longest shared substring starts in the continuation (`longest_at`, -1 if not found)."""
    record = record if isinstance(record, dict) else {"text": str(record)}
    out: dict[str, Any] = {}
    for key in RECORD_KEYS:
        value = record.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    text = str(out.get("text") or "")
    longest = str(out.get("longest_text") or "")
    out["longest_at"] = text.find(longest) if longest else -1
    return out


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class StripPanel(Panel):
    """Traits and flush logic of the sample strip and the memorisation meter."""

    strip_count = t.Int(0).tag(sync=True)
    """int: strip records stored so far (old ones are thinned on long runs)."""

    strip_index = t.Int(0).tag(sync=True)
    """int: the record shown, 0-based; the slider sets it."""

    strip_step = t.Int(-1).tag(sync=True)
    """int: training step of the record shown (-1: none yet)."""

    strip_follow = t.Bool(True).tag(sync=True)
    """bool: show each new record as it comes (default True); moving the slider back clears it."""

    strip_record = t.Dict().tag(sync=True)
    """dict: the record shown: prompt, text (the continuation), seed, temperature, longest,
    longest_text, longest_at (its start in text, -1: none), novel_8grams ({} before the first)."""

    novelty_series = t.List().tag(sync=True)
    """list[[step, novel_8grams, longest]]: the memorisation numbers of every strip record
    (None where a record has none)."""

    val_series = t.List().tag(sync=True)
    """list[[step, val_loss, val_bpc]]: the held-out measurements so far."""

    overfit_warning = t.Unicode("").tag(sync=True)
    """str: the over-fitting warning (novelty falling while the held-out loss rises); '' if none."""

    def _init_panel(self, run: Any) -> None:
        self._strip_lock = threading.Lock()
        self._strip_dirty = True
        self._strip_seek: int | None = None
        self._strip_shown: tuple[int, int] = (-1, -1)  # (index, step) last written
        self._novelty_cache: dict[int, list[Any]] = {}
        self._val_cursor = 0
        self._val_points: list[list[Any]] = []
        self.observe(self._strip_request, names=["strip_index", "strip_follow"])
        self._strip_update(run, run.snapshot_count, run.snapshot_steps())
        self._val_update(run)

    def _strip_request(self, _change: Any = None) -> None:
        with self._strip_lock:
            self._strip_dirty = True

    def _strip_update(self, run: Any, count: int, steps: np.ndarray) -> None:
        with self._strip_lock:
            seek, self._strip_seek = self._strip_seek, None
            self._strip_dirty = False
        count = min(count, len(steps))
        if count != self.strip_count:
            self.strip_count = count
        if count == 0:
            return
        index, follow = pick_snapshot(
            steps[:count], seek, self.strip_follow, self.strip_index, self._strip_shown
        )
        if follow != self.strip_follow:
            self.strip_follow = follow
        step = int(steps[index])
        if (index, step) != self._strip_shown:
            self.strip_record = strip_record(run.get_snapshot(index))
            self._strip_shown = (index, step)
        if self.strip_index != index:
            self.strip_index = index
        if self.strip_step != step:
            self.strip_step = step
        self._novelty_update(run, steps[:count])

    def _novelty_update(self, run: Any, steps: np.ndarray) -> None:
        cache = self._novelty_cache
        fresh = False
        for i, s in enumerate(steps):
            s = int(s)
            if s not in cache:
                record = run.get_snapshot(i)
                record = record if isinstance(record, dict) else {}
                cache[s] = [s, _finite(record.get("novel_8grams")), record.get("longest")]
                fresh = True
        if not fresh and len(cache) == len(self.novelty_series):
            return
        keep = {int(s) for s in steps}
        for s in [s for s in cache if s not in keep]:
            del cache[s]
        self.novelty_series = [cache[int(s)] for s in steps]
        self._warning_update()

    def _val_update(self, run: Any) -> None:
        self._val_cursor, rows = run.metrics_since(self._val_cursor)
        if "val_loss" not in rows or not len(rows.get("step", ())):
            return
        added = False
        for step, loss, bpc in zip(
            rows["step"], rows["val_loss"], rows.get("val_bpc", rows["val_loss"]), strict=False
        ):
            if math.isfinite(float(loss)):
                self._val_points.append([int(step), float(loss), _finite(bpc)])
                added = True
        if added:
            self.val_series = list(self._val_points)
            self._warning_update()

    def _warning_update(self) -> None:
        novelty = [n for _, n, _ in self.novelty_series if n is not None]
        losses = [loss for _, loss, _ in self._val_points]
        text = overfitting_warning(novelty, losses) or ""
        if text != self.overfit_warning:
            self.overfit_warning = text

    def _flush_panel(self, tick: Tick) -> None:
        with self._strip_lock:
            dirty = self._strip_dirty or self._strip_seek is not None
        if dirty or tick.snapshot_count != self.strip_count or tick.ended:
            self._strip_update(tick.run, tick.snapshot_count, tick.snapshot_steps())
        if tick.changed:
            self._val_update(tick.run)

    def _handle_message(self, content: dict[str, Any]) -> bool:
        if content.get("type") == "seek_step":  # a click on the curves
            try:
                step = int(content.get("step"))
            except (TypeError, ValueError):
                return True
            with self._strip_lock:
                self._strip_seek = step
            return True
        return False
