"""One VAE training step (Kingma & Welling, 2014): encode, draw z with the reparameterisation
trick, decode, and descend the negative ELBO with the KL term weighted by beta.

    ELBO(x) = E_{z ~ q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z)),   p(z) = N(0, I)

Per image, in nats: `recon` = -log p(x|z) for one z ~ q(z|x), summed over pixels; `kl` =
KL(q(z|x) || N(0, I)) in closed form, summed over latent dimensions. The step minimises
recon + beta * kl (beta = 1: the negative ELBO; beta > 1: a beta-VAE, Higgins et al. 2017),
and reports `elbo` = -(recon + kl) whatever beta, so higher is better and runs trained with
different betas or warm-ups compare on the same scale. Each is the mean over the batch.

Likelihoods, for images in [-1, 1]:
  bernoulli  the decoder gives one logit per pixel; the target is the pixel rescaled to [0, 1],
             scored by binary cross-entropy (exact for black-and-white images; for grey levels
             it is the usual "BCE" bound of pytorch/examples and most papers on MNIST, not a
             normalised density). Samples are the pixel means 2 sigmoid(logit) - 1.
  gaussian   the decoder gives the mean of N(mean, std^2) per pixel, std fixed (in [-1, 1]
             pixel units); the log-density includes its constant, so the ELBO is in nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...engine.family import NonFiniteLossError

VAE_METRICS = ("elbo", "recon", "kl", "beta")


@dataclass
class VAEParts:
    """Everything one step touches."""

    encoder: nn.Module  # images -> (mu, logvar), each (N, latent_dim)
    decoder: nn.Module  # z (N, latent_dim) -> logits (bernoulli) or means (gaussian), like x
    optimizer: torch.optim.Optimizer  # over the encoder's and the decoder's parameters
    likelihood: str  # "bernoulli" | "gaussian"
    likelihood_std: float  # std of the gaussian likelihood
    noise: torch.Generator  # RNG of the reparameterisation, on the model's device


def beta_at(step: int, beta: float, warmup: int) -> float:
    """The KL weight at step `step` (1-based): linear from 0 to `beta` over `warmup` steps."""
    if warmup <= 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup)


def reconstruction_nll(x: Tensor, out: Tensor, likelihood: str, std: float = 0.1) -> Tensor:
    """-log p(x|z) per image (summed over pixels), from the decoder's output `out`."""
    if likelihood == "bernoulli":
        target = (x + 1) / 2
        nll = F.binary_cross_entropy_with_logits(out, target, reduction="none")
    elif likelihood == "gaussian":
        nll = 0.5 * ((x - out) / std) ** 2 + (math.log(std) + 0.5 * math.log(2 * math.pi))
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
    return nll.reshape(x.shape[0], -1).sum(dim=1)


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row: 1/2 sum(mu^2 + exp(logvar) - 1 - logvar)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def elbo_terms(
    encoder: nn.Module,
    decoder: nn.Module,
    x: Tensor,
    noise: torch.Generator | None,
    likelihood: str,
    std: float = 0.1,
) -> tuple[Tensor, Tensor]:
    """(recon, kl) per image for images `x`, with one z ~ q(z|x) drawn from `noise`."""
    mu, logvar = encoder(x)
    eps = torch.randn(mu.shape, generator=noise, device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps  # reparameterised: gradients reach mu and logvar
    return reconstruction_nll(x, decoder(z), likelihood, std), kl_to_standard_normal(mu, logvar)


def vae_step(
    parts: VAEParts,
    next_real: Callable[[], Tensor],
    *,
    beta: float = 1.0,
    check_finite: bool = True,
) -> Tensor:
    """One update on one batch. Returns the step's metrics as one tensor on the model's device,
    in VAE_METRICS order; no host sync unless `check_finite` (CPU)."""
    x = next_real()
    recon, kl = elbo_terms(
        parts.encoder, parts.decoder, x, parts.noise, parts.likelihood, parts.likelihood_std
    )
    recon, kl = recon.mean(), kl.mean()
    # Minimise -(E_q[log p(x|z)] - beta * KL): the negative (beta-weighted) ELBO.
    loss = recon + beta * kl
    if check_finite and not torch.isfinite(loss):
        name, value = ("recon", recon) if not torch.isfinite(recon) else ("kl", kl)
        raise NonFiniteLossError(name, float(value.detach()))
    parts.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parts.optimizer.step()
    with torch.no_grad():
        recon, kl = recon.detach(), kl.detach()
        # full_like, not torch.tensor(beta, device=...): no host-to-device copy, no sync.
        return torch.stack([-(recon + kl), recon, kl, torch.full_like(kl, beta)])
