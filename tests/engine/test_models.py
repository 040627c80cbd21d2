"""The model registry and the built-in architectures."""

import pytest
import torch
from torch import nn

from genai_widgets.models import GANModels, get_model, list_models, register_model
from genai_widgets.models._registry import _BUILDERS


@pytest.mark.parametrize("size", [8, 16, 28, 32, 48, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_sizes(size, channels):
    generator, discriminator = get_model(
        "dcgan", image_size=size, channels=channels, latent_dim=8, width=4
    )
    x = generator(torch.randn(3, 8))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert discriminator(x).shape == (3,)


@pytest.mark.parametrize("size", [14, 28, 32])
def test_conv_vae_sizes(size):
    encoder, decoder = get_model("conv-vae", image_size=size, channels=1, latent_dim=4, width=4)
    mu, logvar = encoder(torch.rand(2, 1, size, size) * 2 - 1)
    assert mu.shape == logvar.shape == (2, 4)
    assert decoder(mu).shape == (2, 1, size, size)


def test_powers_of_two_keep_the_paper_layout():
    # 32 = 4 x 2**3: a 4 x 4 start and three stride-2 stages, as before other sizes existed.
    generator, discriminator = get_model("dcgan", image_size=32, latent_dim=8, width=4)
    assert generator.net[0].kernel_size == (4, 4) and discriminator.net[-1].kernel_size == (4, 4)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in generator.net) == 4
    # 28 = 7 x 2**2: a 7 x 7 start (MNIST's classic generator) and two stages.
    generator, discriminator = get_model("dcgan", image_size=28, latent_dim=8, width=4)
    assert generator.net[0].kernel_size == (7, 7) and discriminator.net[-1].kernel_size == (7, 7)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in generator.net) == 3


@pytest.mark.parametrize("model", ["dcgan", "conv-vae"])
def test_unsupported_size_names_the_sizes_and_the_fix(model):
    with pytest.raises(ValueError) as info:
        get_model(model, image_size=27)
    message = str(info.value)
    assert message.startswith(f"{model} builds square images of side 8, 10, 12, 14, 16,")
    assert "28, 32" in message and "got 27" in message
    assert "pass image_size= one of them (the nearest is 28) to resample the data" in message


def test_mlp_for_points():
    generator, discriminator = get_model("mlp", latent_dim=2)
    assert generator(torch.randn(5, 2)).shape == (5, 2)
    assert discriminator(torch.randn(5, 2)).shape == (5,)


def test_registry_round_trip_and_errors():
    assert {"dcgan", "mlp"} <= set(list_models())

    @register_model("test-tiny")
    def tiny(**_):
        return GANModels(nn.Linear(1, 1), nn.Linear(1, 1))

    try:
        assert "test-tiny" in list_models()
        assert isinstance(get_model("test-tiny"), GANModels)
        with pytest.raises(ValueError, match="already registered"):
            register_model("test-tiny")(tiny)
    finally:
        _BUILDERS.pop("test-tiny", None)  # other tests list the registry
    assert "test-tiny" not in list_models()
    with pytest.raises(ValueError, match="registered models are: .*dcgan"):
        get_model("stylegan")
