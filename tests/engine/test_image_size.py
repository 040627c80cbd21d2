"""image_size None ("auto"): data the user brings trains at its own size, the named sets at
32; the built-in models build for the data's size (28 x 28 among them) and say which sizes
they build when they cannot."""

import json

import numpy as np
import pytest
import torch
from harness import classic_gan
from torch.utils.data import DataLoader, TensorDataset

import genai_widgets as gw

SMALL = dict(width=8, batch_size=16, device="cpu")


def test_the_classic_pair_and_loader_train_at_their_own_size(tmp_path):
    parts = classic_gan.build()
    run = gw.train_gan(
        data=parts["train_loader"],
        model=(parts["generator"], parts["discriminator"]),
        latent_dim=16,
        max_steps=20,
        device="cpu",
        run_dir=tmp_path / "classic28",
    )
    assert run.wait(120) == "finished", run.traceback_text
    assert run.step == 20 and np.isfinite(run.history["loss_d"]).all()
    assert run.config.image_size == 28  # the size trained at, recorded like the other autos
    assert json.loads((tmp_path / "classic28" / "config.json").read_text())["image_size"] == 28
    assert run.get_snapshot(-1).shape[1:] == (28, 28, 1)


def test_an_explicit_image_size_still_resamples_and_a_mismatch_is_one_clear_error(tmp_path):
    parts = classic_gan.build()
    with pytest.raises(ValueError) as info:
        gw.train_gan(
            data=parts["train_loader"],
            model=(parts["generator"], parts["discriminator"]),
            latent_dim=16,
            image_size=32,
            device="cpu",
            run_dir=tmp_path / "classic28",
        )
    message = str(info.value)
    assert "the generator makes samples of shape (1, 28, 28) but the data's samples are " in message
    assert "(1, 32, 32); match them with image_size=" in message
    assert not (tmp_path / "classic28" / "config.json").exists()  # nothing started


def test_named_sets_keep_their_size_and_user_tensors_keep_theirs(tmp_path):
    digits = gw.train_gan(data="digits", max_steps=1, run_dir=tmp_path / "digits32", **SMALL)
    assert digits.wait(60) == "finished", digits.traceback_text
    assert digits.config.image_size == 32 and digits.data_source.sample_shape == (1, 32, 32)
    images = torch.rand(64, 1, 20, 20) * 2 - 1  # 20 = 5 x 4: a size the dcgan builds
    own = gw.train_gan(data=images, max_steps=1, run_dir=tmp_path / "tensor20", **SMALL)
    assert own.wait(60) == "finished", own.traceback_text
    assert own.config.image_size == 20 and own.generator(torch.randn(2, 64)).shape[-1] == 20


def test_dcgan_and_conv_vae_train_at_28_and_reload_at_28(tmp_path):
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    gan = gw.train_gan(
        data=images, latent_dim=8, max_steps=2, run_dir=tmp_path / "dcgan28", **SMALL
    )
    vae = gw.train_vae(data=images, latent_dim=4, max_steps=2, run_dir=tmp_path / "vae28", **SMALL)
    for run in (gan, vae):
        assert run.wait(120) == "finished", run.traceback_text
        assert run.config.image_size == 28 and run.get_snapshot(-1).shape[1:] == (28, 28, 1)
    assert np.isfinite(gan.history["loss_d"]).all() and np.isfinite(vae.history["elbo"]).all()
    assert vae.reconstruct(images[:3]).shape == (3, 1, 28, 28)
    # Reopened without the data, the recorded size rebuilds the same models.
    assert gw.load_run(tmp_path / "dcgan28").sample(2).shape == (2, 1, 28, 28)
    assert gw.load_run(tmp_path / "vae28").sample(2).shape == (2, 1, 28, 28)


def test_a_size_the_models_cannot_build_names_the_sizes_and_image_size(tmp_path):
    loader = DataLoader(TensorDataset(torch.rand(32, 1, 27, 27)), batch_size=16)
    for train in (gw.train_gan, gw.train_vae):
        with pytest.raises(ValueError) as info:
            train(data=loader, run_dir=tmp_path / f"{train.__name__}27", **SMALL)
        message = str(info.value)
        assert "builds square images of side 8, 10, 12, 14, 16, 20, 24, 28, 32," in message
        assert "got 27" in message and "pass image_size= one of them (the nearest is 28)" in message
    run = gw.train_gan(
        data=loader, image_size=28, max_steps=1, run_dir=tmp_path / "resampled27", **SMALL
    )
    assert run.wait(60) == "finished", run.traceback_text
    assert run.data_source.first_batch(1).shape == (16, 1, 28, 28)
