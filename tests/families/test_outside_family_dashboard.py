"""The shared dashboard (`gw.RunDashboard`) of outside families, with no frontend: the GMM's
metric columns reach the curves and it has no sample grid (points); a family that declares
images gets the grid from its `snapshot`; the static picture renders for both."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from family_helpers import wait_until
from PIL import Image
from torch import Tensor, nn

import genai_widgets as gw
from genai_widgets.data import DataSource
from genai_widgets.engine import registry
from genai_widgets.widgets import Flusher

PNG = b"\x89PNG\r\n\x1a\n"


def unpack(buffer: bytes, columns: list[str]) -> dict[str, np.ndarray]:
    values = np.frombuffer(buffer, dtype=np.float32)
    rows = len(values) // len(columns)
    return {c: values[i * rows : (i + 1) * rows] for i, c in enumerate(columns)}


def picture(png: bytes) -> Image.Image:
    assert png.startswith(PNG)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


# ------------------------------------------------------------------ a tiny image family
@dataclasses.dataclass(frozen=True)
class TinyImagesConfig(gw.RunConfig):
    family = "tiny_images"
    settable = ("lr", "max_steps", "step_delay", "sample_every")

    data: Any = None  # not used: the family makes its own 8 x 8 images
    lr: float = 0.1  # SGD learning rate
    batch_size: int = 16  # images per step (of 32)


class TinyImages(gw.Family):
    """Learns the mean of 8 x 8 grey images; its snapshot is four copies of it."""

    name = "tiny_images"
    config_class = TinyImagesConfig
    module_names = ("image",)
    sample_kind = "images"
    metric_names = ("loss",)

    def __init__(self, config: TinyImagesConfig):
        self.image = nn.Linear(64, 1)  # any module: its weight is the image
        self.opt = torch.optim.SGD(self.image.parameters(), lr=config.lr)

    @classmethod
    def build(cls, config: TinyImagesConfig, device: torch.device) -> gw.Built:
        images = torch.linspace(-1, 1, 64).view(1, 1, 8, 8).repeat(32, 1, 1, 1)
        return gw.Built(cls(config), config, DataSource(name="ramp", tensor=images))

    def step(self, next_batch, settings, step, *, check_finite) -> Tensor:
        loss = ((self.image.weight.view(1, 1, 8, 8) - next_batch()) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.detach().view(1)

    def apply_settings(self, settings: dict[str, Any]) -> None:
        self.opt.param_groups[0]["lr"] = settings["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {"image": self.image.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.image.load_state_dict(state["image"])
        self.opt.load_state_dict(state["opt"])

    def modules(self) -> dict[str, nn.Module]:
        return {"image": self.image}

    def sample(self, run: Any, n: int = 16, **options: Any) -> Tensor:
        with run.inference_copy("image") as image:
            return image.weight.view(1, 1, 8, 8).clamp(-1, 1).repeat(n, 1, 1, 1).cpu()

    def snapshot(self, run: Any) -> Tensor:
        return self.image.weight.detach().view(1, 1, 8, 8).clamp(-1, 1).repeat(4, 1, 1, 1)


@pytest.fixture
def tiny_images() -> Iterator[type[TinyImages]]:
    gw.register_family(TinyImages)
    yield TinyImages
    registry.unregister_family("tiny_images")


# ------------------------------------------------------------------ tests
def test_gmm_gets_the_shared_dashboard_with_its_curves_and_no_grid(gmm_config):
    run = gw.build_run(gmm_config(max_steps=40)).start()
    assert run.wait(60) == "finished"
    dash = run.dashboard()
    try:
        assert isinstance(dash, gw.RunDashboard)
        assert dash.curve_columns == ["step", "nll", "components_used", "lr"]
        rows = unpack(dash.curve_snapshot, dash.curve_columns)
        assert len(rows["step"]) == 40 and rows["step"][-1] == 40
        np.testing.assert_allclose(rows["nll"], run.history["nll"], rtol=1e-6)
        assert not dash.samples_enabled and dash.snapshot_count == 0  # points: no image grid
        assert dash.control_fields == ["lr"] and dash.lr == 0.05
        assert dash.status == "finished" and dash.step == 40 and dash.run_name == run.name
        image = picture(dash.static_png())
        assert image.width > 300 and image.height > 100
    finally:
        dash.close()


def test_the_dashboard_controls_drive_a_gmm_run(gmm_config):
    run = gw.build_run(gmm_config(max_steps=None, step_delay=0.01)).start()
    dash = gw.RunDashboard(run)
    try:
        wait_until(lambda: run.step >= 3, 30, "3 steps")
        dash._handle_message({"type": "command", "action": "pause"})
        wait_until(lambda: run.status == "paused", 10, "pause from the widget")
        dash.set_value("lr", "0.02")
        assert run.settings["lr"] == 0.02
        dash._handle_message({"type": "command", "action": "resume"})
        wait_until(lambda: run.status == "running", 10, "resume from the widget")
    finally:
        run.stop()
        run.wait(30)
        dash.close()


def test_an_image_family_gets_the_sample_grid(tiny_images, tmp_path):
    config = TinyImagesConfig(max_steps=6, sample_every=2, device="cpu", run_dir=str(tmp_path))
    run = gw.build_run(config).start()
    assert run.wait(60) == "finished"
    assert run.snapshot_steps().tolist() == [1, 2, 4, 6]
    assert run.get_snapshot(3).shape == (4, 8, 8, 1)
    assert run.sample(3).shape == (3, 1, 8, 8)
    dash = run.dashboard()
    try:
        assert isinstance(dash, gw.RunDashboard)
        assert dash.samples_enabled
        assert dash.curve_columns == ["step", "loss", "lr"]
        assert dash.snapshot_count == 4 and dash.snapshot_step == 6
        grid = picture(dash.grid_png)
        assert grid.size == (2 + 2 * (8 + 2), 2 + 2 * (8 + 2))  # 2 x 2 grid of 8 x 8, padding 2
        assert dash.grid_png == run.snapshot_png(3)
        with_grid = picture(dash.static_png())
    finally:
        dash.close()
    # "samples" left out of `panels`: no grid even for images.
    TinyImages.panels = ("controls", "curves")
    try:
        no_grid = gw.RunDashboard(run)
        assert not no_grid.samples_enabled
        assert picture(no_grid.static_png()).size != with_grid.size  # the grid is not drawn
        no_grid.close()
    finally:
        del TinyImages.panels


def test_no_flusher_threads_left():
    wait_until(lambda: not Flusher.active(), 10, "flushers to end")
