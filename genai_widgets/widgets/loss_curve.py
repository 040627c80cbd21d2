"""`LossCurve`: the run's metrics as a live plotly.js chart. New rows travel as Float32 column
blocks in custom messages and are appended in the browser, decimated by time (at most
`CURVE_ROWS_PER_S` a second, however fast the run steps); a decimated snapshot in a synced
trait lets a reloaded page redraw at once. Evaluations (measures taken every so many steps, e.g.
mode coverage) have their own step column and travel the same way in their own messages; the
chart draws each in a small panel of its own under the losses."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import traitlets as t

from . import static_png
from ._base import Panel, RunWidget, bundle
from .flusher import Tick

# Refresh of the decimated snapshot trait while the run trains. A new view asks for one at once
# ("hello"), so this only bounds what a live view holds; rarer means fewer bytes.
SNAPSHOT_EVERY_S = 30.0
# Rows appended to a live chart, at most this many a second (plus the last row of each tick),
# however fast the trainer steps: at 1,000 steps/s the chart gets every 20th row and the bytes
# to the page stay bounded. The run's history keeps every row (a reload, `run.history`).
CURVE_ROWS_PER_S = 50.0


def decimate_by_time(rows: dict[str, np.ndarray], seconds: float) -> dict[str, np.ndarray]:
    """At most CURVE_ROWS_PER_S * `seconds` rows (at least one) of `rows`, evenly spaced, the
    last row always kept."""
    n = len(rows.get("step", ()))
    budget = max(1, int(CURVE_ROWS_PER_S * max(seconds, 0.0)))
    if n <= budget:
        return rows
    index = np.unique(np.linspace(n - 1, 0, budget).round().astype(np.int64))
    return {k: np.asarray(v)[index] for k, v in rows.items()}


def decimate(history: dict[str, np.ndarray], max_points: int) -> dict[str, np.ndarray]:
    """At most `max_points` rows by striding; the first and the last row are always kept."""
    n = len(history.get("step", ()))
    if n <= max_points or max_points < 2:
        return history
    index = np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
    return {k: np.asarray(v)[index] for k, v in history.items()}


def pack_columns(rows: dict[str, np.ndarray], columns: list[str]) -> bytes:
    """Column-major float32 block of `columns` (missing ones as NaN)."""
    n = len(rows.get("step", ()))
    block = np.full((len(columns), n), np.nan, dtype=np.float32)
    for i, name in enumerate(columns):
        if name in rows:
            block[i] = np.asarray(rows[name], dtype=np.float32)
    return block.tobytes()


class CurvePanel(Panel):
    """Traits and flush logic of the loss chart (used by LossCurve and Dashboard)."""

    curve_columns = t.List(t.Unicode(), default_value=[]).tag(sync=True)
    """list[str]: column order of `curve_snapshot` and of appended blocks; "step" first."""

    curve_snapshot = t.Bytes(b"").tag(sync=True)
    """bytes: decimated history, float32, column-major (len(curve_columns) blocks of rows)."""

    max_points = t.Int(2000).tag(sync=True)
    """int: rows kept in `curve_snapshot` (default 2000); newer exact rows are appended after it."""

    smoothing = t.Float(0.6, min=0.0, max=0.999).tag(sync=True)
    """float: exponential-moving-average weight in [0, 0.999] (TensorBoard's slider); 0 = raw."""

    log_scale = t.Bool(False).tag(sync=True)
    """bool: logarithmic y axis (default False)."""

    hidden_series = t.List(t.Unicode(), default_value=["lr", "r1", "gp"]).tag(sync=True)
    """list[str]: series drawn only when clicked in the legend (default ["lr", "r1", "gp"]: a
    GAN's penalties, lazy R1's a spike every r1_every steps, stay out of the game's curves)."""

    secondary_series = t.List(t.Unicode(), default_value=[]).tag(sync=True)
    """list[str]: series drawn against a second y axis on the right (a VAE's "beta")."""

    eval_columns = t.List(t.Unicode(), default_value=[]).tag(sync=True)
    """list[str]: column order of `eval_snapshot` and of appended evaluation blocks; "step" first."""

    eval_snapshot = t.Bytes(b"").tag(sync=True)
    """bytes: the run's evaluations (e.g. modes_covered, high_quality) at their own steps,
    float32, column-major (len(eval_columns) blocks of rows)."""

    def _init_panel(self, run: Any) -> None:
        self._curve_lock = threading.Lock()
        self._curve_resync = False
        self._curve_next_snapshot = 0.0
        cursor, _ = run.metrics_since(1 << 62)  # the cursor first: the snapshot then covers it
        self._curve_sent = time.monotonic()  # when rows last went to the page
        self._curve_cursor = cursor
        self._eval_cursor = 0
        if hasattr(run, "evaluations_since"):
            self._eval_cursor, _ = run.evaluations_since(1 << 62)
        self._write_curve_snapshot(run.history)
        self._write_eval_snapshot(run)

    def _evaluation_names(self) -> set[str]:
        return set(getattr(self.run, "evaluation_names", ()))

    def _write_curve_snapshot(self, history: dict[str, np.ndarray]) -> None:
        skip = {"step", "time"} | self._evaluation_names()
        columns = ["step", *[c for c in history if c not in skip]]
        self.curve_columns = columns
        self.curve_snapshot = pack_columns(decimate(history, self.max_points), columns)

    def _write_eval_snapshot(self, run: Any) -> None:
        evaluations = getattr(run, "evaluations", None)
        if not evaluations:
            return
        columns = ["step", *[c for c in evaluations if c not in ("step", "time")]]
        self.eval_columns = columns
        self.eval_snapshot = pack_columns(decimate(evaluations, self.max_points), columns)

    def _flush_panel(self, tick: Tick) -> None:
        with self._curve_lock:
            resync, self._curve_resync = self._curve_resync, False
        if not (tick.changed or resync):
            return
        run = tick.run
        self._curve_cursor, rows = run.metrics_since(self._curve_cursor)
        new_columns = [c for c in rows if c not in ("time",) and c not in self.curve_columns]
        if resync or new_columns or tick.ended or tick.time >= self._curve_next_snapshot:
            self._write_curve_snapshot(tick.history())
            self._curve_next_snapshot = tick.time + SNAPSHOT_EVERY_S
        rows = decimate_by_time(rows, tick.time - self._curve_sent)
        n = len(rows.get("step", ()))
        if n:
            self._curve_sent = tick.time
            columns = list(self.curve_columns)
            self.send(
                {"type": "curve_append", "columns": columns, "rows": n},
                buffers=[pack_columns(rows, columns)],
            )
        self._flush_evaluations(run, resync or tick.ended)

    def _flush_evaluations(self, run: Any, resync: bool) -> None:
        since = getattr(run, "evaluations_since", None)
        if since is None:
            return
        self._eval_cursor, rows = since(self._eval_cursor)
        fresh = [c for c in rows if c != "time" and c not in self.eval_columns]
        if resync or fresh:
            self._write_eval_snapshot(run)
            return
        n = len(rows.get("step", ()))
        if n:
            columns = list(self.eval_columns)
            self.send(
                {"type": "eval_append", "columns": columns, "rows": n},
                buffers=[pack_columns(rows, columns)],
            )

    def _handle_message(self, content: dict[str, Any]) -> bool:
        if content.get("type") == "hello":  # a new view: refresh the snapshot at the next tick
            with self._curve_lock:
                self._curve_resync = True
        return False  # other panels may want to hear "hello" too

    def _curve_image(self, size: tuple[int, int] = (640, 300), cursor: float | None = None):
        names = self._evaluation_names()
        history = {k: v for k, v in self.run.history.items() if k not in names}
        chart = static_png.draw_curves(
            history,
            size=size,
            hidden=self.hidden_series,
            smoothing=self.smoothing,
            log_scale=self.log_scale,
            title=f"{self.run_name} | losses",
            cursor_step=cursor,
        )
        evaluations = getattr(self.run, "evaluations", None) or {}
        if not len(evaluations.get("step", ())):
            return chart
        panels = [chart]
        for name in [c for c in evaluations if c not in ("step", "time")]:
            panels.append(
                static_png.draw_curves(
                    {"step": evaluations["step"], name: evaluations[name]},
                    size=(size[0], 150),
                    title=name,
                    cursor_step=cursor,
                )
            )
        return static_png.vstack(panels, gap=2)


class LossCurve(CurvePanel, RunWidget):
    """Live chart of `loss_d`, `loss_g`, `d_real`, `d_fake` and any other metric of a run.

    ``gw.LossCurve(run, smoothing=0.8, log_scale=True)``; hover for values, drag to zoom,
    the camera button (or "PNG") downloads the chart. Link the cursor to a SampleGrid with
    ``ipywidgets.jslink((grid, "snapshot_step"), (curve, "cursor_step"))``."""

    _esm = bundle("loss_curve")

    cursor_step = t.Int(-1).tag(sync=True)
    """int: step marked with a vertical line (-1: none)."""

    def static_png(self) -> bytes:
        return static_png.to_png(self._curve_image(cursor=self.cursor_step))
