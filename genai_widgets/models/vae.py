"""A convolutional VAE sized like the DCGAN (any `image_size` the DCGAN builds, 28 and the
powers of two among them): the encoder mirrors the
discriminator and ends in the mean and log-variance of q(z|x); the decoder mirrors the
generator and ends without an activation (pixel logits for the Bernoulli likelihood, pixel
means for the Gaussian one). No batch norm, so training and evaluation modes agree."""

from __future__ import annotations

import torch
from torch import nn

from ._registry import VAEModels, register_model
from .dcgan import layout, unsupported_size_message


def _stages(image_size: int, channels: int, latent_dim: int, width: int) -> tuple[int, int]:
    """(base, stages): stride-2 stages between image_size and the base x base map."""
    try:
        base, stages = layout(image_size)
    except ValueError:
        raise ValueError(unsupported_size_message("conv-vae", image_size)) from None
    for name, value in (("channels", channels), ("latent_dim", latent_dim), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"conv-vae {name} must be a positive integer, got {value!r}")
    return base, stages


class ConvEncoder(nn.Module):
    """images (N, channels, image_size, image_size) -> (mu, logvar), each (N, latent_dim)."""

    def __init__(
        self, latent_dim: int = 16, image_size: int = 32, channels: int = 1, width: int = 32
    ):
        super().__init__()
        base, stages = _stages(image_size, channels, latent_dim, width)
        self.latent_dim = latent_dim
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.ReLU(True)]
        feats = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(feats, feats * 2, 4, 2, 1), nn.ReLU(True)]
            feats *= 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(feats * base * base, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.features(x)).chunk(2, dim=1)
        return mu, logvar


class ConvDecoder(nn.Module):
    """z (N, latent_dim) -> (N, channels, image_size, image_size), no output activation."""

    def __init__(
        self, latent_dim: int = 16, image_size: int = 32, channels: int = 1, width: int = 32
    ):
        super().__init__()
        self._base, stages = _stages(image_size, channels, latent_dim, width)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self._feats = width * 2 ** (stages - 1)
        area = self._base * self._base
        self.project = nn.Sequential(nn.Linear(latent_dim, self._feats * area), nn.ReLU(True))
        layers: list[nn.Module] = []
        feats = self._feats
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(feats, feats // 2, 4, 2, 1), nn.ReLU(True)]
            feats //= 2
        layers.append(nn.ConvTranspose2d(feats, channels, 4, 2, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z.reshape(z.shape[0], -1))
        return self.net(h.view(z.shape[0], self._feats, self._base, self._base))


@register_model("conv-vae", family="vae")
def conv_vae(
    *, image_size: int = 32, channels: int = 1, latent_dim: int = 16, width: int = 32, **_ignored
) -> VAEModels:
    return VAEModels(
        ConvEncoder(latent_dim, image_size, channels, width),
        ConvDecoder(latent_dim, image_size, channels, width),
    )
