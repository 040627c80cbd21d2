"""The GAN as a `Family`: a generator and a discriminator, two Adam optimizers, the loss, and
the two-phase step of `gan_step.py`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .augment import diff_augment, parse_policy
from .config import GANConfig
from .ema import GeneratorEMA
from .family import Family, adam_betas, set_lr
from .gan_step import GANParts, gan_step, metric_names
from .losses import get_loss


class _FlatLogits(nn.Module):
    """Adapts a user's discriminator: flattens its output to (N,) and, when it ends in a
    Sigmoid (as in pytorch/examples' DCGAN), turns probabilities back into logits so every
    loss can use the numerically stable forms."""

    def __init__(self, inner: nn.Module, from_probabilities: bool):
        super().__init__()
        self.inner = inner
        self.from_probabilities = from_probabilities

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x).reshape(x.shape[0], -1).mean(dim=1)
        if self.from_probabilities:
            out = torch.logit(out.clamp(1e-6, 1 - 1e-6))
        return out


def _ends_in(module: nn.Module, kind: type[nn.Module]) -> bool:
    leaves = [m for m in module.modules() if not list(m.children())]
    return bool(leaves) and isinstance(leaves[-1], kind)


def _ends_in_sigmoid(module: nn.Module) -> bool:
    return _ends_in(module, nn.Sigmoid)


class GANFamily(Family):
    """Generator + discriminator trained by `gan_step` with the config's loss."""

    name = "gan"
    module_names = ("generator", "discriminator")
    decoder_name = "generator"

    def __init__(
        self,
        config: GANConfig,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_shape: tuple[int, ...],
        device: torch.device,
        settings: dict[str, Any],
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.loss = get_loss(config.loss)
        d_module = (
            discriminator
            if isinstance(discriminator, _FlatLogits)
            else _FlatLogits(discriminator, _ends_in_sigmoid(discriminator))
        )
        generator.to(device).train()
        d_module.to(device).train()
        lr_d = settings["lr_d"] or settings["lr"]
        betas = (config.beta1, config.beta2)
        noise = torch.Generator(device=device)
        noise.manual_seed(config.seed + 1)
        self.parts = GANParts(
            generator=generator,
            discriminator=d_module,
            opt_g=torch.optim.Adam(generator.parameters(), lr=settings["lr"], betas=betas),
            opt_d=torch.optim.Adam(d_module.parameters(), lr=lr_d, betas=betas),
            loss=self.loss,
            latent_shape=latent_shape,
            noise=noise,
            augment=_augmenter(parse_policy(config.augment), noise),
        )
        # Sampling reads the average of the generator's recent weights (config.ema), with
        # batch-norm statistics recomputed for it on fixed noise (GeneratorEMA.calibrate).
        self.ema = GeneratorEMA(generator, config.ema) if config.ema else None
        if self.ema is not None:
            calib = torch.Generator().manual_seed(config.seed + 11)
            self._calibration_z = torch.randn((512, *latent_shape), generator=calib).to(device)
        self.latent_shape = latent_shape
        self.metric_names = metric_names(self.loss)
        self.r1_every = config.r1_every

    def step(
        self,
        next_batch: Callable[[], Tensor],
        settings: dict[str, Any],
        step: int,
        *,
        check_finite: bool,
    ) -> Tensor:
        values = gan_step(
            self.parts,
            next_batch,
            n_critic=settings["n_critic"],
            gp_weight=settings["gp_weight"],
            # Lazy R1: every r1_every-th step, weighted r1_every times (Karras et al. 2020).
            r1=settings["r1"] * self.r1_every,
            r1_now=step % self.r1_every == 0,
            check_finite=check_finite,
        )
        if self.ema is not None:
            self.ema.update(self.generator)
        return values

    def apply_settings(self, settings: dict[str, Any]) -> None:
        lr = settings["lr"]
        betas = adam_betas(settings)
        set_lr(self.parts.opt_g, lr, betas)
        set_lr(self.parts.opt_d, settings["lr_d"] or lr, betas)

    def batches_per_step(self, settings: dict[str, Any]) -> int:
        return settings["n_critic"]

    def state_dict(self) -> dict[str, Any]:
        # The key names are checkpoint format 1's, so older checkpoints load unchanged.
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.parts.discriminator.inner.state_dict(),
            "opt_g": self.parts.opt_g.state_dict(),
            "opt_d": self.parts.opt_d.state_dict(),
            "noise_rng": self.parts.noise.get_state(),
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.parts.discriminator.inner.load_state_dict(state["discriminator"])
        self.parts.opt_g.load_state_dict(state["opt_g"])
        self.parts.opt_d.load_state_dict(state["opt_d"])
        self.parts.noise.set_state(state["noise_rng"])
        if self.ema is not None:
            if "ema" in state:
                self.ema.load_state_dict(state["ema"])
            else:  # a checkpoint from before the average existed: start it from these weights
                self.ema = GeneratorEMA(self.generator, self.ema.decay)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def inference_modules(self) -> dict[str, nn.Module]:
        if self.ema is None:
            return self.modules()
        self.ema.calibrate(self._calibration_z, max_age=CALIBRATE_EVERY)
        return {"generator": self.ema.module, "discriminator": self.discriminator}

    def result(self) -> Any:
        from ..models import GANModels

        return GANModels(self.generator, self.discriminator)


# Updates after which the average's batch-norm statistics are recomputed when something
# samples (snapshots come every 50 steps by default). Measured on the default DCGAN, the
# average with its calibration cost about 5% of steps/s (3.04 vs 3.16, 4 rounds; noisy).
CALIBRATE_EVERY = 50


def _augmenter(
    policy: tuple[str, ...], noise: torch.Generator
) -> Callable[[Tensor], Tensor] | None:
    """DiffAugment for image batches with the step's own RNG (so runs stay reproducible and
    resume bit-for-bit); 2-D points pass through untouched."""
    if not policy:
        return None

    def augment(x: Tensor) -> Tensor:
        return diff_augment(x, policy, noise) if x.dim() == 4 else x

    return augment
