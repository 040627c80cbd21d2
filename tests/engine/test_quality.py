"""Sample-quality measures (FID, KID, precision/recall, classes covered), DiffAugment and the
generator EMA: checked against hand computations and known cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from genai_widgets.data import get_dataset
from genai_widgets.families.gan.augment import diff_augment, parse_policy
from genai_widgets.families.gan.ema import GeneratorEMA
from genai_widgets.quality.fid import (
    QualityMeter,
    classes_covered,
    frechet_distance,
    kernel_distance,
    precision_recall,
)


# ------------------------------------------------------------------ FID
def test_fid_of_a_set_against_itself_is_zero_and_against_noise_is_large():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    noise = rng.uniform(-20, 20, size=(400, 16))
    assert frechet_distance(x, noise) > 100


def test_fid_matches_the_closed_form_for_gaussians():
    # Diagonal covariances: FID = |mu1 - mu2|^2 + sum (sigma1 - sigma2)^2 exactly.
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20000, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, 2.0]
    b = rng.normal(size=(20000, 3)) * [2.0, 2.0, 1.5] + [1.0, 1.0, 0.0]
    # Standardise the samples so that the moments are exactly the intended ones.
    a = (a - a.mean(0)) / a.std(0, ddof=1) * [1.0, 2.0, 0.5] + [0.0, 1.0, 2.0]
    b = (b - b.mean(0)) / b.std(0, ddof=1) * [2.0, 2.0, 1.5] + [1.0, 1.0, 0.0]
    expected = (1 + 0 + 4) + (1 + 0 + 1)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_fid_refuses_bad_shapes():
    with pytest.raises(ValueError, match="feature sets"):
        frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))


# ------------------------------------------------------------------ KID
def test_kid_is_unbiased_on_equal_distributions_and_positive_on_different_ones():
    rng = np.random.default_rng(2)
    same = [
        kernel_distance(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)), subsets=1, seed=i)[0]
        for i in range(60)
    ]
    mean, se = np.mean(same), np.std(same) / np.sqrt(len(same))
    assert abs(mean) < 3 * se, (mean, se)  # centred on 0, not biased upwards like the V-statistic
    shifted = kernel_distance(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)) + 1.0)[0]
    assert shifted > 10 * se


# ------------------------------------------------------------------ precision / recall
def test_precision_recall_of_identical_and_disjoint_sets():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 4))
    assert precision_recall(x, x) == (1.0, 1.0)
    far = x + 100.0
    assert precision_recall(x, far) == (0.0, 0.0)
    # Half of the fakes on the real manifold, all collapsed onto one point of it.
    collapsed = np.repeat(x[:1], 50, axis=0)  # a different size from the real set
    precision, recall = precision_recall(x, collapsed)
    assert precision == 1.0 and recall < 0.1


# ------------------------------------------------------------------ classes covered
def test_classes_covered_counts_confident_classes():
    eye = np.eye(10) * 20
    all_classes = np.tile(eye, (10, 1))
    assert classes_covered(all_classes) == 1.0
    one_class = np.tile(eye[3], (100, 1))
    assert classes_covered(one_class) == 0.1
    unsure = np.zeros((100, 10))  # uniform probabilities: nothing confident
    assert classes_covered(unsure) == 0.0


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    src = get_dataset("digits", image_size=16)
    cache = tmp_path_factory.mktemp("feature-nets")
    m = QualityMeter.for_data(src.tensor, src.labels, epochs=10, width=16, cache_dir=cache)
    return src, m, cache


def test_feature_net_learns_the_digits_and_is_cached(meter):
    src, m, cache = meter
    assert m.info["accuracy"] > 0.75, m.info  # 10 quick epochs of a narrow net
    assert list(cache.iterdir()), "the trained net was not cached"
    again = QualityMeter.for_data(src.tensor, src.labels, epochs=10, width=16, cache_dir=cache)
    x = src.tensor[:50]
    assert np.allclose(again.features(x), m.features(x))


def test_a_collapsed_sample_set_lowers_classes_covered_and_raises_fid(meter):
    src, m, _ = meter
    g = torch.Generator().manual_seed(0)
    real = src.tensor[torch.randperm(len(src.tensor), generator=g)[:500]]
    ones = src.tensor[src.labels == 1]
    collapsed = ones[torch.randint(len(ones), (500,), generator=g)]
    good, bad = m(real), m(collapsed)
    assert good["classes_covered"] >= 0.9
    assert bad["classes_covered"] <= 0.2
    assert bad["fid"] > 10 * max(good["fid"], 1.0)
    assert bad["recall"] < good["recall"]
    noise = m(torch.rand(500, 1, 16, 16) * 2 - 1)
    assert noise["fid"] > bad["fid"] and noise["precision"] < 0.1


# ------------------------------------------------------------------ DiffAugment
def test_diff_augment_keeps_shape_and_passes_gradients():
    x = torch.randn(8, 1, 16, 16, requires_grad=True)
    y = diff_augment(x, parse_policy("color,translation,cutout"), torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_shifts_content_and_cutout_zeroes_a_half_side_square():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    moved = diff_augment(x, ["translation"], torch.Generator().manual_seed(0))
    where = moved[:, 0].flatten(1).argmax(1)
    rows, cols = where // 16, where % 16
    assert (rows - 8).abs().max() <= 2 and (cols - 8).abs().max() <= 2  # 1/8 of 16
    assert ((rows != 8) | (cols != 8)).any()  # some images actually moved
    assert torch.allclose(moved.sum((1, 2, 3)), torch.ones(64)) or moved.sum() <= 64
    ones = torch.ones(16, 1, 16, 16)
    cut = diff_augment(ones, ["cutout"], torch.Generator().manual_seed(1))
    zeros = (cut == 0).flatten(1).sum(1)
    assert zeros.max() == 64 and zeros.min() > 0  # an 8x8 square, clipped at the border


def test_unknown_augmentation_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="valid: color, translation, cutout"):
        parse_policy("translation,flip")
    assert parse_policy("none") == () and parse_policy(None) == ()


# ------------------------------------------------------------------ EMA
def test_ema_averages_weights_and_round_trips():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = GeneratorEMA(g, decay=0.9)
    start = ema.module[0].weight.clone()
    with torch.no_grad():
        g[0].weight.add_(1.0)
        g[1].running_mean.fill_(5.0)
    ema.update(g)  # first update: effective decay min(0.9, 2/11)
    d = 2 / 11
    assert torch.allclose(ema.module[0].weight, d * start + (1 - d) * g[0].weight)
    # Batch-norm statistics are not copied from the live generator: calibrate() computes them.
    assert torch.equal(ema.module[1].running_mean, torch.zeros(3))
    assert not any(p.requires_grad for p in ema.module.parameters())
    other = GeneratorEMA(g, decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 1 and other.decay == 0.9
    assert torch.equal(other.module[0].weight, ema.module[0].weight)
    with pytest.raises(ValueError, match="decay"):
        GeneratorEMA(g, decay=1.0)


def test_ema_calibrates_batch_norm_for_the_averaged_weights():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    ema = GeneratorEMA(g, decay=0.9)
    with torch.no_grad():
        g[0].weight.mul_(3.0)
        g[1].running_mean.fill_(7.0)  # the live generator's statistics: not the average's
    ema.update(g)
    z = torch.randn(300, 3)
    assert ema.calibrate(z, batch=100) and ema.calibrated_at == 1
    with torch.no_grad():
        h = ema.module[0](z)  # what the average's batch norm sees
    torch.testing.assert_close(ema.module[1].running_mean, h.mean(0))
    # Cumulative mean of the three batches' unbiased variances.
    var = torch.stack([h[i : i + 100].var(0) for i in (0, 100, 200)]).mean(0)
    torch.testing.assert_close(ema.module[1].running_var, var)
    assert not ema.module.training and ema.module[1].momentum == 0.1  # restored
    assert not ema.calibrate(z)  # current: nothing to do
    ema.update(g)
    assert ema.module[1].running_mean.ne(7.0).all()  # update leaves the statistics alone
    assert ema.calibrate(z) and ema.calibrated_at == 2
    ema.update(g)
    assert not ema.calibrate(z, max_age=1) and ema.calibrated_at == 2  # one update old: kept
    ema.update(g)
    assert ema.calibrate(z, max_age=1) and ema.calibrated_at == 4
    plain = GeneratorEMA(nn.Linear(3, 2), decay=0.9)  # no batch norm: nothing to calibrate
    assert not plain.has_batch_norm and not plain.calibrate(z)


# ------------------------------------------------------------------ warnings
def test_quality_warnings_name_mode_collapse_and_over_fitting():
    from genai_widgets.quality.fid import quality_warnings

    steps = np.array([500, 1000, 1500, 2000, 2500.0])
    healthy = {"step": steps, "fid": np.array([40, 30, 25, 22, 21.0]),
               "classes_covered": np.array([0.9, 1, 1, 1, 1.0])}  # fmt: skip
    assert quality_warnings(healthy) == []
    collapsed = dict(healthy, classes_covered=np.array([0.9, 1, 1, 0.5, 0.3]))
    ((kind, text),) = quality_warnings(collapsed)
    assert kind == "ModeCollapse" and "30%" in text
    rising = dict(healthy, fid=np.array([40, 20, 24, 28, 33.0]))
    ((kind, text),) = quality_warnings(rising)
    assert (
        kind == "QualityDeclining" and "best 20.0 at step 1000" in text and "over-fitting" in text
    )
    assert quality_warnings({}) == []


# ------------------------------------------------------------------ live, off the trainer
def test_quality_is_measured_live_off_the_training_thread(tmp_path):
    import genai_widgets as gw
    from genai_widgets.quality.fid import quality_evaluator

    src = get_dataset("digits", image_size=16)
    run = gw.train_gan(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=16, device="cpu",
        max_steps=30, run_dir=str(tmp_path / "r"), augment="none",
    )  # fmt: skip
    run.add_evaluator(
        quality_evaluator(
            src.tensor,
            src.labels,
            every_steps=10,
            n_samples=200,
            epochs=3,
            width=8,
            cache_dir=tmp_path / "nets",
        )  # fmt: skip
    )
    run.wait(240)
    ev = run.evaluations
    assert len(ev["fid"]) >= 1 and np.isfinite(ev["fid"]).all(), ev
    assert set(ev) >= {"step", "fid", "kid", "precision", "recall", "classes_covered"}
    assert ev["classes_covered"].min() >= 0 and ev["classes_covered"].max() <= 1
    # Computed on the evaluation thread, never on the trainer (thread identity, not timing).
    trainer = run._thread.ident
    idents = run._evaluations.thread_idents
    assert idents and trainer not in idents
    assert "fid" in run.history  # beside the losses, NaN where not measured
    again = gw.load_run(run.run_dir)  # stored: a reloaded run has them
    assert len(again.evaluations["fid"]) == len(ev["fid"])


def test_quality_every_adds_the_evaluator_only_for_labelled_images(tmp_path):
    import genai_widgets as gw

    common = dict(image_size=16, width=8, batch_size=16, latent_dim=16, device="cpu",
                  max_steps=1, quality_every=100)  # fmt: skip
    from torch.utils.data import TensorDataset

    small = TensorDataset(torch.rand(64, 1, 16, 16) * 2 - 1, torch.arange(64) % 4)  # labelled
    images = gw.train_gan(data=small, run_dir=str(tmp_path / "quality-labelled"), **common)
    unlabelled = gw.train_gan(
        data=torch.rand(40, 1, 16, 16) * 2 - 1,
        run_dir=str(tmp_path / "quality-unlabelled"),
        **common,
    )
    for r in (images, unlabelled):
        r.wait(120)
    assert "fid" in images.evaluation_names
    assert "fid" not in unlabelled.evaluation_names


# ------------------------------------------------------------------ Inception FID (optional)
@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """An Inception weights file in torch-fidelity's format. The real one is a download this
    machine cannot make, so the same network is built with random weights (its constructor's
    download and load bypassed) and saved the way torch-fidelity's release file is. The code
    under test then loads it from disk exactly as it would load the real file."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    from genai_widgets.quality.fid import INCEPTION_WEIGHTS

    saved_url, saved_load = (
        fe.load_state_dict_from_url,
        fe.FeatureExtractorInceptionV3.load_state_dict,
    )
    fe.load_state_dict_from_url = lambda *a, **k: {}
    fe.FeatureExtractorInceptionV3.load_state_dict = lambda self, *a, **k: None
    try:
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["64"])
    finally:
        fe.load_state_dict_from_url = saved_url
        fe.FeatureExtractorInceptionV3.load_state_dict = saved_load
    path = tmp_path_factory.mktemp("hub") / INCEPTION_WEIGHTS
    torch.save(net.state_dict(), path)
    return path


