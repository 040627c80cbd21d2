"""The GAN dashboard's latent-space views against the run methods they stand for: with the run
paused (fixed weights), each picture equals what the methods give when called by hand."""

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


@pytest.fixture(scope="module")
def paused(live_run) -> Iterator[Any]:
    """The module's live run, paused for the module so the weights stay put."""
    live_run.pause()
    wait_until(lambda: live_run.status == "paused", 20, "paused")
    yield live_run
    live_run.resume()


@pytest.fixture(scope="module")
def space(paused) -> Iterator[Any]:
    with open_latent_space(gw.Dashboard, paused) as d:
        yield d


def test_folded_views_compute_nothing(paused):
    d = gw.Dashboard(paused)
    try:
        wait_until(lambda: d.candidates_png and d.frames_png, 60, "the explorer's first frames")
        assert d.latent_space_enabled and not d.latent_space_open
        assert d.direction_variance == [] and d.neighbour_distances == [] and d.copy_rate == -1
    finally:
        d.close()


def test_sliders_move_sample_a_along_the_directions(space, paused):
    d = space
    assert len(d.direction_variance) == 8 == len(d.direction_offsets)
    assert d.latent_error == "", d.latent_error
    directions = d._directions
    z = paused.random_z(d.candidate_count, seed=d.candidate_seed)
    a = z[d.start_index]
    version = d.direction_moved_png
    d.direction_offsets = [3.0] + [0.0] * 7
    wait_until(lambda: d.direction_moved_png != version and not d.latent_busy, 30, "moved")
    moved = paused.move_z(a[None], [3.0] + [0.0] * 7, directions=directions)
    expected = paused.sample(z=torch.cat([a[None], moved]))
    assert np.array_equal(pixels(d.direction_moved_png), pixels(images.grid_png(expected, nrow=2)))
    # The strip: A from -3 to +3 sigma along the chosen direction, as traverse_direction draws.
    d.direction_index = 2
    strip = paused.traverse_direction(z=a[None], index=2, directions=directions)
    wait_until(
        lambda: np.array_equal(pixels(d.direction_strip_png), pixels(images.grid_png(strip, 7))),
        30,
        "strip of direction 3",
    )


def test_neighbours_of_the_candidates(space, paused):
    d = space
    z = paused.random_z(d.candidate_count, seed=d.candidate_seed)
    found = paused.nearest_neighbours(samples=paused.sample(z=z))
    assert np.allclose(d.neighbour_distances, found.distances.reshape(-1), rtol=1e-5)
    assert d.neighbour_space == found.space and 0.0 <= d.copy_rate <= 1.0


def test_two_real_images_are_projected_and_interpolated(space, paused):
    d = space
    real = project_real_pair(d, 180)
    mine = d._projections[3]
    again = paused.project(real[3:4])
    assert np.allclose(mine.z.numpy(), again.z.numpy(), atol=1e-5)  # the same projection
    frames = paused.interpolate(d._projections[0].z[0], mine.z[0], steps=d.frames)
    assert np.array_equal(pixels(d.real_frames_png), pixels(images.grid_png(frames, nrow=d.frames)))


def test_latent_arithmetic_from_clicked_selections(space, paused):
    d = space
    d.arith_plus, d.arith_minus, d.arith_base = [1, 2], [3], [4]
    wait_until(lambda: d.arith_png and not d.latent_busy, 30, "arithmetic")
    z = paused.random_z(d.candidate_count, seed=d.candidate_seed)
    delta = z[[1, 2]].mean(0) - z[3]
    expected = paused.sample(z=z[4] + torch.linspace(0, 1, 5)[:, None] * delta)
    wait_until(
        lambda: np.array_equal(pixels(d.arith_png), pixels(images.grid_png(expected, nrow=5))),
        30,
        "base -> base + plus - minus",
    )
    d.arith_base = []
    wait_until(lambda: d.arith_png == b"", 30, "no base: nothing drawn")


def test_the_static_picture_shows_the_open_views(space):
    assert_open_section_is_in_the_static_picture(space)


def test_the_class_picker_of_a_conditional_run(tmp_path):
    run = gw.train_gan(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=16, max_steps=5,
        conditional=True, n_samples=16, run_dir=tmp_path / "conditional",
    )  # fmt: skip
    assert run.wait(60) == "finished", run.traceback_text
    e = gw.LatentExplorer(run, candidate_count=4, candidate_columns=4)
    try:
        assert e.label_classes == 10 and e.explorer_label == -1
        z = run.random_z(4, seed=0)
        cycling = images.grid_png(run.sample(z=z, labels=[0, 1, 2, 3]), nrow=4)
        wait_until(lambda: e.candidates_png == cycling, 30, "one class per candidate")
        e.explorer_label = 7
        sevens = images.grid_png(run.sample(z=z, labels=7), nrow=4)
        wait_until(lambda: e.candidates_png == sevens, 30, "all of class 7")
        frames = run.interpolate(z[0], z[1], steps=e.frames, labels=7)
        wait_until(lambda: e.frames_png == images.grid_png(frames, nrow=e.frames), 30, "A's class")
    finally:
        e.close()
