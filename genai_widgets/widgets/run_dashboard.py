"""`RunDashboard`: the shared dashboard of any family (controls, status, the metric curves,
and the fixed sample grid when the family makes images), in one widget with one bundle. A
family without a dashboard of its own (`Family.dashboard` left at the default, e.g. one
registered from outside the package) gets it from `run.dashboard()`."""

from __future__ import annotations

from typing import Any

import traitlets as t

from .._lazy import load_object
from . import static_png
from ._base import RunWidget, bundle
from .controls import ControlsPanel
from .loss_curve import CurvePanel
from .sample_grid import GridPanel


class RunDashboard(ControlsPanel, CurvePanel, GridPanel, RunWidget):
    """Curves, controls and (for image families) the fixed sample grid of any run."""

    _esm = bundle("run_dashboard")

    samples_enabled = t.Bool(False).tag(sync=True)
    """bool: whether the family makes images and asks for the "samples" panel."""

    def __init__(self, run: Any, **kwargs: Any) -> None:
        family = getattr(run, "family", None)
        settable = tuple(getattr(type(getattr(run, "config", None)), "settable", ()))
        kwargs.setdefault("control_fields", [f for f in ("lr",) if f in settable])
        super().__init__(run, **kwargs)
        self.samples_enabled = getattr(family, "sample_kind", "") == "images" and "samples" in (
            getattr(family, "panels", ()) or ()
        )

    def static_png(self) -> bytes:
        status, *notes = self._controls_images()
        parts = [self._curve_image(cursor=self.snapshot_step)]
        if self.samples_enabled:
            parts.append(self._grid_image(300))
        chart = static_png.hstack(parts)
        return static_png.to_png(static_png.vstack([status, chart, *notes]))


def dashboard_for(run: Any) -> RunWidget:
    """The dashboard `run`'s family names (`Family.dashboard`, "module:callable"), or the
    shared `RunDashboard`."""
    path = getattr(getattr(run, "family", None), "dashboard", "") or ""
    return load_object(path)(run) if path else RunDashboard(run)
