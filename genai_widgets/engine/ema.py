"""An exponential moving average of the generator's weights, for sampling.

Averaging the generator's weights over recent steps (Yazici et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training", https://arxiv.org/abs/1806.04498; used by
ProGAN, StyleGAN, BigGAN) smooths the oscillation of the adversarial game: samples from the
average are steadier and usually better than from the last iterate. Training still updates the
live generator; only sampling, snapshots and quality measures read the average.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    """``ema = GeneratorEMA(G, decay=0.999)``; call ``ema.update(G)`` after each G step.

    The first steps use a smaller effective decay, min(decay, (1 + t) / (10 + t)), so the
    average is not dominated by the random initial weights (as in TensorFlow's
    ExponentialMovingAverage with ``num_updates``). Buffers (batch-norm statistics) are copied,
    not averaged."""

    def __init__(self, generator: nn.Module, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay!r}")
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_params = list(self.module.parameters())
        live = [p.detach() for p in generator.parameters()]
        torch._foreach_lerp_(ema_params, live, 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), generator.buffers(), strict=True):
            b_ema.copy_(b)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
        self.decay = float(state["decay"])
