"""The model registry and the built-in architectures."""

import pytest
import torch
from torch import nn

from genai_widgets.models import GANModels, get_model, list_models, register_model
from genai_widgets.models._registry import _BUILDERS


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_sizes(size, channels):
    generator, discriminator = get_model(
        "dcgan", image_size=size, channels=channels, latent_dim=8, width=4
    )
    x = generator(torch.randn(3, 8))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert discriminator(x).shape == (3,)


def test_dcgan_rejects_unsupported_size():
    with pytest.raises(ValueError, match="16, 32, 64; got 28"):
        get_model("dcgan", image_size=28)


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
