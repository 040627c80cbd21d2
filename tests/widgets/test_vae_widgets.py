"""The VAE widgets with no frontend: `run.dashboard()` picks the VAEDashboard, its views come
from the current weights, the latent scatter re-encodes as training goes on, a click decodes a
point, beta is settable from the controls, warnings show, and the static PNG fallback."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from widget_helpers import StubRun, wait_until

import genai_widgets as gw
from genai_widgets.widgets import _base
from genai_widgets.widgets.vae.latent_scatter import project_2d


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A tiny digits VAE (latent_dim 6: the scatter shows a PCA) that trains until stopped."""
    run = gw.train_vae(
        data="digits",
        image_size=16,
        width=8,
        batch_size=16,
        latent_dim=6,
        max_steps=None,
        sample_every=5,
        n_samples=16,
        run_dir=tmp_path_factory.mktemp("vae"),
    )
    wait_until(lambda: run.snapshot_count >= 2, 60, "two snapshots")
    yield run
    run.stop()
    run.wait(10)


def png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_vae_bundles_are_built():
    for stem in ("vae_dashboard", "latent_scatter"):
        path = _base.STATIC / f"{stem}.js"
        assert path.exists(), f"{path} missing: run `npm install && npm run build`"
        assert path.stat().st_size < 2_000_000


def test_run_dashboard_picks_the_family(vae_run):
    d = vae_run.dashboard()
    try:
        assert isinstance(d, gw.VAEDashboard)
        assert "export" in d._esm and "the front-end bundle" not in d._esm
        assert d.control_fields == ["lr", "beta"] and d.secondary_series == ["beta"]
        assert {"elbo", "recon", "kl", "beta"} <= set(d.curve_columns)
    finally:
        d.close()
    with pytest.raises(TypeError, match="is a VAE"):
        gw.Dashboard(vae_run)
    with pytest.raises(TypeError, match="needs a VAE run"):
        gw.VAEDashboard(StubRun())
    with pytest.raises(TypeError, match="needs a run with an encoder"):
        gw.LatentScatter(StubRun())


def test_views_come_from_the_current_weights(vae_run):
    d = gw.VAEDashboard(vae_run, recon_count=5, interp_frames=6)
    try:
        wait_until(lambda: d.views_step >= 0 and d.traversal_png, 30, f"views ({d.widget_error!r})")
        # Inputs above reconstructions: 5 columns, 2 rows of 16 x 16 images with 2 px padding.
        assert png_size(d.recon_png) == (5 * 18 + 2, 2 * 18 + 2)
        # Image A, 6 decoded frames, image B.
        assert png_size(d.interp_png) == (8 * 18 + 2, 18 + 2)
        # One row per latent dimension, one column per traversal value.
        assert d.traversal_dims == 6 and png_size(d.traversal_png) == (7 * 18 + 2, 6 * 18 + 2)
        first = d.interp_png
        d.set_state({"interp_start": 7, "interp_end": 9})
        wait_until(lambda: d.interp_png != first, 20, "interpolation recomputed")
        step = d.views_step
        wait_until(lambda: d.views_step > step, 30, "views follow training")
        assert vae_run.status == "running"  # never paused for them
    finally:
        d.close()


def test_latent_scatter_updates_and_decodes_a_click(vae_run):
    s = gw.LatentScatter(vae_run, refresh_seconds=0.2)
    try:
        wait_until(lambda: s.scatter_count > 0, 30, f"points ({s.widget_error!r})")
        xy, labels = s.scatter_points()
        images, held_labels = vae_run.held_out_images()
        assert xy.shape == (len(images), 2) and np.isfinite(xy).all()
        assert labels is not None and labels.tolist() == held_labels.tolist()
        assert s.scatter_classes == [str(d) for d in range(10)]
        assert s.scatter_projection == "pca" and s.scatter_axes[0].startswith("PC1 (")
        step = s.scatter_step
        wait_until(lambda: s.scatter_step > step, 30, "the scatter follows training")
        s._on_custom_message(s, {"type": "scatter_pick", "index": 3}, [])
        wait_until(lambda: s.picked_index == 3 and s.picked_png, 10, "decoded point")
        assert png_size(s.picked_png) == (2 * 18 + 2, 18 + 2)  # the image and its decoding
    finally:
        s.close()


