"""The DataSpace widget with no frontend: its traits hold the models' outputs as Float32 bytes,
the Dashboard shows it for 2-D runs (and not the image panels), the controls single-step and
slow down the run, coverage reaches the loss chart, and every view has a static PNG."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from widget_helpers import Recorder, wait_until

import genai_widgets as gw
from genai_widgets.families.gan.data_space import latent_mesh, plane_grid


def floats(data: bytes, width: int = 1) -> np.ndarray:
    values = np.frombuffer(data, dtype=np.float32)
    return values.reshape(-1, width) if width > 1 else values


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ring GAN that trained 60 steps and is paused (weights fixed while a test reads them)."""
    run = gw.train_gan(data="ring", device="cpu", run_dir=tmp_path_factory.mktemp("ring"))
    wait_until(lambda: run.step >= 60, 60, "60 steps")
    run.pause()
    run.step_once()  # returns once the trainer is idle: the weights stay as they are
    yield run
    run.stop()
    run.wait(30)


def live_outputs(run: Any, inputs: torch.Tensor, which: str) -> torch.Tensor:
    with torch.no_grad():
        if which == "D":
            return torch.sigmoid(run._parts.discriminator(inputs)).float()
        return run.generator(inputs).float()


def test_frame_traits_match_the_models_outputs(ring_run):
    w = gw.DataSpace(ring_run, space_resolution=16, mesh_size=5, n_fake=40, n_arrows=10)
    try:
        assert w.data_space_enabled
        w.compute_frame(ring_run)
        assert w.space_step == ring_run.step and w.space_frames >= 1
        res = w.space_resolution
        grid = plane_grid(tuple(w.space_bounds), res)
        heat = floats(w.space_heatmap)
        assert heat.shape == (res * res,) and w.space_heatmap_kind == "probability"
        np.testing.assert_allclose(heat, live_outputs(ring_run, grid, "D"), rtol=1e-5, atol=1e-6)
        mesh = floats(w.space_mesh, 2)
        expected = live_outputs(ring_run, latent_mesh(ring_run.latent_dim, 5), "G")
        np.testing.assert_allclose(mesh, expected, rtol=1e-5, atol=1e-5)
        fake = floats(w.space_fake, 2)
        z = ring_run.random_z(40, seed=w._space_fake_seed)
        np.testing.assert_allclose(fake, live_outputs(ring_run, z, "G"), rtol=1e-5, atol=1e-5)
        assert floats(w.space_gradients, 2).shape == (10, 2)
        real = floats(w.space_real, 2)
        assert len(real) == 1000
        np.testing.assert_allclose(np.linalg.norm(real, axis=1), 2.0, atol=0.15)  # the ring
        x0, x1, y0, y1 = w.space_bounds
        assert x0 < -2 and x1 > 2 and y0 < -2 and y1 > 2 and x1 - x0 == pytest.approx(y1 - y0)
        assert len(floats(w.space_modes, 2)) == 8
        assert w.space_mode_radius == pytest.approx(0.06)
    finally:
        w.close()


def test_arrows_are_off_with_their_layer(ring_run):
    w = gw.DataSpace(ring_run, space_layers=["heatmap", "fake"])
    try:
        w.compute_frame(ring_run)
        assert w.space_gradients == b""
    finally:
        w.close()


def test_the_flusher_draws_frames_and_coverage(ring_run):
    w = gw.DataSpace(ring_run)
    try:
        wait_until(lambda: w.space_frames >= 1, 20, "a frame")
        wait_until(lambda: w.coverage, 20, "coverage")
        assert w.coverage["modes_total"] == 8 and 0 <= w.coverage["modes_covered"] <= 8
        frames = w.space_frames
        # Paused: no new weights, no new frame; a single step brings exactly one.
        before = ring_run.step
        w._handle_message({"type": "command", "action": "step"})
        wait_until(lambda: ring_run.step == before + 1, 20, "one step")
        wait_until(lambda: w.space_step == before + 1, 20, "a frame of the new step")
        assert w.space_frames >= frames + 1 and w.status == "paused"
        assert ring_run.step == before + 1
    finally:
        w.close()


def test_slow_motion_from_the_controls(ring_run):
    w = gw.DataSpace(ring_run)
    try:
        w.set_value("step_delay", "0.2")
        assert ring_run.settings["step_delay"] == 0.2
        wait_until(lambda: w.step_delay == 0.2, 20, "the trait to follow")
        w.set_value("step_delay", "-1")
        wait_until(lambda: w.control_feedback.get("ok") is False, 20, "feedback")
        assert "refused" in w.control_feedback["text"]
        w.set_value("step_delay", "0")
        assert ring_run.settings["step_delay"] == 0.0
    finally:
        w.close()


def test_dashboard_of_a_2d_run_has_the_view_and_no_image_panels(ring_run):
    d = gw.Dashboard(ring_run)
    try:
        assert d.data_space_enabled
        wait_until(lambda: d.space_frames >= 1, 20, "a frame")
        assert d.frames_png == b"" and d.widget_error == ""  # the explorer stays out of it
        assert {"modes_covered", "high_quality"} <= set(d.eval_columns)
        assert not {"modes_covered", "high_quality"} & set(d.curve_columns)
        png = Image.open(io.BytesIO(d.static_png()))
        assert png.width > 900
    finally:
        d.close()


def test_loss_chart_receives_coverage_as_its_own_rows(tmp_path, monkeypatch):
    run = gw.train_gan(data="grid", device="cpu", run_dir=tmp_path / "grid")
    curve = gw.LossCurve(run)
    rec = Recorder()
    monkeypatch.setattr(curve, "send", rec)
    try:
        wait_until(
            lambda: rec.of_type("eval_append") or len(curve.eval_columns) > 1, 60, "coverage"
        )
        wait_until(lambda: rec.of_type("eval_append"), 60, "an appended evaluation")
        content, buffers = rec.of_type("eval_append")[-1]
        columns = content["columns"]
        assert columns[0] == "step" and {"modes_covered", "high_quality"} <= set(columns)
        block = floats(buffers[0]).reshape(len(columns), -1)
        covered = block[columns.index("modes_covered")]
        assert np.all((covered >= 0) & (covered <= 25))
    finally:
        curve.close()
        run.stop()
        run.wait(30)


def test_image_runs_leave_the_view_off(stub_run):
    w = gw.DataSpace(stub_run)
    try:
        assert not w.data_space_enabled and w.space_heatmap == b""
        data, _ = w._repr_mimebundle_()
        assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
    finally:
        w.close()


def test_static_png_draws_the_frame(ring_run):
    w = gw.DataSpace(ring_run)
    try:
        w.compute_frame(ring_run)
        data, _ = w._repr_mimebundle_()
        img = Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).convert("RGB")
        assert img.height > 360
        colours = {
            img.getpixel((x, y)) for x in range(0, img.width, 7) for y in range(40, img.height, 7)
        }
        assert len(colours) > 20  # heatmap, points, mesh: not a blank picture
    finally:
        w.close()
