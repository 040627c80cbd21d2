"""One GAN training step, written like the paper: (1) update D, (2) update G."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...engine.family import NonFiniteLossError
from .losses import GANLoss, gradient_penalty

# Metric columns the step returns, in order (gp only for losses with a gradient penalty).
# loss_d / loss_g are the adversarial losses alone; each penalty has its own column, holding
# the term as added to D's loss (so D minimised loss_d + r1 + gp). Lazy R1 makes r1 a spike
# every r1_every steps and 0 between: kept out of loss_d, it no longer reads as instability.
GAN_METRICS = ("loss_d", "loss_g", "d_real", "d_fake", "r1")


@dataclass
class GANParts:
    """Everything one step touches."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: GANLoss
    latent_shape: tuple[int, ...]  # z shape per sample: (latent_dim,) or (latent_dim, 1, 1)
    noise: torch.Generator  # RNG for z and the gradient-penalty mixing, on the model's device
    # Applied to every image D sees, real and fake, in both updates (DiffAugment); None: off.
    augment: Callable[[Tensor], Tensor] | None = None
    # Class-conditional (G(z, y), D(x, y)): real batches are `LabelledBatch(x, y)` and each
    # fake is made for the labels of the real batch beside it (the data's label
    # distribution, drawn without touching `noise`). False: G(z), D(x), batches are tensors.
    conditional: bool = False


def metric_names(loss: GANLoss) -> tuple[str, ...]:
    return GAN_METRICS + (("gp",) if loss.gradient_penalty else ())


def sample_z(n: int, parts: GANParts, device: torch.device) -> Tensor:
    return torch.randn((n, *parts.latent_shape), device=device, generator=parts.noise)


def gan_step(
    parts: GANParts,
    next_real: Callable[[], Tensor],
    *,
    n_critic: int = 1,
    gp_weight: float = 10.0,
    r1: float = 0.0,
    r1_now: bool = True,
    check_finite: bool = True,
) -> Tensor:
    """Train D `n_critic` times, then G once. Returns the step's metrics as one tensor on the
    model's device, in `metric_names(loss)` order; no host sync unless `check_finite` (CPU).

    `r1` > 0 adds the R1 penalty r1 / 2 * E[|grad_x D(x)|^2] on the real batch to every D
    update (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?",
    https://arxiv.org/abs/1801.04406): D is kept flat on the data, which damps the
    oscillation around the equilibrium and D's memorising of a small set. With augmentation
    the gradient is taken through it, with respect to the un-augmented images. `r1_now`
    False skips it this step (lazy regularisation: the caller applies it every k-th step
    with weight k * gamma, as StyleGAN2 does).

    With `parts.conditional` each real batch brings its labels y; the fakes are G(z, y) for
    those labels, and D scores D(x, y) (the gradient penalties too, with the real labels).

    Metrics: `loss_d` is D's adversarial loss alone and `gp` the term gp_weight * GP, both of
    the last D update; `r1` the R1 term of the first D update (0 where skipped)."""
    G, loss = parts.generator, parts.loss
    D = parts.discriminator
    if parts.augment is not None:
        D_plain, augment = D, parts.augment

        def D(x: Tensor, *y: Tensor) -> Tensor:  # D(T(x)): every input augmented, real or fake
            return D_plain(augment(x), *y)

    D_all, G_all = D, G

    # (1) Update D: maximise log D(x) + log(1 - D(G(z))) (or the loss's equivalent).
    for i in range(n_critic):
        real = next_real()
        if parts.conditional:  # D and G with this batch's labels bound: D(x, y), G(z, y)
            labels = real.y  # type: ignore[attr-defined]
            real = real.x  # type: ignore[attr-defined]
            D = _bind(D_all, labels)
            G = _bind(G_all, labels)
        last = i == n_critic - 1
        penalise = r1 > 0 and r1_now and i == 0
        with torch.set_grad_enabled(last):  # only the last fake feeds G's update below
            fake = G(sample_z(real.shape[0], parts, real.device))
        if penalise:
            real = real.detach().requires_grad_(True)
        real_out = D(real)
        fake_out = D(fake.detach())
        loss_d = loss.discriminator_loss(real_out, fake_out)
        # D's objective: the adversarial loss plus the penalties, summed in this order.
        objective = loss_d
        if i == 0:
            r1_term = loss_d.new_zeros(())
        if penalise:
            (grad,) = torch.autograd.grad(real_out.sum(), real, create_graph=True)
            r1_term = 0.5 * r1 * grad.pow(2).flatten(1).sum(1).mean()
            objective = objective + r1_term
        if loss.gradient_penalty:
            gp_term = gp_weight * gradient_penalty(D, real.detach(), fake.detach(), parts.noise)
            objective = objective + gp_term
        if check_finite and not torch.isfinite(objective):
            raise _non_finite_d(
                loss_d=loss_d,
                r1=r1_term if penalise else None,
                gp=gp_term if loss.gradient_penalty else None,
            )
        parts.opt_d.zero_grad(set_to_none=True)
        objective.backward()
        parts.opt_d.step()

    # (2) Update G: maximise log D(G(z)) (non-saturating) or the loss's generator objective.
    loss_g = loss.generator_loss(D(fake))
    if check_finite and not torch.isfinite(loss_g):
        raise NonFiniteLossError("loss_g", float(loss_g.detach()))
    parts.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    parts.opt_g.step()

    with torch.no_grad():
        if loss.probabilities:
            d_real, d_fake = torch.sigmoid(real_out).mean(), torch.sigmoid(fake_out).mean()
        else:
            d_real, d_fake = real_out.mean(), fake_out.mean()
        values = [loss_d.detach(), loss_g.detach(), d_real, d_fake, r1_term.detach()]
        if loss.gradient_penalty:
            values.append(gp_term.detach())
        return torch.stack(values)


def _bind(module: Callable[..., Tensor], labels: Tensor) -> Callable[[Tensor], Tensor]:
    """`module(x, labels)` as a one-argument function (a conditional G or D)."""
    return lambda x: module(x, labels)


def _non_finite_d(**terms: Tensor | None) -> NonFiniteLossError:
    """Names the first term of D's objective that is non-finite (the sum of finite terms can
    still overflow: then the adversarial loss is named)."""
    for name, value in terms.items():
        if value is not None and not torch.isfinite(value):
            return NonFiniteLossError(name, float(value.detach()))
    return NonFiniteLossError("loss_d", float("inf"))
