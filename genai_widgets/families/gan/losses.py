"""GAN objectives. Each works on the discriminator's raw outputs (logits / critic scores), so the
log-sigmoid terms are computed stably with softplus: log D(x) = -softplus(-l), log(1 - D(x)) =
-softplus(l) for D(x) = sigmoid(l)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class GANLoss:
    """Base: `discriminator_loss(real, fake)` and `generator_loss(fake)` on D's outputs.

    `probabilities` says whether sigmoid(output) is a probability (so the dashboard can show
    d_real / d_fake as D(x), D(G(z))); for critics (WGAN, hinge) the raw mean score is shown."""

    name = "base"
    probabilities = True
    gradient_penalty = False

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator_loss(self, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MinimaxLoss(GANLoss):
    """The original objective (Goodfellow et al., 2014):

        min_G max_D  V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p_z}[log(1 - D(G(z)))]

    Note the second expectation is over z ~ p_z, the generator's noise, not over the data: the
    formula often quoted with E_{x ~ p_data} on the generator term is a typo. D ascends V
    (we minimise -V); G descends E_z[log(1 - D(G(z)))], which saturates (vanishing gradient)
    when D confidently rejects fakes early in training -- hence the non-saturating variant."""

    name = "minimax"

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        # -V = -E[log D(x)] - E_z[log(1 - D(G(z)))]
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def generator_loss(self, fake: Tensor) -> Tensor:
        # E_z[log(1 - D(G(z)))] = E_z[-softplus(l)]
        return -F.softplus(fake).mean()


class NonSaturatingLoss(MinimaxLoss):
    """Same discriminator as minimax; the generator maximises E_z[log D(G(z))] instead, which
    has strong gradients exactly when D rejects the fakes (Goodfellow et al., 2014, sec. 3)."""

    name = "nonsaturating"

    def generator_loss(self, fake: Tensor) -> Tensor:
        # -E_z[log D(G(z))] = E_z[softplus(-l)]
        return F.softplus(-fake).mean()


class WGANGPLoss(GANLoss):
    """Wasserstein loss with gradient penalty (Gulrajani et al., 2017): the critic minimises
    E[C(G(z))] - E[C(x)] + lambda * E[(||grad C(x_hat)||_2 - 1)^2] on random interpolates x_hat."""

    name = "wgan-gp"
    probabilities = False
    gradient_penalty = True

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    def generator_loss(self, fake: Tensor) -> Tensor:
        return -fake.mean()


class HingeLoss(GANLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D minimises E[relu(1 - D(x))] +
    E[relu(1 + D(G(z)))]; G minimises -E[D(G(z))]."""

    name = "hinge"
    probabilities = False

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def generator_loss(self, fake: Tensor) -> Tensor:
        return -fake.mean()


def gradient_penalty(
    discriminator: torch.nn.Module,
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] with x_hat uniformly between real and fake samples."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = discriminator(x_hat)
    (grads,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


LOSSES: dict[str, type[GANLoss]] = {
    cls.name: cls for cls in (NonSaturatingLoss, MinimaxLoss, WGANGPLoss, HingeLoss)
}


def get_loss(name: str | GANLoss) -> GANLoss:
    """A loss by name (`"nonsaturating"`, `"minimax"`, `"wgan-gp"`, `"hinge"`) or instance."""
    if isinstance(name, GANLoss):
        return name
    try:
        return LOSSES[name]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}") from None
