"""2-D toy distributions for the GAN-Lab-style view. "ring" and "grid" are the mixtures of the
unrolled-GAN / VEEGAN papers; their mode centres and std are kept for mode-coverage metrics."""

from __future__ import annotations

import math

import torch

from ._source import DataSource

TOY_DATASETS: tuple[str, ...] = ("ring", "grid", "spiral", "moons")

RING_RADIUS = 2.0
RING_MODES = 8
RING_STD = 0.02
GRID_STD = 0.05
SPIRAL_STD = 0.05
MOONS_NOISE = 0.05


def ring_modes() -> torch.Tensor:
    angles = torch.arange(RING_MODES, dtype=torch.float64) * (2 * math.pi / RING_MODES)
    return (RING_RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_modes() -> torch.Tensor:
    ticks = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def toy_dataset(name: str, *, n_points: int, seed: int) -> DataSource:
    generator = torch.Generator().manual_seed(seed)
    if name in ("ring", "grid"):
        modes, std = (ring_modes(), RING_STD) if name == "ring" else (grid_modes(), GRID_STD)
        which = torch.randint(len(modes), (n_points,), generator=generator)
        noise = torch.randn(n_points, 2, generator=generator) * std
        points = modes[which] + noise
        return DataSource(name=name, tensor=points, labels=which, modes=modes, mode_std=std)
    if name == "spiral":
        # sqrt spreads the points evenly along the arm instead of crowding the centre.
        turns = torch.rand(n_points, generator=generator).sqrt() * (3 * math.pi)
        radius = turns / (3 * math.pi) * 3.0
        points = torch.stack([radius * turns.cos(), radius * turns.sin()], dim=1)
        points += torch.randn(n_points, 2, generator=generator) * SPIRAL_STD
        return DataSource(name=name, tensor=points)
    if name == "moons":
        from sklearn.datasets import make_moons

        xy, moon = make_moons(n_samples=n_points, noise=MOONS_NOISE, random_state=seed)
        points = torch.from_numpy(xy).float()
        points = (points - points.mean(0)) / points.std(0)
        return DataSource(name=name, tensor=points, labels=torch.from_numpy(moon).long())
    raise ValueError(f"unknown toy data set {name!r}; accepted: {', '.join(TOY_DATASETS)}")
