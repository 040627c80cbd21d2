"""DCGAN (Radford et al., 2015): all-convolutional generator and discriminator, sized by
`image_size` (16, 32, 64), `channels`, `latent_dim` and `width`."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._registry import GANModels, register_model

SIZES = (16, 32, 64)


def _check(image_size: int, channels: int, latent_dim: int, width: int) -> int:
    if image_size not in SIZES:
        raise ValueError(
            f"dcgan supports image_size {', '.join(map(str, SIZES))}; got {image_size!r}"
        )
    for name, value in (("channels", channels), ("latent_dim", latent_dim), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"dcgan {name} must be a positive integer, got {value!r}")
    # Number of stride-2 stages after the 4x4 start.
    return int(math.log2(image_size)) - 2


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(
        self, latent_dim: int = 64, image_size: int = 32, channels: int = 1, width: int = 64
    ):
        super().__init__()
        stages = _check(image_size, channels, latent_dim, width)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        feats = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, feats, 4, 1, 0, bias=False),
            nn.BatchNorm2d(feats),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(feats, feats // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(feats // 2),
                nn.ReLU(True),
            ]
            feats //= 2
        layers += [nn.ConvTranspose2d(feats, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images -> one logit per image. `norm="batch"` as in the paper; `"none"` or `"layer"` for
    WGAN-GP, whose per-sample gradient penalty batch norm would corrupt."""

    def __init__(
        self, image_size: int = 32, channels: int = 1, width: int = 64, norm: str = "batch"
    ):
        super().__init__()
        stages = _check(image_size, channels, 1, width)
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}")
        feats = width
        size = image_size // 2
        layers: list[nn.Module] = [
            nn.Conv2d(channels, feats, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
        ]
        for _ in range(stages - 1):
            layers.append(nn.Conv2d(feats, feats * 2, 4, 2, 1, bias=False))
            size //= 2
            if norm == "batch":
                layers.append(nn.BatchNorm2d(feats * 2))
            elif norm == "layer":
                layers.append(nn.GroupNorm(1, feats * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            feats *= 2
        layers.append(nn.Conv2d(feats, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def init_weights(module: nn.Module) -> None:
    """The DCGAN paper's init: conv weights N(0, 0.02), batch-norm scale N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


@register_model("dcgan")
def dcgan(
    *,
    image_size: int = 32,
    channels: int = 1,
    latent_dim: int = 64,
    width: int = 64,
    norm: str = "batch",
) -> GANModels:
    generator = DCGANGenerator(latent_dim, image_size, channels, width)
    discriminator = DCGANDiscriminator(image_size, channels, width, norm)
    init_weights(generator)
    init_weights(discriminator)
    return GANModels(generator, discriminator)
