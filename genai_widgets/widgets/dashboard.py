"""`Dashboard`: controls, status, loss chart, sample grid and latent explorer of one run in ONE
widget with one bundle (anywidget ships the bundle with every widget instance). For a run on
2-D points the data-space view takes the place of the sample grid and the latent explorer."""

from __future__ import annotations

from . import static_png
from ._base import RunWidget, bundle
from .controls import ControlsPanel
from .data_space import DataSpacePanel
from .latent_explorer import ExplorerPanel
from .loss_curve import CurvePanel
from .sample_grid import GridPanel


class Dashboard(ControlsPanel, CurvePanel, GridPanel, ExplorerPanel, DataSpacePanel, RunWidget):
    """Everything about a running GAN: `run.dashboard()` returns one.

    Buttons act while training runs; values typed into the fields go through `run.set` and a
    refused value leaves the run as it was. The loss chart's cursor follows the sample grid's
    slider; a click on the chart scrubs the grid to that step."""

    _esm = bundle("dashboard")

    def static_png(self) -> bytes:
        status = f"{self.run_name} | {self.status} | step {self.step}" + (
            f" / {self.max_steps}" if self.max_steps else ""
        )
        side = self._space_image() if self.data_space_enabled else self._grid_image(300)
        rows = [
            static_png.text_line(status, 980),
            static_png.hstack([self._curve_image(cursor=self.snapshot_step), side]),
        ]
        if self.message:
            rows.append(static_png.text_line(self.message[:160], 980, "#b35c00"))
        if self.error_text:
            last = self.error_text.strip().splitlines()[-1] if self.error_text.strip() else ""
            rows.append(static_png.text_line(f"failed: {last[:150]}", 980, "#c62828"))
        return static_png.to_png(static_png.vstack(rows))
