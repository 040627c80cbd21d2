"""`Dashboard`: controls, status, loss chart, sample grid and latent explorer of one run in ONE
widget with one bundle (anywidget ships the bundle with every widget instance)."""

from __future__ import annotations

from . import static_png
from ._base import RunWidget, bundle
from .controls import ControlsPanel
from .latent_explorer import ExplorerPanel
from .loss_curve import CurvePanel
from .sample_grid import GridPanel


class Dashboard(ControlsPanel, CurvePanel, GridPanel, ExplorerPanel, RunWidget):
    """Everything about a running GAN: `run.dashboard()` returns one.

    Buttons act while training runs; values typed into the fields go through `run.set` and a
    refused value leaves the run as it was. The loss chart's cursor follows the sample grid's
    slider; a click on the chart scrubs the grid to that step."""

    _esm = bundle("dashboard")

    def static_png(self) -> bytes:
        status, *notes = self._controls_images()
        chart = static_png.hstack(
            [self._curve_image(cursor=self.snapshot_step), self._grid_image(300)]
        )
        return static_png.to_png(static_png.vstack([status, chart, *notes]))
