"""A Gaussian mixture fitted by gradient descent: a model family from outside the package."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

import genai_widgets as gw
from genai_widgets.engine.config import positive_int


@dataclass(frozen=True)
class GMMConfig(gw.RunConfig):
    family = "gmm"
    settable = ("lr", "max_steps", "step_delay", "sample_every")

    data: Any = "ring"  # a 2-D toy: ring, grid, spiral or moons
    lr: float = 0.05  # Adam learning rate
    components: int = 8  # mixture components

    def validate(self, resolved: bool = False) -> None:
        positive_int("components", self.components)
        super().validate(resolved)


class Mixture(nn.Module):
    """K diagonal Gaussians: learnable means, log-stds and mixture logits."""

    def __init__(self, k: int, dim: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.means = nn.Parameter(torch.randn(k, dim, generator=g))
        self.log_stds = nn.Parameter(torch.full((k, dim), -1.0))
        self.logits = nn.Parameter(torch.zeros(k))

    def forward(self, x: Tensor) -> Tensor:  # the log-likelihood of each point of x (N x dim)
        z = (x[:, None, :] - self.means) / self.log_stds.exp()
        log_normal = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1) - self.log_stds.sum(-1)
        return torch.logsumexp(log_normal + self.logits.log_softmax(0), dim=1)


class GMMFamily(gw.Family):
    name = "gmm"
    config_class = GMMConfig
    module_names = ("mixture",)
    sample_kind = "points"
    panels = ("controls", "curves")
    description = "Gaussian mixture fitted by gradient descent on 2-D points"
    metric_names = ("nll", "components_used")

    def __init__(self, config: GMMConfig, dim: int, device: torch.device):
        self.mixture = Mixture(config.components, dim, config.seed).to(device)
        betas = (config.beta1, config.beta2)
        self.opt = torch.optim.Adam(self.mixture.parameters(), config.lr, betas)

    @classmethod
    def build(cls, config: GMMConfig, device: torch.device) -> gw.Built:
        data = gw.get_dataset(config.data, seed=config.seed)
        if data.kind != "points":
            raise ValueError(f"a GMM fits 2-D points; data {config.data!r} holds {data.kind}")
        return gw.Built(cls(config, data.sample_shape[0], device), config, data)

    def step(
        self, next_batch: Callable, settings: dict, step: int, *, check_finite: bool
    ) -> Tensor:
        nll = -self.mixture(next_batch()).mean()
        if check_finite and not torch.isfinite(nll):
            raise gw.NonFiniteLossError("nll", float(nll))  # the Run pauses, the update is skipped
        self.opt.zero_grad(set_to_none=True)
        nll.backward()
        self.opt.step()
        weights = self.mixture.logits.detach().softmax(0)
        return torch.stack([nll.detach(), (weights > 0.25 / len(weights)).sum().to(nll.dtype)])

    def apply_settings(self, settings: dict[str, Any]) -> None:
        self.opt.param_groups[0]["lr"] = settings["lr"]  # one parameter group

    def state_dict(self) -> dict[str, Any]:
        return {"mixture": self.mixture.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mixture.load_state_dict(state["mixture"])
        self.opt.load_state_dict(state["opt"])

    def modules(self) -> dict[str, nn.Module]:
        return {"mixture": self.mixture}

    def sample(self, run: gw.Run, n: int = 16, seed: int | None = None) -> Tensor:
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        with run.inference_copy("mixture") as mixture:  # a copy: training goes on
            means, stds = mixture.means.cpu(), mixture.log_stds.exp().cpu()
            k = torch.multinomial(mixture.logits.softmax(0).cpu(), n, True, generator=generator)
            return means[k] + stds[k] * torch.randn(n, means.shape[1], generator=generator)


gw.register_family(GMMFamily)
