"""A small MLP GAN for 2-D toy data (ring, grid, spiral, moons), the GAN-Lab-sized model."""

from __future__ import annotations

import torch
from torch import nn

from ._registry import GANModels, register_model


def _mlp(n_in: int, n_out: int, width: int, depth: int, act: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    size = n_in
    for _ in range(depth):
        layers += [nn.Linear(size, width), act()]
        size = width
    layers.append(nn.Linear(size, n_out))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> points (N, dim)."""

    def __init__(self, latent_dim: int = 2, dim: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        self.latent_dim, self.dim = latent_dim, dim
        self.net = _mlp(latent_dim, dim, width, depth, nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1))


class MLPDiscriminator(nn.Module):
    """points (N, dim) -> one logit per point."""

    def __init__(self, dim: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        self.net = _mlp(dim, 1, width, depth, lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


@register_model("mlp")
def mlp(
    *, latent_dim: int = 2, dim: int = 2, width: int = 128, depth: int = 3, **_ignored
) -> GANModels:
    return GANModels(
        MLPGenerator(latent_dim, dim, width, depth), MLPDiscriminator(dim, width, depth)
    )
