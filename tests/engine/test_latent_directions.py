"""Semantic latent directions (GANSpace) on real short runs: orthonormal directions with
variance shares, direction 1 moving the samples more than direction 10, matching across
refreshes (permutations and signs), the strip along one direction, the VAE, refreshes while
training leaving the training bit-identical, and the errors for bad input."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch
from threadpoolctl import threadpool_info

import genai_widgets as gw
from genai_widgets.families.directions import (
    LatentDirections,
    match_directions,
    principal_components,
    regress_directions,
)

TINY = dict(data="digits", image_size=16, width=8, batch_size=16, latent_dim=16, device="cpu")


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    """A 30-step DCGAN on the digits (latent size 16), shared by the tests of this module."""
    run = gw.train_gan(
        **TINY, max_steps=30, run_dir=str(tmp_path_factory.mktemp("gan") / "directions")
    )
    assert run.wait(120) == "finished"
    return run


@pytest.mark.parametrize("layer", ["affine", "relu"])
def test_the_randomized_pca_agrees_with_the_exact_svd(layer):
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(1500, 12, generator=gen)
    w = torch.randn(12, 200, generator=gen)
    acts = z @ w + 3 if layer == "affine" else torch.relu(z @ w)
    centered = (acts - acts.mean(0)).double()
    u, s, _ = torch.linalg.svd(centered, full_matrices=False)
    exact = s[:10] ** 2 / centered.pow(2).sum()
    threads = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    coords, shares, total = principal_components(acts, 10, rank=12)
    # It ran on one BLAS thread and gave the process its thread counts back.
    assert [(i["internal_api"], i["num_threads"]) for i in threadpool_info()] == threads
    assert float(total) == pytest.approx(float(centered.pow(2).sum() / 1499), rel=1e-5)
    assert torch.allclose(shares, exact, rtol=1e-3)
    overlap = (torch.nn.functional.normalize(coords, dim=0).T @ u[:, :10]).abs().diagonal()
    assert (overlap > 0.999).all(), overlap
    narrow = acts[:, :15]  # a basis of 22 columns would be wider: the exact SVD
    _, s15, _ = torch.linalg.svd((narrow - narrow.mean(0)).double(), full_matrices=False)
    exact15 = s15[:10] ** 2 / (narrow - narrow.mean(0)).double().pow(2).sum()
    assert torch.allclose(principal_components(narrow, 10, rank=12)[1], exact15, rtol=1e-6)


def test_an_affine_first_layer_gives_its_singular_directions_in_order():
    # Activations z @ w with w = U diag(12 .. 1) V^T: component i has coordinates z @ U[:, i]
    # times s_i, so regressing z on them gives back U[:, i], in order of s_i.
    gen = torch.Generator().manual_seed(1)
    left, _ = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=torch.float64))
    right, _ = torch.linalg.qr(torch.randn(300, 12, generator=gen, dtype=torch.float64))
    w = left @ torch.diag(torch.linspace(12, 1, 12, dtype=torch.float64)) @ right.T
    z = torch.randn(4000, 12, generator=gen, dtype=torch.float64)
    coords, shares, _ = principal_components((z @ w).float(), 6, rank=12)
    dirs = regress_directions(coords, z)
    assert (shares.diff() < 0).all()
    agreement = (dirs @ left[:, :6]).abs().diagonal()
    assert (agreement > 0.98).all(), agreement  # z's sample covariance is not exactly I


def test_directions_are_orthonormal_with_sorted_variance_shares(gan):
    dirs = gan.latent_directions(k=10, match=False)
    assert isinstance(dirs, LatentDirections) and gan.last_directions is dirs
    assert dirs.directions.shape == (10, 16) and dirs.directions.dtype == torch.float32
    gram = dirs.directions.double() @ dirs.directions.double().T
    assert torch.allclose(gram, torch.eye(10, dtype=torch.float64), atol=1e-5)
    v = dirs.variance
    assert len(v) == 10 and all(x >= 0 for x in v) and 0 < sum(v) <= 1
    assert v == sorted(v, reverse=True) and v[0] > v[-1]
    assert dirs.order == list(range(10)) and dirs.step == gan.step == 30
    assert dirs.samples == 2000 and dirs.layer == "net.0"  # the DCGAN's first ConvTranspose2d
    # z ~ N(0, I) projected on a unit vector has a standard deviation of about 1
    assert all(0.9 < s < 1.1 for s in dirs.sigmas)
    # The same weights and seed give the same directions; all k = latent size explain it all.
    again = gan.latent_directions(k=10, match=False)
    assert torch.allclose(again.directions, dirs.directions, atol=1e-5)
    full = gan.latent_directions(k=16, samples=500, match=False)
    assert sum(full.variance) == pytest.approx(1.0, abs=1e-6)  # the layer is linear in z


def test_the_first_direction_moves_samples_more_than_the_tenth(gan):
    dirs = gan.latent_directions(k=10, match=False)
    z = gan.random_z(64, seed=5)

    def change(index: int) -> float:
        amounts = [0.0] * index
        up = gan.sample(z=gan.move_z(z, [*amounts, 3.0], directions=dirs))
        down = gan.sample(z=gan.move_z(z, [*amounts, -3.0], directions=dirs))
        return float((up - down).abs().mean())

    first, tenth = change(0), change(9)
    assert first > tenth > 0, (first, tenth)
    # move_z adds amounts * sigma along the rows, and nothing else
    moved = gan.move_z(z[0], [0.0, 2.0], directions=dirs)
    expected = z[0] + 2.0 * dirs.sigmas[1] * dirs.directions[1]
    assert moved.shape == (1, 16) and torch.allclose(moved[0], expected, atol=1e-6)


def test_traverse_direction_is_the_sigma_strip_decoded(gan):
    dirs = gan.latent_directions(k=4, match=False)
    z = gan.random_z(2, seed=3)
    strip = gan.traverse_direction(z, 2, sigmas=(-3, 0, 3), directions=dirs)
    assert strip.shape == (6, 1, 16, 16)
    by_hand = torch.cat(
        [
            gan.sample(z=gan.move_z(code, [0, 0, s], directions=dirs))
            for code in z
            for s in (-3, 0, 3)
        ]
    )
    assert torch.allclose(strip, by_hand, atol=1e-5)
    assert torch.allclose(strip[1], gan.sample(z=z[:1])[0], atol=1e-5)  # 0 sigma: z itself
    default = gan.traverse_direction(index=0)  # from zeros along the latest directions
    assert default.shape == (7, 1, 16, 16) and not torch.allclose(default[0], default[-1])


def test_matching_undoes_a_permutation_and_sign_flips_exactly(gan):
    original = gan.latent_directions(k=8, match=False)
    perm = [3, 0, 7, 5, 1, 6, 2, 4]
    signs = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0])
    scrambled = dataclasses.replace(
        original,
        directions=original.directions[perm] * signs.unsqueeze(1),
        variance=[original.variance[i] for i in perm],
        sigmas=[original.sigmas[i] for i in perm],
        order=[original.order[i] for i in perm],
    )
    back = match_directions(original, scrambled)
    assert torch.equal(back.directions, original.directions)
    assert back.variance == original.variance and back.order == original.order
    assert back.sigmas == original.sigmas
    # Fewer new rows: they take their partners' order; more: the rest follow by variance.
    fewer = match_directions(original, dataclasses.replace(scrambled, directions=scrambled.directions[:3], variance=scrambled.variance[:3], sigmas=scrambled.sigmas[:3], order=scrambled.order[:3]))  # fmt: skip
    assert fewer.order == sorted(perm[:3])
    assert torch.equal(fewer.directions, original.directions[sorted(perm[:3])])
    small = dataclasses.replace(original, directions=original.directions[:2], variance=original.variance[:2], sigmas=original.sigmas[:2], order=[0, 1])  # fmt: skip
    more = match_directions(small, scrambled)
    assert more.order == [0, 1, 3, 7, 5, 6, 2, 4]
    assert torch.equal(more.directions[:2], original.directions[:2])


def test_a_refresh_after_more_training_is_matched_to_the_previous_result(tmp_path):
    run = gw.train_gan(**TINY, max_steps=20, run_dir=str(tmp_path / "r"))
    assert run.wait(120) == "finished"
    first = run.latent_directions(k=10)
    run.set(max_steps=60)
    run.resume()
    assert run.wait(120) == "finished" and run.step == 60
    second = run.latent_directions(k=10, seed=1)
    assert second.step == 60 and run.last_directions is second
    raw = run.latent_directions(k=10, seed=1, match=False)  # the same, in PCA order
    assert torch.equal(second.directions, match_directions(first, raw).directions)
    cos = (first.directions.double() @ second.directions.double().T).diagonal()
    raw_cos = (first.directions.double() @ raw.directions.double().T).diagonal()
    assert (cos > 0).all(), cos
    assert cos.sum() >= raw_cos.abs().sum() - 1e-9  # the best assignment, not the PCA order
    assert sorted(second.order) == list(range(10)) and cos.mean() > 0.5, cos


def test_refreshing_while_training_leaves_the_training_bit_identical(tmp_path):
    plain = gw.train_gan(**TINY, max_steps=40, run_dir=str(tmp_path / "plain"))
    assert plain.wait(120) == "finished"
    watched = gw.train_gan(**TINY, max_steps=40, run_dir=str(tmp_path / "watched"))
    results: list[LatentDirections] = []
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            while watched.status == "running" or not results:
                results.append(watched.latent_directions(k=6, samples=300))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    refresher = threading.Thread(target=refresh)
    refresher.start()
    assert watched.wait(120) == "finished"
    refresher.join(60)
    assert not errors
    steps = {r.step for r in results}
    assert len(steps) >= 2 and all(0 < s <= 40 for s in steps), steps  # while it trained
    for name in ("loss_g", "loss_d"):
        assert (watched.history[name] == plain.history[name]).all(), name


def test_the_vae_decoder_has_directions_too(tmp_path):
    run = gw.train_vae(
        data="digits",
        image_size=16,
        width=8,
        batch_size=16,
        latent_dim=8,
        device="cpu",
        max_steps=20,
        run_dir=str(tmp_path / "v"),
    )
    assert run.wait(120) == "finished"
    assert "latent directions" in run.capabilities
    dirs = run.latent_directions(k=8, samples=500)
    gram = dirs.directions.double() @ dirs.directions.double().T
    assert torch.allclose(gram, torch.eye(8, dtype=torch.float64), atol=1e-5)
    assert dirs.layer.endswith("project.0")  # the conv-vae decoder's first Linear
    assert 0 < sum(dirs.variance) <= 1
    assert run.traverse_direction(index=7, directions=dirs).shape == (7, 1, 16, 16)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(k=17), r"k must be an integer from 1 to the latent size \(16\), got 17"),
        (dict(k=0), "k must be an integer from 1 to the latent size"),
        (dict(k=2.5), "k must be an integer"),
        (dict(k=10, samples=5), r"samples must be an integer of at least k \(10\)"),
        (dict(seed="a"), "seed must be an integer"),
    ],
)
def test_bad_direction_requests_fail_with_one_line(gan, kwargs, message):
    with pytest.raises(ValueError, match=message) as caught:
        gan.latent_directions(**kwargs)
    assert "\n" not in str(caught.value)


def test_bad_traversals_and_moves_fail_with_one_line(gan):
    dirs = gan.latent_directions(k=4, match=False)
    with pytest.raises(ValueError, match=r"index must be in 0..3 \(4 directions\), got 4"):
        gan.traverse_direction(index=4, directions=dirs)
    with pytest.raises(ValueError, match="amounts must have at most 4 values"):
        gan.move_z(torch.zeros(16), [1, 2, 3, 4, 5], directions=dirs)
    with pytest.raises(ValueError, match="latent_dim"):
        gan.move_z(torch.zeros(3), [1], directions=dirs)
    with pytest.raises(ValueError, match="directions must be a LatentDirections"):
        gan.traverse_direction(index=0, directions=dirs.directions)
    other = dataclasses.replace(dirs, directions=torch.eye(5)[:4])
    with pytest.raises(ValueError, match="latent size 5 to ones of latent size 16"):
        match_directions(dirs, other)


def test_a_class_conditional_generator_has_directions(tmp_path):
    """Its generator takes (z, y): the first layer sees every class in turn."""
    run = gw.train_gan(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=16, max_steps=5,
        conditional=True, run_dir=tmp_path / "conditional",
    )  # fmt: skip
    assert run.wait(60) == "finished", run.traceback_text
    found = run.latent_directions(k=4, samples=200)
    d = found.directions.double()
    assert torch.allclose(d @ d.T, torch.eye(4, dtype=torch.float64), atol=1e-5)
    z = run.random_z(2, seed=0)
    strip = run.traverse_direction(z=z, index=0, labels=[4, 7])
    assert tuple(strip.shape) == (14, 1, 16, 16)
    moved = run.move_z(z[1:], [3.0])  # the strip's last image: +3 sigma along direction 1
    assert torch.allclose(strip[-1:], run.sample(z=moved, labels=7), atol=1e-5)
    default = run.traverse_direction(z=z[:1], index=0)  # one class, 0, all along the strip
    assert torch.allclose(default[-1:], run.sample(z=run.move_z(z[:1], [3.0]), labels=0), atol=1e-5)
