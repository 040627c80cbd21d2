"""Nearest training neighbours and the copy rate (the memorisation check): exact on a
hand-made set, high for copies and low for noise through the real feature net, and the
run-level API on a short real GAN / VAE run on the digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genai_widgets as gw
from genai_widgets.data import get_dataset
from genai_widgets.quality import neighbours as nb
from genai_widgets.quality.fid import quality_evaluator, quality_warnings
from genai_widgets.quality.neighbours import (
    NeighbourIndex,
    copy_rate,
    copy_threshold,
    nearest_neighbours,
    nearest_other_distances,
)

# Four training points and four queries whose neighbours are worked out by hand:
#   (0,0)-(1,0) are 1 apart, (0,2) is 2 from (0,0), (5,5) is sqrt(34) from (0,2):
#   nearest-other distances [1, 1, 2, sqrt 34], median (1 + 2) / 2 = 1.5.
TRAIN = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
QUERY = np.array([[0.5, 0.0], [0.0, 1.9], [3.0, 3.0], [10.0, 0.0]])


def test_neighbours_distances_and_copy_rate_are_exact_on_a_hand_made_set():
    idx, dist = nearest_neighbours(QUERY, TRAIN)
    assert idx.shape == dist.shape == (4, 1)
    # (0.5, 0) is 0.5 from both (0,0) and (1,0): the tie goes to the lower index.
    assert idx[:, 0].tolist() == [0, 2, 3, 3]
    np.testing.assert_allclose(dist[:, 0], [0.5, 0.1, np.sqrt(8), np.sqrt(50)], rtol=1e-12)
    idx2, dist2 = nearest_neighbours(QUERY, TRAIN, k=2)
    assert idx2[0].tolist() == [0, 1] and idx2[2].tolist() == [3, 2]
    np.testing.assert_allclose(dist2[2], [np.sqrt(8), np.sqrt(10)], rtol=1e-12)
    np.testing.assert_allclose(nearest_other_distances(TRAIN), [1, 1, 2, np.sqrt(34)])
    assert copy_threshold(TRAIN) == pytest.approx(1.5)
    # Below 1.5: the first two queries (0.5, 0.1); not sqrt 8 nor sqrt 50.
    assert copy_rate(QUERY, TRAIN) == 0.5
    assert copy_rate(QUERY, TRAIN, threshold=0.5) == 0.25  # strictly closer: 0.5 is not
    # The training set against itself: every point is its own neighbour at distance 0.
    assert copy_rate(TRAIN, TRAIN) == 1.0
    # Excluding itself, a duplicate elsewhere in the set still counts (distance 0).
    dup = np.vstack([TRAIN, TRAIN[:1]])
    assert nearest_other_distances(dup)[0] == 0.0 and nearest_other_distances(dup)[4] == 0.0


def test_blocked_search_matches_brute_force(monkeypatch):
    rng = np.random.default_rng(0)
    q, t = rng.normal(size=(301, 7)), rng.normal(size=(97, 7))
    brute = np.sqrt(((q[:, None, :] - t[None, :, :]) ** 2).sum(-1))
    monkeypatch.setattr(nb, "BLOCK_ELEMENTS", 500)  # blocks of 5 query rows
    idx, dist = nearest_neighbours(q, t, k=3)
    np.testing.assert_array_equal(idx, np.argsort(brute, axis=1)[:, :3])
    np.testing.assert_allclose(dist, np.sort(brute, axis=1)[:, :3], rtol=1e-12)
    self_brute = np.sqrt(((t[:, None, :] - t[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(self_brute, np.inf)
    np.testing.assert_allclose(nearest_other_distances(t), self_brute.min(1), rtol=1e-12)


def test_bad_feature_input_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"query_feats must be a 2-D \(N, D\) feature array"):
        nearest_neighbours(np.zeros(3), TRAIN)
    with pytest.raises(ValueError, match="same width"):
        nearest_neighbours(np.zeros((2, 3)), TRAIN)
    with pytest.raises(ValueError, match=r"k must be an integer in 1\.\.4"):
        nearest_neighbours(QUERY, TRAIN, k=5)
    with pytest.raises(ValueError, match=r"k must be an integer in 1\.\.3"):
        nearest_neighbours(TRAIN, TRAIN, k=4, exclude_self=True)
    with pytest.raises(ValueError, match="finite"):
        copy_rate(np.full((2, 2), np.nan), TRAIN)
    with pytest.raises(ValueError, match="at least 2 training rows"):
        copy_threshold(TRAIN[:1])


# ------------------------------------------------------------------ the real feature net
@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", image_size=16)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """A small feature net's options, cached in a folder of this module's."""
    return dict(epochs=5, width=16, cache_dir=tmp_path_factory.mktemp("feature-nets"))


def test_copies_score_high_and_noise_low_in_the_classifier_space(digits, nets):
    index = NeighbourIndex.for_data(digits.tensor, digits.labels, **nets)
    assert index.space == "classifier features"
    assert index.features.shape == (len(digits.tensor), 64)  # 4 x width
    g = torch.Generator().manual_seed(0)
    copies = digits.tensor[torch.randperm(len(digits.tensor), generator=g)[:300]]
    noise = torch.rand(300, 1, 16, 16, generator=g) * 2 - 1
    assert index.copy_rate(copies) > 0.5
    assert index.copy_rate(noise) < 0.1
    rows, dist = index.nearest(copies[:20])
    assert dist.max() == pytest.approx(0.0, abs=1e-9)  # each copy finds itself (or a twin)
    found = index.embed(digits.tensor[torch.from_numpy(rows[:, 0])])
    np.testing.assert_allclose(found, index.embed(copies[:20]), atol=1e-9)


def test_unlabelled_images_fall_back_to_pixels_with_a_subset_cap(digits):
    index = NeighbourIndex.for_data(digits.tensor, None, cap=600, seed=3)
    assert index.space == "pixels" and index.net is None
    assert len(index.rows) == 600 and len(set(index.rows.tolist())) == 600
    flat = digits.tensor[torch.from_numpy(index.rows)].reshape(600, -1).double().numpy()
    np.testing.assert_array_equal(index.features, flat)
    assert index.threshold == pytest.approx(copy_threshold(flat))
    assert index.copy_rate(digits.tensor[torch.from_numpy(index.rows[:100])]) == 1.0
    assert index.copy_rate(torch.rand(100, 1, 16, 16) * 2 - 1) < 0.1


# ------------------------------------------------------------------ runs
@pytest.fixture(scope="module")
def gan_run(tmp_path_factory, nets):
    run = gw.train_gan(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=16, device="cpu",
        max_steps=10, augment="none", run_dir=str(tmp_path_factory.mktemp("gan") / "r"),
    )  # fmt: skip
    run.family.feature_net_options = nets
    assert run.wait(120) == "finished", run.traceback_text
    return run


def test_run_neighbours_are_real_training_images_at_brute_force_distances(gan_run, nets):
    run = gan_run
    out = run.nearest_neighbours(n=8, seed=1)
    data = run.data_source.tensor
    assert out.space == "classifier features"
    assert out.samples.shape == (8, 1, 16, 16) and len(out) == 8
    assert out.indices.dtype == torch.int64 and out.distances.dtype == torch.float64
    assert torch.equal(out.neighbours, data[out.indices])  # bitwise the training rows
    # The same samples again from the same seed: generated from the current weights.
    assert torch.equal(out.samples, run.sample(z=run.random_z(8, seed=1)))
    # Brute force over the whole training set in the same feature space.
    index = run.neighbour_index()
    train = index.embed(data)
    fake = index.embed(out.samples)
    brute = np.sqrt(((fake[:, None, :] - train[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(out.distances.numpy(), brute.min(1), rtol=1e-9)
    np.testing.assert_allclose(brute[np.arange(8), out.indices.numpy()], brute.min(1), rtol=1e-9)
    assert torch.equal(out.copied, out.distances < out.threshold)
    # Training images passed as samples find themselves.
    mine = run.nearest_neighbours(samples=data[[5, 100, 700]])
    assert mine.distances.max() == pytest.approx(0.0, abs=1e-9)
    assert torch.equal(mine.neighbours, data[[5, 100, 700]])


def test_grid_samples_and_snapshot_arrays(gan_run):
    run = gan_run
    grid = run.nearest_neighbours(samples="grid")
    assert torch.equal(grid.samples, run.sample(z=run.fixed_z))
    assert len(grid) == len(run.fixed_z)
    snap = run.get_snapshot(run.snapshot_count - 1)  # uint8 NHWC, as the dashboard holds it
    from_snap = run.nearest_neighbours(samples=snap)
    assert from_snap.samples.shape == (len(snap), 1, 16, 16)
    assert from_snap.samples.min() >= -1 and from_snap.samples.max() <= 1


def test_run_copy_rate_is_a_share_and_the_index_is_kept(gan_run):
    run = gan_run
    first = run.neighbour_index()
    rate = run.copy_rate(n=300, seed=2)
    assert 0.0 <= rate <= 1.0
    assert rate == run.copy_rate(n=300, seed=2)  # the same samples, the same answer
    assert run.neighbour_index() is first  # training features computed once per run


def test_run_neighbours_refuse_bad_input_in_one_line(gan_run):
    run = gan_run
    with pytest.raises(ValueError, match=r"samples must be images of shape \(N, 1, 16, 16\)"):
        run.nearest_neighbours(samples=torch.zeros(3, 1, 8, 8))
    with pytest.raises(ValueError, match="got 'grids'"):
        run.nearest_neighbours(samples="grids")
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            run.nearest_neighbours(n=bad)
        with pytest.raises(ValueError, match="n must be a positive integer"):
            run.copy_rate(n=bad)


def test_points_runs_are_refused_and_the_vae_offers_it_too(tmp_path, nets):
    points = gw.train_gan(data="ring", max_steps=2, device="cpu", run_dir=str(tmp_path / "p"))
    vae = gw.train_vae(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=4, device="cpu",
        max_steps=4, run_dir=str(tmp_path / "v"),
    )  # fmt: skip
    vae.family.feature_net_options = nets
    for run in (points, vae):
        assert run.wait(60) == "finished", run.traceback_text
    with pytest.raises(ValueError, match="for image data, got points"):
        points.nearest_neighbours()
    out = vae.nearest_neighbours(n=4)
    assert torch.equal(out.neighbours, vae.data_source.tensor[out.indices])
    assert "training neighbours" in vae.capabilities


# ------------------------------------------------------------------ live copy rate, warning
def test_the_quality_evaluator_records_a_copy_rate(tmp_path, digits):
    run = gw.train_gan(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=16, device="cpu",
        max_steps=10, run_dir=str(tmp_path / "r"), augment="none",
    )  # fmt: skip
    run.add_evaluator(
        quality_evaluator(
            digits.tensor,
            digits.labels,
            every_steps=5,
            n_samples=100,
            epochs=3,
            width=8,
            cache_dir=tmp_path / "nets",
        )  # fmt: skip
    )
    assert run.wait(120) == "finished", run.traceback_text
    run._evaluations.join(60)
    rates = run.evaluations["copy_rate"]
    assert len(rates) >= 1 and np.all((rates >= 0) & (rates <= 1)), run.evaluations
    assert "copy_rate" in run.history


def test_copy_rate_rising_warns_only_above_what_fresh_data_scores():
    steps = np.array([500, 1000, 1500, 2000.0])
    base = {"step": steps, "fid": np.array([40, 30, 25, 22.0]),
            "classes_covered": np.ones(4)}  # fmt: skip
    # A generator getting better towards a held-out set's ~0.5: no warning.
    assert quality_warnings(dict(base, copy_rate=np.array([0.0, 0.2, 0.4, 0.52]))) == []
    ((kind, text),) = quality_warnings(dict(base, copy_rate=np.array([0.1, 0.3, 0.5, 0.75])))
    assert kind == "CopyRateRising" and "75%" in text and "lowest 10%" in text
    # High from the start and not rising: no "rising" warning; one value: no trend at all.
    assert quality_warnings(dict(base, copy_rate=np.array([0.7, 0.72, 0.7, 0.71]))) == []
    assert quality_warnings(dict(base, copy_rate=np.array([np.nan, np.nan, np.nan, 0.9]))) == []


def test_the_gan_health_check_passes_the_copy_rate_warning_on(gan_run):
    evaluations = {"step": np.array([5.0, 10.0]), "fid": np.array([50.0, 45.0]),
                   "classes_covered": np.ones(2), "copy_rate": np.array([0.2, 0.9])}  # fmt: skip
    found = dict(gan_run.family.health(gan_run.history, 10, gan_run.settings, evaluations))
    assert set(found) == {"CopyRateRising"} and "90%" in found["CopyRateRising"]


def test_a_gan_with_live_quality_trains_past_its_first_health_check(tmp_path, monkeypatch, nets):
    # The health check (every 50 steps) reads the quality columns; it once called .items()
    # on quality_warnings' list and failed every run with quality_every at step 50.
    from genai_widgets.families.gan.family import GANFamily

    monkeypatch.setattr(GANFamily, "feature_net_options", nets)  # small net, own cache
    run = gw.train_gan(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=16, device="cpu",
        max_steps=50, quality_every=1000, run_dir=str(tmp_path / "q"),
    )  # fmt: skip
    assert run.wait(120) == "finished", run.traceback_text
    assert "copy_rate" in run.evaluation_names
