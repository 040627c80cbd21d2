"""`Dashboard`: controls, status, loss chart, sample grid and latent explorer of one run in ONE
widget with one bundle (anywidget ships the bundle with every widget instance). For a run on
2-D points the data-space view takes the place of the sample grid and the latent explorer."""

from __future__ import annotations

from typing import Any

from .. import static_png
from .._base import RunWidget, bundle
from ..controls import ControlsPanel
from ..latent_space import LatentSpacePanel
from ..loss_curve import CurvePanel
from ..sample_grid import GridPanel
from .data_space import DataSpacePanel
from .latent_explorer import ExplorerPanel


class Dashboard(
    ControlsPanel,
    CurvePanel,
    GridPanel,
    ExplorerPanel,
    LatentSpacePanel,
    DataSpacePanel,
    RunWidget,
):
    """Everything about a running GAN: `run.dashboard()` returns one.

    Buttons act while training runs; values typed into the fields go through `run.set` and a
    refused value leaves the run as it was. The loss chart's cursor follows the sample grid's
    slider; a click on the chart scrubs the grid to that step."""

    _esm = bundle("dashboard")

    def __init__(self, run: Any, **kwargs: Any) -> None:
        if "encoder" in getattr(getattr(run, "family", None), "module_names", ()):
            raise TypeError(
                f"run {getattr(run, 'name', '')!r} is a VAE: its dashboard is gw.VAEDashboard(run) "
                f"(run.dashboard() picks the right one)"
            )
        super().__init__(run, **kwargs)

    def static_png(self) -> bytes:
        status, *notes = self._controls_images()
        side = self._space_image() if self.data_space_enabled else self._grid_image(300)
        chart = static_png.hstack([self._curve_image(cursor=self.snapshot_step), side])
        space = None if self.data_space_enabled else self._latent_space_image()
        return static_png.to_png(static_png.vstack([status, chart, space, *notes]))