def test_two_latent_dimensions_are_plotted_directly(tmp_path):
    run = gw.train_vae(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=2, max_steps=3,
        run_dir=tmp_path / "vae2", device="cpu",
    )  # fmt: skip
    assert run.wait(60) == "finished"
    s = gw.LatentScatter(run)
    try:
        wait_until(lambda: s.scatter_count > 0, 20, "points")
        assert s.scatter_projection == "latent" and s.scatter_axes == ["z0", "z1"]
        mu, _ = run.encode(run.held_out_images()[0])
        assert np.array_equal(s.scatter_points()[0], mu.numpy())
    finally:
        s.close()


def test_pca_keeps_its_orientation_between_updates():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(200, 5)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1])
    first, axes, kind, basis = project_2d(mu)
    assert kind == "pca" and axes[0].startswith("PC1 (") and basis.shape == (2, 5)
    again, *_ = project_2d(mu, -basis)  # a previous basis pointing the other way
    assert np.allclose(again, -first)
    same, *_ = project_2d(mu, basis)
    assert np.allclose(same, first)


def test_beta_is_set_from_the_controls(vae_run):
    d = gw.VAEDashboard(vae_run)
    try:
        d.set_value("beta", "-1")
        wait_until(lambda: d.control_feedback.get("id") == 1, 5, "refusal")
        assert d.control_feedback["ok"] is False and "beta must be" in d.control_feedback["text"]
        d.set_value("beta", "0.5")
        wait_until(lambda: d.control_values.get("beta") == 0.5, 5, "beta shown")
        assert vae_run.settings["beta"] == 0.5
        wait_until(lambda: vae_run.history["beta"][-1] == 0.5, 10, "beta used")
        d.set_value("beta", "1")
        wait_until(lambda: d.control_values.get("beta") == 1.0, 5, "beta back")
    finally:
        d.close()


def test_warnings_show_in_the_controls(stub_run):
    stub_run.warnings = [{"kind": "PosteriorCollapsed", "step": 3, "message": "posterior collapse"}]
    stub_run.version += 1
    d = gw.Dashboard(stub_run)
    try:
        wait_until(lambda: d.warnings == ["step 3: posterior collapse"], 5, "warning shown")
    finally:
        d.close()


def test_vae_mimebundles_carry_a_static_png(vae_run):
    for widget in (gw.VAEDashboard(vae_run), gw.LatentScatter(vae_run)):
        try:
            wait_until(lambda w=widget: w.scatter_count > 0, 30, "points")
            data, _ = widget._repr_mimebundle_()
            assert "application/vnd.jupyter.widget-view+json" in data
            assert vae_run.name in data["text/plain"]
            img = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
            assert img.format == "PNG" and img.width >= 300
        finally:
            widget.close()


def test_encode_copies_never_touch_the_live_modules(vae_run):
    images, _ = vae_run.held_out_images(4)
    live = {id(m) for m in vae_run.family.inference_modules().values()}
    mu, _ = vae_run.encode(images)
    copies = {id(m) for _, m in vae_run._copies.values()}
    assert mu.shape == (4, 6) and not (live & copies)
    assert torch.isfinite(mu).all()


def test_a_run_loaded_without_its_data_shows_no_error(tmp_path):
    images = torch.rand(80, 1, 16, 16) * 2 - 1
    run = gw.train_vae(
        data=images, image_size=16, width=8, batch_size=16, latent_dim=4, max_steps=2,
        run_dir=tmp_path / "tensor-vae", device="cpu",
    )  # fmt: skip
    assert run.wait(60) == "finished"
    loaded = gw.load_run(run.run_dir)  # a tensor is not saved: no data, nothing held out
    assert loaded.data_source is None and loaded.held_out is None
    d = loaded.dashboard()
    try:
        wait_until(lambda: d.scatter_step == 2 and d.views_step == 2, 10, "marked as done")
        assert d.scatter_count == 0 and d.recon_png == b"" and d.widget_error == ""
        assert d.snapshot_count == 2  # the prior samples come from the run directory
    finally:
        d.close()
