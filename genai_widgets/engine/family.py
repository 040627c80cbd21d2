"""What a kind of generative model brings to a `Run`.

The `Run` owns everything that is the same for every family: the trainer thread, pause /
resume / stop / set, the bounded history, the store, snapshots, checkpoints and events. A
`Family` owns what differs: its modules and optimizers, the training step, its metric columns,
how its hyper-parameters reach the optimizers, what of it goes into a checkpoint, and how a
latent vector becomes a sample. `GANFamily` and `VAEFamily` are the two."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn


class Family:
    """Base class of a model family. Subclasses set the class attributes and implement the
    methods below; a `Run` calls them on its trainer thread (`step`, `apply_settings`,
    `state_dict`) or under its step lock (the rest)."""

    #: "gan" | "vae": what `config.json` records, so `gw.load_run` rebuilds the right family.
    name: ClassVar[str] = ""
    #: Modules a `Run` exposes as attributes (`run.generator`, `run.encoder`, ...).
    module_names: ClassVar[tuple[str, ...]] = ()
    #: Role of the module that maps latent vectors to samples ("generator" / "decoder").
    decoder_name: ClassVar[str] = ""

    #: Metric columns `step` returns, in order.
    metric_names: tuple[str, ...] = ()
    #: Latent shape per sample that the decoding module accepts: (d,) or (d, 1, 1).
    latent_shape: tuple[int, ...] = ()
    #: The optimizer parts one step touches (GANParts, VAEParts): tests and tools read them.
    parts: Any = None

    # ------------------------------------------------------------------ training
    def step(
        self,
        next_batch: Callable[[], Tensor],
        settings: dict[str, Any],
        step: int,
        *,
        check_finite: bool,
    ) -> Tensor:
        """One optimizer step (number `step`, 1-based). Returns the metrics as one tensor on
        the model's device in `metric_names` order; raises NonFiniteLossError before applying
        an update whose loss is not finite (only when `check_finite`: no host sync otherwise)."""
        raise NotImplementedError

    def apply_settings(self, settings: dict[str, Any]) -> None:
        """Push learning rates and Adam betas from `settings` into the optimizers."""
        raise NotImplementedError

    def batches_per_step(self, settings: dict[str, Any]) -> int:
        """Data batches one step draws (`epochs=` is counted in batches)."""
        return 1

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Weights, optimizer states and the family's RNG, as plain tensors and data."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ generation
    def modules(self) -> dict[str, nn.Module]:
        """The user-facing modules by role, as given (not wrapped)."""
        raise NotImplementedError

    def result(self) -> Any:
        """What `run.result()` returns: a named tuple of the trained modules."""
        raise NotImplementedError

    def inference_modules(self) -> dict[str, nn.Module]:
        """The modules generation uses, by role ("generator"; "encoder" and "decoder"), in the
        form `to_samples` and the encoder helpers expect. A Run works on copies of them taken
        between two steps, never on the modules being trained."""
        return self.modules()

    @property
    def decoder_module(self) -> nn.Module:
        """The module that maps latent vectors to raw outputs (`to_samples` finishes them)."""
        return self.inference_modules()[self.decoder_name]

    def to_samples(self, raw: Tensor) -> Tensor:
        """Raw output of the decoding module -> samples in [-1, 1] (images) or points."""
        return raw

    def health(
        self, history: dict[str, Any], step: int, settings: dict[str, Any]
    ) -> list[tuple[str, str]]:
        """Warnings about the training itself, from the recent history: (event kind, message)
        pairs, each reported once by the Run while its condition holds. None by default."""
        return []


def adam_betas(settings: dict[str, Any]) -> tuple[float, float]:
    return (settings["beta1"], settings["beta2"])


def set_lr(optimizer: torch.optim.Optimizer, lr: float, betas: tuple[float, float]) -> None:
    for group in optimizer.param_groups:
        group["lr"], group["betas"] = lr, betas


def probe_latent_layout(
    module: nn.Module, latent_dim: int, device: torch.device, role: str
) -> tuple[Any, tuple[int, ...]]:
    """Call the latent-to-sample `module` ("generator", "decoder") on z of shape (2, d), then
    (2, d, 1, 1); returns its output and the layout it accepted, or a ValueError naming both."""
    d, errors = latent_dim, []
    for shape in ((d,), (d, 1, 1)):
        try:
            return module(torch.zeros((2, *shape), device=device)), shape
        except Exception as exc:  # try the other z layout
            errors.append(f"{type(exc).__name__}: {exc}")
    raise ValueError(
        f"the {role} rejected z of shape (N, {d}) and (N, {d}, 1, 1) (latent_dim={d}): {errors[0]}"
    )


class NoWeights(Family):
    """Stands in for the family of a run opened without weights (`gw.load_run` on a run
    directory whose process wrote no checkpoint before it ended, or of a run on the user's
    own modules opened without them): its history, snapshots, evaluations and events are
    shown from the store, and everything that needs the modules (training, sampling,
    saving) raises one RuntimeError saying why there are none. The real family's modules
    are never built for it."""

    def __init__(
        self,
        family: type[Family],
        metric_names: tuple[str, ...],
        latent_shape: tuple[int, ...],
        reason: str,
        summary: str | None = None,
    ):
        self.name = family.name  # type: ignore[misc]
        self.module_names = family.module_names  # type: ignore[misc]
        self.decoder_name = family.decoder_name  # type: ignore[misc]
        self.metric_names = tuple(metric_names)
        self.latent_shape = tuple(latent_shape)
        self.reason = reason  # what raises: one line, says why and what to do
        self.summary = summary or reason  # the run's message: what the view is

    def _missing(self) -> RuntimeError:
        return RuntimeError(self.reason)

    def step(
        self,
        next_batch: Callable[[], Tensor],
        settings: dict[str, Any],
        step: int,
        *,
        check_finite: bool,
    ) -> Tensor:
        raise self._missing()

    def apply_settings(self, settings: dict[str, Any]) -> None:
        pass  # nothing to apply them to; `Run.set` still records them

    def state_dict(self) -> dict[str, Any]:
        raise self._missing()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise self._missing()

    def modules(self) -> dict[str, nn.Module]:
        raise self._missing()

    def inference_modules(self) -> dict[str, nn.Module]:
        raise self._missing()

    def result(self) -> Any:
        raise self._missing()
