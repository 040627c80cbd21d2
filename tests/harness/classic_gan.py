"""The most common GAN code shape, as a new user brings it: a `Generator` that makes 1 x 28 x 28
images, a `Discriminator` ending in a sigmoid, and a `DataLoader` of 28 x 28 images yielding
`(images, labels)`. Issue 12's cell, shared by the kernel test (as a `%%gan_train` body) and
the Python-API test (executed into a namespace), so both train exactly the same code."""

from __future__ import annotations

from typing import Any

BODY = """\
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Generator(nn.Module):
    def __init__(self, latent_dim=16):
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(latent_dim, 128), nn.ReLU(True), nn.Linear(128, 28 * 28), nn.Tanh()
        )

    def forward(self, z):
        return self.main(z).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Flatten(), nn.Linear(28 * 28, 128), nn.LeakyReLU(0.2, True), nn.Linear(128, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x)


generator = Generator()
discriminator = Discriminator()
train_loader = DataLoader(
    TensorDataset(torch.rand(256, 1, 28, 28) * 2 - 1, torch.zeros(256)), batch_size=32
)
"""

#: The cell from the issue: the user's own pair and loader, no --image-size.
CELL = "%%gan_train --max-steps 20 --latent-dim 16 --as r2\n" + BODY


def build() -> dict[str, Any]:
    """`generator`, `discriminator` and `train_loader`, built by running BODY."""
    namespace: dict[str, Any] = {}
    exec(compile(BODY, "<classic_gan>", "exec"), namespace)
    return namespace
