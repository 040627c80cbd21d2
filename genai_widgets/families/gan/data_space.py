"""The GAN game in data space, for generators of 2-D points (what GAN Lab draws): the
discriminator's output over the plane, the generator's image of a regular latent grid (a warped
mesh), generated points and the generator's gradient on each of them.

Pure functions of modules and tensors; the `DataSpace` widget calls `data_space_frame` on model
copies (`evaluators.ModelCopies`) off the training thread."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .losses import GANLoss

MESH_EXTENT = 2.0  # the latent grid spans [-2, 2] (two standard deviations of the prior)


def view_bounds(points: torch.Tensor, pad: float = 0.2) -> tuple[float, float, float, float]:
    """A square (x0, x1, y0, y1) around `points` with `pad` of its side added on every edge;
    robust to a few outliers (the 0.5th and 99.5th percentiles)."""
    p = torch.as_tensor(points, dtype=torch.float64).reshape(-1, 2)
    p = p[torch.isfinite(p).all(dim=1)]
    if len(p) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo = torch.quantile(p, 0.005, dim=0) if len(p) > 200 else p.min(dim=0).values
    hi = torch.quantile(p, 0.995, dim=0) if len(p) > 200 else p.max(dim=0).values
    centre = (lo + hi) / 2
    half = float((hi - lo).max()) / 2
    half = max(half, 1e-3) * (1 + 2 * pad)
    cx, cy = float(centre[0]), float(centre[1])
    return (cx - half, cx + half, cy - half, cy + half)


def plane_grid(bounds: tuple[float, float, float, float], resolution: int) -> torch.Tensor:
    """Centres of a resolution x resolution grid of cells over `bounds`, (resolution**2, 2),
    row-major with row 0 at the bottom (y0): cell (row r, column c) is index r * resolution + c."""
    x0, x1, y0, y1 = bounds
    xs = x0 + (torch.arange(resolution, dtype=torch.float32) + 0.5) * (x1 - x0) / resolution
    ys = y0 + (torch.arange(resolution, dtype=torch.float32) + 0.5) * (y1 - y0) / resolution
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def latent_mesh(latent_dim: int, size: int, extent: float = MESH_EXTENT) -> torch.Tensor:
    """A regular size x size grid in the plane of the first two latent coordinates, the others
    0, (size**2, latent_dim), row-major: point (i, j) has z[0] = t[j], z[1] = t[i] with
    t = linspace(-extent, extent, size). With latent_dim == 2 this is the whole latent space
    GAN Lab draws; with more it is one plane through the prior's centre. With latent_dim == 1
    the rows repeat the same line."""
    t = torch.linspace(-extent, extent, size)
    z = torch.zeros(size * size, latent_dim)
    ii, jj = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    z[:, 0] = t[jj.reshape(-1)]
    if latent_dim > 1:
        z[:, 1] = t[ii.reshape(-1)]
    return z


def discriminator_map(
    discriminator: nn.Module, points: torch.Tensor, probabilities: bool
) -> torch.Tensor:
    """D at `points`: sigmoid(logit) in [0, 1] for losses on probabilities, the raw critic value
    otherwise (wgan-gp, hinge)."""
    with torch.no_grad():
        out = discriminator(points).reshape(-1).float()
    return torch.sigmoid(out) if probabilities else out


def generator_gradients(
    discriminator: nn.Module, loss: GANLoss, samples: torch.Tensor
) -> torch.Tensor:
    """Minus the gradient of the generator's loss with respect to each sample: the direction
    the generator's update pushes that sample (GAN Lab's arrows). The loss is a batch mean, so
    it is scaled by N to give each sample's own gradient."""
    x = samples.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        value = loss.generator_loss(discriminator(x).reshape(-1))
        (grad,) = torch.autograd.grad(value, x)
    return -grad * x.shape[0]


@dataclass
class DataSpaceFrame:
    """One picture of the game; float32 numpy arrays on the CPU."""

    heatmap: np.ndarray  # (resolution**2,) D over `plane_grid`
    mesh: np.ndarray  # (mesh_size**2, 2) G over `latent_mesh`
    fake: np.ndarray  # (n, 2) G(z) for the fixed noise
    gradients: np.ndarray | None  # (n_arrows, 2) for the first fake points, or None
    value_range: tuple[float, float]  # of the heatmap: (0, 1) for probabilities


def data_space_frame(
    generator: nn.Module,
    discriminator: nn.Module,
    loss: GANLoss,
    *,
    grid: torch.Tensor,
    mesh_z: torch.Tensor,
    fake_z: torch.Tensor,
    n_arrows: int = 0,
    latent_shape: tuple[int, ...] | None = None,
) -> DataSpaceFrame:
    """Everything the data-space view draws, from (copies of) the two models. `grid`, `mesh_z`
    and `fake_z` come from `plane_grid`, `latent_mesh` and a fixed draw of the prior; they are
    moved to the models' device here."""
    device = next(iter(generator.parameters()), torch.empty(0)).device
    shape = latent_shape or (mesh_z.shape[1],)

    def g(z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return generator(z.to(device).view(z.shape[0], *shape)).reshape(z.shape[0], -1)

    fake = g(fake_z)
    mesh = g(mesh_z)
    heat = discriminator_map(discriminator, grid.to(device), loss.probabilities)
    arrows = None
    if n_arrows > 0:
        arrows = generator_gradients(discriminator, loss, fake[:n_arrows].float())
    if loss.probabilities:
        value_range = (0.0, 1.0)
    else:
        finite = heat[torch.isfinite(heat)]
        bound = float(finite.abs().max()) if finite.numel() else 1.0
        bound = bound if math.isfinite(bound) and bound > 0 else 1.0
        value_range = (-bound, bound)

    def host(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy().astype(np.float32, copy=False)

    return DataSpaceFrame(
        heatmap=host(heat),
        mesh=host(mesh[:, :2]),
        fake=host(fake[:, :2]),
        gradients=None if arrows is None else host(arrows[:, :2]),
        value_range=value_range,
    )


__all__ = [
    "DataSpaceFrame",
    "data_space_frame",
    "discriminator_map",
    "generator_gradients",
    "latent_mesh",
    "plane_grid",
    "view_bounds",
]
