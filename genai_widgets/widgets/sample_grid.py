"""`SampleGrid`: the fixed-noise samples as PNG bytes, with a slider over the snapshot history
and "follow latest"."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np
import traitlets as t

from . import static_png
from ._base import Panel, RunWidget, bundle
from .flusher import Tick


def pick_snapshot(
    steps: np.ndarray,
    seek: int | None,
    follow: bool,
    index: int,
    shown: tuple[int, int],
) -> tuple[int, bool]:
    """Which of the snapshots at `steps` a slider shows, and whether it follows the latest:
    the last one at or before a `seek`ed step (a click on the curves; following again if
    that is the newest), the newest when following, else `index`, kept on the step `shown`
    ((index, step) drawn last) when thinning of old snapshots shifted the indices."""
    count = len(steps)
    if seek is not None:
        index = int(np.clip(np.searchsorted(steps, seek, side="right") - 1, 0, count - 1))
        return index, index == count - 1
    if follow:
        return count - 1, True
    index = int(np.clip(index, 0, count - 1))
    shown_index, shown_step = shown
    if index == shown_index and shown_step >= 0 and int(steps[index]) != shown_step:
        index = int(np.clip(np.searchsorted(steps, shown_step), 0, count - 1))
    return index, False


class GridPanel(Panel):
    """Traits and flush logic of the sample grid (used by SampleGrid and Dashboard)."""

    grid_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG of the fixed-noise grid at `snapshot_index` (b"" before the first snapshot)."""

    snapshot_count = t.Int(0).tag(sync=True)
    """int: snapshots taken so far (old ones are thinned on long runs)."""

    snapshot_index = t.Int(0).tag(sync=True)
    """int: the snapshot shown, 0-based; the slider sets it."""

    snapshot_step = t.Int(-1).tag(sync=True)
    """int: training step of the snapshot shown (-1: none yet)."""

    follow_latest = t.Bool(True).tag(sync=True)
    """bool: show each new snapshot as it comes (default True); moving the slider back clears it."""

    grid_width = t.Int(320).tag(sync=True)
    """int: displayed width of the grid in CSS pixels (default 320; pixels are scaled crisply)."""

    def _init_panel(self, run: Any) -> None:
        self._grid_lock = threading.Lock()
        self._grid_dirty = True
        self._grid_seek: int | None = None
        self._grid_shown: tuple[int, int] = (-1, -1)  # (index, step) last sent
        self.observe(self._grid_request, names=["snapshot_index", "follow_latest"])
        self._grid_update(run.snapshot_count, run.snapshot_steps())

    def _grid_request(self, _change: Any = None) -> None:
        with self._grid_lock:
            self._grid_dirty = True

    def _grid_update(self, count: int, steps: np.ndarray) -> None:
        with self._grid_lock:
            seek, self._grid_seek = self._grid_seek, None
            self._grid_dirty = False
        count = min(count, len(steps))
        if count != self.snapshot_count:
            self.snapshot_count = count
        if count == 0:
            return
        index, follow = pick_snapshot(
            steps[:count], seek, self.follow_latest, self.snapshot_index, self._grid_shown
        )
        if follow != self.follow_latest:
            self.follow_latest = follow
        step = int(steps[index])
        if (index, step) != self._grid_shown:
            # A family whose snapshots are records (text, an HMM's view) has no grid to show.
            with contextlib.suppress(TypeError):
                self.grid_png = self.run.snapshot_png(index)
            self._grid_shown = (index, step)
        if self.snapshot_index != index:
            self.snapshot_index = index
        if self.snapshot_step != step:
            self.snapshot_step = step

    def _flush_panel(self, tick: Tick) -> None:
        with self._grid_lock:
            dirty = self._grid_dirty or self._grid_seek is not None
        if dirty or tick.snapshot_count != self.snapshot_count or tick.ended:
            self._grid_update(tick.snapshot_count, tick.snapshot_steps())

    def _handle_message(self, content: dict[str, Any]) -> bool:
        if content.get("type") == "seek_step":  # a click on the loss chart
            try:
                step = int(content.get("step"))
            except (TypeError, ValueError):
                return True
            with self._grid_lock:
                self._grid_seek = step
            return True
        return False

    def _grid_image(self, width: int | None = None):
        img = static_png.png_image(self.grid_png, width or self.grid_width)
        if img is None:
            return static_png.text_line("no samples yet", width or self.grid_width, "#666")
        return static_png.caption(img, f"samples at step {self.snapshot_step}")


class SampleGrid(GridPanel, RunWidget):
    """The fixed-noise sample grid of a run, scrubbable through its snapshot history.

    ``gw.SampleGrid(run, grid_width=400)``."""

    _esm = bundle("sample_grid")

    def static_png(self) -> bytes:
        return static_png.to_png(self._grid_image())
