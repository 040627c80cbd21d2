"""Fields left at None ("auto") take the value that suits the data: the DCGAN paper's for
images, GAN Lab's 2-D latent plane and the mode-covering batch and learning rate for points."""

from __future__ import annotations

import pytest

import genai_widgets as gw
from genai_widgets.families.gan.config import (
    DATA_DEFAULTS,
    LOSS_DEFAULTS,
    GANConfig,
    resolve_defaults,
)


def test_auto_fields_resolve_by_the_kind_of_data():
    config = GANConfig()
    assert (config.latent_dim, config.batch_size, config.lr) == (None, None, None)
    images = resolve_defaults(config, "images")
    assert (images.latent_dim, images.batch_size, images.lr) == (64, 64, 2e-4)
    points = resolve_defaults(config, "points")
    assert (points.latent_dim, points.batch_size, points.lr) == (2, 256, 1e-3)
    given = resolve_defaults(config.replace(latent_dim=8, lr=5e-4), "points")
    assert (given.latent_dim, given.batch_size, given.lr) == (8, 256, 5e-4)
    assert set(DATA_DEFAULTS) == {"images", "points"}


def test_runs_store_the_resolved_values(tmp_path):
    ring = gw.families.build_run(
        gw.families.make_config(data="ring", device="cpu", run_dir=str(tmp_path / "r"))
    )
    assert (ring.config.latent_dim, ring.config.batch_size, ring.config.lr) == (2, 256, 1e-3)
    assert ring.latent_dim == 2 and ring.settings["lr"] == 1e-3
    digits = gw.families.build_run(
        gw.families.make_config(
            data="digits", image_size=16, width=8, device="cpu", run_dir=str(tmp_path / "d")
        )
    )
    assert (digits.config.latent_dim, digits.config.batch_size, digits.config.lr) == (64, 64, 2e-4)
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        digits.set(lr=None)


def test_loss_dependent_fields_follow_the_loss():
    plain = resolve_defaults(GANConfig(), "images")
    assert (plain.n_critic, plain.beta1, plain.beta2) == (1, 0.5, 0.999)
    wgan = resolve_defaults(GANConfig(loss="wgan-gp"), "points")
    assert (wgan.n_critic, wgan.beta1, wgan.beta2) == (5, 0.0, 0.9)  # Gulrajani et al. 2017
    mine = resolve_defaults(GANConfig(loss="wgan-gp", n_critic=2, beta1=0.5), "points")
    assert (mine.n_critic, mine.beta1, mine.beta2) == (2, 0.5, 0.9)
    assert set(LOSS_DEFAULTS["default"]) <= set(LOSS_DEFAULTS["wgan-gp"])


def test_small_data_defaults_follow_data_and_loss():
    images, points = (
        resolve_defaults(GANConfig(), "images"),
        resolve_defaults(GANConfig(), "points"),
    )
    assert (images.ema, images.r1) == (0.999, 0.1) and (points.ema, points.r1) == (0.99, 0.0)
    wgan = resolve_defaults(GANConfig(loss="wgan-gp"), "images")
    assert wgan.r1 == 0.0  # it has its own gradient penalty
    mine = resolve_defaults(GANConfig(r1=1.0, ema=0.0), "images")
    assert (mine.r1, mine.ema) == (1.0, 0.0)


def test_a_wgan_run_uses_its_defaults_and_refuses_auto_mid_run(tmp_path):
    run = gw.families.build_run(
        gw.families.make_config(
            data="ring", loss="wgan-gp", device="cpu", run_dir=str(tmp_path / "w")
        )
    )
    assert run.settings["n_critic"] == 5
    assert run.family.parts.opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    for name in ("n_critic", "beta1", "beta2"):
        with pytest.raises(ValueError, match=f"{name} must be"):
            run.set(**{name: None})
