"""`gw.train_vae`: a VAE run from keyword arguments, started at once."""

from __future__ import annotations

import os
from typing import Any

from ...engine.api import start_run
from ...engine.run import Run
from . import family as _family  # noqa: F401  (registers VAEFamily)
from .config import VAEConfig


def train_vae(
    data: Any = "digits",
    model: Any = "conv-vae",
    latent_dim: int = 16,
    beta: float = 1.0,
    image_size: int | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    max_steps: int | None = None,
    epochs: float | None = None,
    device: str = "auto",
    seed: int = 0,
    name: str | None = None,
    run_dir: str | os.PathLike | None = None,
    **options: Any,
) -> Run:
    """Start training a VAE in a background thread and return its `Run` at once.

    `data`: as for `train_gan` (images); `test_fraction` of in-memory data is held out for
    the held-out ELBO (`run.evaluate()`) and the latent scatter. `model`: "conv-vae" or an
    `(encoder, decoder)` pair of modules (the encoder returns `(mu, logvar)` or one tensor of
    2 * latent_dim values per image; the decoder maps z to pixel logits, or to pixel means
    with `likelihood="gaussian"`). `beta` weights the KL term (`beta_warmup` steps of linear
    warm-up from 0). `image_size` None keeps the size of the data you bring (the named sets
    come at 32). Other options are the fields of `VAEConfig`."""
    return start_run(VAEConfig, locals())
