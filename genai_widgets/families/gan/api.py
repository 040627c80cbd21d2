"""`gw.train_gan`: a GAN run from keyword arguments, started at once."""

from __future__ import annotations

import os
from typing import Any

from ...engine.api import start_run
from ...engine.run import Run
from . import family as _family  # noqa: F401  (registers GANFamily)
from .config import GANConfig


def train_gan(
    data: Any = "digits",
    model: Any = "dcgan",
    loss: str = "nonsaturating",
    latent_dim: int | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    max_steps: int | None = None,
    epochs: float | None = None,
    device: str = "auto",
    seed: int = 0,
    name: str | None = None,
    run_dir: str | os.PathLike | None = None,
    **options: Any,
) -> Run:
    """Start training a GAN in a background thread and return its `Run` at once.

    `data`: "digits" (offline default), "mnist", "fashion-mnist", "cifar10", "ring", "grid",
    "spiral", "moons", an image folder path, a Dataset, a DataLoader or a tensor.
    `model`: "dcgan", "mlp" (2-D data) or a `(generator, discriminator)` pair of modules.
    `loss`: "nonsaturating", "minimax", "wgan-gp" or "hinge". `latent_dim`, `batch_size` and
    `lr` left at None suit the data: 64, 64, 2e-4 for images; 2, 256, 1e-3 for 2-D points.
    `image_size` None keeps the size of the data you bring (a DataLoader of 28 x 28 images
    trains at 28); the named sets come at 32. A number resamples the data to that side.
    Other options are the fields of `GANConfig` (n_critic, gp_weight, width, channels, beta1,
    sample_every, step_delay, ...)."""
    return start_run(GANConfig, locals())