def test_inception_weights_are_found_on_disk_or_refused_saying_where(
    inception_file, tmp_path, monkeypatch
):
    from genai_widgets.quality.fid import find_inception_weights

    assert find_inception_weights(inception_file) == inception_file
    with pytest.raises(FileNotFoundError, match="no file at"):
        find_inception_weights(tmp_path / "missing.pth")
    monkeypatch.setenv("GENAI_WIDGETS_INCEPTION_WEIGHTS", str(inception_file))
    assert find_inception_weights("auto") == inception_file
    monkeypatch.delenv("GENAI_WIDGETS_INCEPTION_WEIGHTS")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        find_inception_weights("auto")


def test_inception_fid_is_zero_for_the_real_set_and_large_for_noise(inception_file):
    from genai_widgets.quality.fid import InceptionFID

    real = get_dataset("digits", image_size=16).tensor[:100]
    fid = InceptionFID(real, inception_file, features=64)
    same, noise = fid(real), fid(torch.rand(100, 1, 16, 16) * 2 - 1)
    assert abs(same) < 1e-3 * noise and noise > 0, (same, noise)


def test_quality_meter_and_runs_take_the_inception_option(inception_file, tmp_path):
    import genai_widgets as gw
    from genai_widgets.families import build_run, make_config

    src = get_dataset("digits", image_size=16)
    meter = QualityMeter.for_data(
        src.tensor, src.labels, epochs=2, width=8, cache_dir=tmp_path / "nets",
        reference=64, inception_weights=inception_file, inception_features=64,
    )  # fmt: skip
    out = meter(src.tensor[200:264])
    assert {"fid", "fid_inception"} <= set(out) and np.isfinite(out["fid_inception"])
    common = dict(data="digits", image_size=16, width=8, device="cpu", quality_every=100)
    run = build_run(
        make_config(run_dir=str(tmp_path / "inc"), inception_weights=str(inception_file), **common)
    )
    assert "fid_inception" in run.evaluation_names
    with pytest.raises(FileNotFoundError, match="no file at"):
        gw.train_gan(run_dir=str(tmp_path / "x"), inception_weights="/nowhere.pth", **common)
