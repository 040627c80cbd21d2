"""Mode coverage (VEEGAN / PacGAN measures): modes covered and the high-quality share, on
samples whose answer is known, and the coverage evaluator a ring / grid run gets by default."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genai_widgets as gw
from genai_widgets.data._toy import GRID_STD, RING_STD, grid_modes, ring_modes, toy_dataset
from genai_widgets.quality.coverage import mode_coverage, nearest_modes


def test_real_ring_samples_cover_8_of_8():
    real = toy_dataset("ring", n_points=2500, seed=1).tensor
    result = mode_coverage(real, ring_modes(), RING_STD)
    assert (result.modes_covered, result.modes_total) == (8, 8)
    # Within 3 std in 2-D: 1 - exp(-9/2) = 98.9% of a Gaussian's mass.
    assert result.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert result.min_count == math.ceil(0.2 * 2500 / 8)


def test_samples_from_one_mode_cover_1_of_8():
    gen = torch.Generator().manual_seed(0)
    one = ring_modes()[3] + torch.randn(2500, 2, generator=gen) * RING_STD
    result = mode_coverage(one, ring_modes(), RING_STD)
    assert (result.modes_covered, result.modes_total) == (1, 8)
    assert result.counts[3] > 2400 and sum(result.counts) == result.counts[3]


def test_real_grid_samples_cover_25_of_25():
    real = toy_dataset("grid", n_points=2500, seed=2).tensor
    result = mode_coverage(real, grid_modes(), GRID_STD)
    assert (result.modes_covered, result.modes_total) == (25, 25)
    assert result.min_count == 20  # PacGAN's threshold for 2,500 samples on the grid
    assert result.high_quality > 0.97


def test_a_mode_with_too_few_high_quality_samples_is_not_covered():
    gen = torch.Generator().manual_seed(0)
    modes = ring_modes()
    counts = [300] * 7 + [10]  # mode 7 gets 10 samples, under the threshold ceil(0.2*2110/8)=53
    points = torch.cat(
        [modes[k] + torch.randn(n, 2, generator=gen) * RING_STD for k, n in enumerate(counts)]
    )
    result = mode_coverage(points, modes, RING_STD)
    assert result.modes_covered == 7 and result.counts[7] == 10
    assert mode_coverage(points, modes, RING_STD, min_count=5).modes_covered == 8


def test_far_samples_are_low_quality_and_cover_nothing():
    points = torch.zeros(500, 2)  # the ring's centre: 2 units (100 std) from every mode
    result = mode_coverage(points, ring_modes(), RING_STD)
    assert result.modes_covered == 0 and result.high_quality == 0.0
    broken = torch.full((10, 2), float("nan"))
    assert mode_coverage(broken, ring_modes(), RING_STD).high_quality == 0.0


def test_nearest_modes_and_argument_checks():
    index, distance = nearest_modes(torch.tensor([[2.0, 0.1], [0.0, -2.0]]), ring_modes())
    assert index.tolist() == [0, 6] and distance.tolist() == pytest.approx([0.1, 0.0], abs=1e-6)
    with pytest.raises(ValueError, match="must agree in D"):
        mode_coverage(torch.zeros(4, 3), ring_modes(), 0.1)
    with pytest.raises(ValueError, match="std must be > 0"):
        mode_coverage(torch.zeros(4, 2), ring_modes(), 0.0)


def test_ring_runs_measure_coverage_live_and_digits_runs_do_not(tmp_path):
    run = gw.train_gan(data="ring", max_steps=40, device="cpu", run_dir=tmp_path / "ring")
    assert run.wait(60) == "finished"
    ev = run.evaluations
    assert {"modes_covered", "high_quality"} <= set(ev) and ev["step"][-1] == 40
    assert np.all((ev["modes_covered"] >= 0) & (ev["modes_covered"] <= 8))
    assert np.all((ev["high_quality"] >= 0) & (ev["high_quality"] <= 1))
    assert "modes_covered" in run.history and len(run.history["modes_covered"]) == 40
    digits = gw.train_gan(
        data="digits",
        image_size=16,
        width=8,
        batch_size=16,
        latent_dim=16,
        max_steps=2,
        device="cpu",
        run_dir=tmp_path / "digits",
    )
    assert digits.wait(60) == "finished"
    assert digits.evaluation_names == [] and "modes_covered" not in digits.history
