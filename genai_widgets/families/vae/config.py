"""`VAEConfig`: every field of a VAE run (`gw.train_vae(**kw)`, `%%vae_train`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ...engine.config import build_config, finite_non_negative, positive_float, positive_int
from ..config import LatentConfig

LIKELIHOODS = ("bernoulli", "gaussian")


@dataclass(frozen=True)
class VAEConfig(LatentConfig):
    """Everything that defines a VAE run: the shared fields, the KL weight `beta` with its
    warm-up, the likelihood the reconstruction term uses, and the held-out share of the data."""

    family: ClassVar[str] = "vae"
    settable: ClassVar[tuple[str, ...]] = (
        "lr", "beta", "beta_warmup", "max_steps", "sample_every", "beta1", "beta2", "step_delay",
    )  # fmt: skip

    model: Any = "conv-vae"  # registry name or an (encoder, decoder) pair
    latent_dim: int = 16  # size of z, the encoder's output and the decoder's input
    width: int = 32  # base number of feature maps in the conv-vae convolutions
    batch_size: int = 64  # images per update
    lr: float = 1e-3  # Adam learning rate (encoder and decoder)
    beta1: float = 0.9  # Adam beta1
    max_steps: int | None = None  # stop after this many updates
    sample_every: int | None = None  # steps between prior-sample snapshots; None: 50, 0.5-5 s apart
    n_samples: int = 64  # prior samples per snapshot (fixed z, the grid)
    beta: float = 1.0  # weight of the KL term: 1 trains on the ELBO, > 1 is a beta-VAE
    beta_warmup: int = 0  # steps over which the KL weight rises linearly from 0 to beta (0: none)
    likelihood: str = "bernoulli"  # one of LIKELIHOODS: how the decoder's output scores an image
    likelihood_std: float = 0.1  # std of the gaussian likelihood, on the [-1, 1] pixel scale
    test_fraction: float = 0.1  # share of in-memory data held out: held-out ELBO, latent scatter

    def replace(self, **changes: Any) -> VAEConfig:
        return dataclasses.replace(self, **changes)

    def validate(self, resolved: bool = False) -> None:
        super().validate(resolved)
        c = self
        if c.likelihood not in LIKELIHOODS:
            raise ValueError(
                f"likelihood must be one of {', '.join(LIKELIHOODS)}; got {c.likelihood!r}"
            )
        finite_non_negative("beta", c.beta)
        positive_int("beta_warmup", c.beta_warmup, minimum=0)
        positive_float("likelihood_std", c.likelihood_std)
        value = c.test_fraction
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"test_fraction must be in [0, 1), got {value!r}")


def make_vae_config(**kwargs: Any) -> VAEConfig:
    """Build and validate a VAEConfig; unknown keys raise TypeError listing the valid ones."""
    return build_config(VAEConfig, kwargs)


__all__ = ["VAEConfig", "LIKELIHOODS", "make_vae_config"]
