"""The VAE dashboard's latent-space section against the run methods it stands for: with a
VAE run paused (fixed weights), each picture equals what the methods give when called by hand
(the GAN dashboard's twin: test_latent_space_panel.py). The VAE has no latent explorer, so the
section draws its own candidates; its real images go into z through the encoder."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from widget_helpers import (
    assert_open_section_is_in_the_static_picture,
    open_latent_space,
    project_real_pair,
    wait_until,
)

import genai_widgets as gw
from genai_widgets.engine import images


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def same_picture(png: bytes, expected: torch.Tensor, nrow: int) -> bool:
    return bool(png) and np.array_equal(pixels(png), pixels(images.grid_png(expected, nrow=nrow)))


@pytest.fixture(scope="module")
def paused_vae(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A tiny digits VAE (latent_dim 6), trained a little, then paused for the module."""
    run = gw.train_vae(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=6, max_steps=None,
        sample_every=5, n_samples=16, run_dir=tmp_path_factory.mktemp("vae-latent"),
    )  # fmt: skip
    try:
        wait_until(lambda: run.snapshot_count >= 2, 60, "two snapshots")
        run.pause()
        wait_until(lambda: run.status == "paused", 20, "paused")
        yield run
    finally:
        run.stop()
        run.wait(10)


@pytest.fixture(scope="module")
def space(paused_vae) -> Iterator[Any]:
    with open_latent_space(gw.VAEDashboard, paused_vae) as d:
        yield d


def test_the_folded_section_computes_nothing(paused_vae):
    from genai_widgets.widgets import latent_space
    from genai_widgets.widgets.gan import latent_space as old_path

    assert old_path.LatentSpacePanel is latent_space.LatentSpacePanel  # the old import works
    d = gw.VAEDashboard(paused_vae)
    try:
        wait_until(lambda: d.views_step >= 0 and d.recon_png, 60, "the VAE's own views")
        assert d.latent_space_enabled and not d.latent_space_open
        assert d.candidates_png == b"" and d.direction_variance == [] and d.copy_rate == -1
        assert d.method == "lerp"  # posterior means need not have the prior's norm
    finally:
        d.close()


def test_the_candidates_are_prior_samples_of_the_seed(space, paused_vae):
    d = space
    z = paused_vae.random_z(d.candidate_count, seed=d.candidate_seed)
    expected = paused_vae.sample(z=z)
    wait_until(lambda: same_picture(d.candidates_png, expected, d.candidate_columns), 30, "grid")
    d.candidate_seed, d.candidate_columns = 7, 4  # "New candidates", in two rows
    z = paused_vae.random_z(d.candidate_count, seed=7)
    wait_until(lambda: same_picture(d.candidates_png, paused_vae.sample(z=z), 4), 30, "seed 7")
    wait_until(lambda: not d.latent_busy, 60, "the views of the new candidates")


def test_sliders_move_the_clicked_sample_a_along_the_directions(space, paused_vae):
    d = space
    k = int(paused_vae.latent_dim)  # 8 asked for, as many as the latent has
    assert len(d.direction_variance) == k == len(d.direction_offsets)
    assert d.latent_error == "", d.latent_error
    directions = d._directions
    z = paused_vae.random_z(d.candidate_count, seed=d.candidate_seed)
    d.start_index = 3  # a click on the candidate grid
    amounts = [0.0, -2.5] + [0.0] * (k - 2)
    d.direction_offsets = amounts
    a = z[3:4]
    moved = paused_vae.move_z(a, amounts, directions=directions)
    expected = paused_vae.sample(z=torch.cat([a, moved]))
    wait_until(lambda: same_picture(d.direction_moved_png, expected, 2), 30, "A=3 moved")
    d.direction_index = 1
    strip = paused_vae.traverse_direction(z=a, index=1, directions=directions)
    wait_until(lambda: same_picture(d.direction_strip_png, strip, 7), 30, "strip of direction 2")


def test_neighbours_of_the_candidates(space, paused_vae):
    d = space
    z = paused_vae.random_z(d.candidate_count, seed=d.candidate_seed)
    found = paused_vae.nearest_neighbours(samples=paused_vae.sample(z=z))
    # New candidates keep the old neighbours until "Find neighbours" (as in the GAN dashboard).
    d._on_custom_message(d, {"type": "neighbours_refresh"}, [])
    wait_until(
        lambda: np.allclose(d.neighbour_distances, found.distances.reshape(-1), rtol=1e-5),
        60,
        "the neighbours of the candidates of seed 7",
    )
    assert d.neighbour_space == found.space and 0.0 <= d.copy_rate <= 1.0
    assert d.copy_rate == pytest.approx(paused_vae.copy_rate())


def test_real_images_go_into_z_through_the_encoder(space, paused_vae):
    d = space
    real = project_real_pair(d, 120)
    mu, _ = paused_vae.encode(real[[0, 3]])  # the posterior means: no descent
    z0, z3 = d._projections[0].z[0], d._projections[3].z[0]
    assert np.allclose(torch.stack([z0, z3]).numpy(), mu.numpy(), atol=1e-5)
    assert d._projections[0].method == "encoder"
    frames = paused_vae.interpolate(z0, z3, steps=d.frames, method=d.method)
    assert same_picture(d.real_frames_png, frames, d.frames)
    top = torch.cat([real[[0, 3]], paused_vae.reconstruct(real[[0, 3]])])
    assert same_picture(d.real_projection_png, top, 2)  # the images over their reconstructions


def test_latent_arithmetic_on_the_candidates(space, paused_vae):
    d = space
    d.arith_plus, d.arith_minus, d.arith_base = [1, 2], [3], [4]
    z = paused_vae.random_z(d.candidate_count, seed=d.candidate_seed)
    delta = z[[1, 2]].mean(0) - z[3]
    expected = paused_vae.sample(z=z[4] + torch.linspace(0, 1, 5)[:, None] * delta)
    wait_until(lambda: same_picture(d.arith_png, expected, 5), 30, "base -> base + plus - minus")
    d.arith_base = []
    wait_until(lambda: d.arith_png == b"", 30, "no base: nothing drawn")


def test_the_static_picture_shows_the_open_section(space):
    assert_open_section_is_in_the_static_picture(space)
