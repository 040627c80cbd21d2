"""The data-space computation: heatmap, mesh, generated points and gradient arrows match the
models' outputs on known inputs."""

from __future__ import annotations

import torch
from torch import nn

from genai_widgets.families.gan.data_space import (
    data_space_frame,
    discriminator_map,
    generator_gradients,
    latent_mesh,
    plane_grid,
    view_bounds,
)
from genai_widgets.families.gan.losses import HingeLoss, NonSaturatingLoss, WGANGPLoss


def linear(n_in: int, n_out: int, weight: list, bias: list) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer


# D(x, y) = 2x - y + 0.5 (one logit), G(z) = (z0 + 1, 3 z1 - 2) (latent_dim 3, z2 unused)
D = nn.Sequential(linear(2, 1, [[2.0, -1.0]], [0.5]), nn.Flatten(0))
G = linear(3, 2, [[1.0, 0.0, 0.0], [0.0, 3.0, 0.0]], [1.0, -2.0])


def test_plane_grid_is_row_major_from_the_bottom():
    grid = plane_grid((0.0, 4.0, -2.0, 2.0), 4)  # cells of 1 x 1
    assert grid.shape == (16, 2)
    assert grid[0].tolist() == [0.5, -1.5]  # row 0, column 0: bottom left
    assert grid[1].tolist() == [1.5, -1.5]  # next column
    assert grid[4].tolist() == [0.5, -0.5]  # next row, higher y
    assert grid[15].tolist() == [3.5, 1.5]


def test_latent_mesh_spans_the_first_two_coordinates():
    z = latent_mesh(3, 5, extent=2.0)
    t = torch.linspace(-2, 2, 5)
    assert z.shape == (25, 3)
    for i in range(5):
        for j in range(5):
            assert z[i * 5 + j].tolist() == [t[j].item(), t[i].item(), 0.0]
    assert latent_mesh(1, 3).shape == (9, 1)


def test_heatmap_and_mesh_match_the_models_on_known_inputs():
    grid = plane_grid((-1.0, 1.0, -1.0, 1.0), 8)
    mesh_z = latent_mesh(3, 6)
    fake_z = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    frame = data_space_frame(
        G, D, NonSaturatingLoss(), grid=grid, mesh_z=mesh_z, fake_z=fake_z, n_arrows=5
    )
    x, y = grid[:, 0], grid[:, 1]
    expected_heat = torch.sigmoid(2 * x - y + 0.5)  # closed form of D, as a probability
    torch.testing.assert_close(torch.from_numpy(frame.heatmap), expected_heat)
    z0, z1 = mesh_z[:, 0], mesh_z[:, 1]
    expected_mesh = torch.stack([z0 + 1, 3 * z1 - 2], dim=1)  # closed form of G
    torch.testing.assert_close(torch.from_numpy(frame.mesh), expected_mesh)
    torch.testing.assert_close(torch.from_numpy(frame.fake), G(fake_z).detach())
    assert frame.value_range == (0.0, 1.0)
    # Non-saturating: each sample's loss is softplus(-D(x)); its gradient is
    # -sigmoid(-D(x)) * (2, -1), so the arrow (minus the gradient) is sigmoid(-D(x)) * (2, -1).
    fake = torch.from_numpy(frame.fake[:5])
    scale = torch.sigmoid(-(2 * fake[:, 0] - fake[:, 1] + 0.5))
    expected_arrows = scale[:, None] * torch.tensor([2.0, -1.0])
    torch.testing.assert_close(torch.from_numpy(frame.gradients), expected_arrows)


def test_critic_losses_show_raw_values_with_a_symmetric_range():
    grid = plane_grid((-1.0, 1.0, -1.0, 1.0), 4)
    for loss in (WGANGPLoss(), HingeLoss()):
        frame = data_space_frame(
            G, D, loss, grid=grid, mesh_z=latent_mesh(3, 2), fake_z=torch.zeros(3, 3)
        )
        expected = 2 * grid[:, 0] - grid[:, 1] + 0.5
        torch.testing.assert_close(torch.from_numpy(frame.heatmap), expected)
        bound = expected.abs().max().item()
        assert frame.value_range == (-bound, bound) and frame.gradients is None


def test_arrows_match_autograd_per_sample():
    torch.manual_seed(0)
    d = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0))
    loss = NonSaturatingLoss()
    samples = torch.randn(7, 2)
    arrows = generator_gradients(d, loss, samples)
    for k in range(7):
        x = samples[k : k + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss.generator_loss(d(x)), x)
        torch.testing.assert_close(arrows[k], -g[0])
    assert not any(p.grad is not None for p in d.parameters())
    assert discriminator_map(d, samples, probabilities=True).shape == (7,)


def test_view_bounds_is_a_padded_square_around_the_points():
    points = torch.tensor([[0.0, 0.0], [4.0, 1.0], [2.0, -1.0]])
    x0, x1, y0, y1 = view_bounds(points, pad=0.25)
    assert x1 - x0 == y1 - y0 == 4 * 1.5
    assert x0 < 0 and x1 > 4 and y0 < -1 and y1 > 1
    assert view_bounds(torch.zeros(0, 2)) == (-1.0, 1.0, -1.0, 1.0)
