"""What a kind of generative model brings to a `Run`: the `Family` contract.

The `Run` owns everything that is the same for every family: the trainer thread, pause /
resume / stop / set, the bounded history, the store, snapshots, checkpoints and events. A
`Family` owns what differs. The contract has a core every family implements and optional
capabilities only some have:

Core (every family)
    `config_class` and `build` (from its config: data, modules, optimizers); `step` (one
    optimizer step returning its metrics); `apply_settings` (hyper-parameters pushed mid-run);
    `state_dict` / `load_state_dict` (what a checkpoint holds); `health` (warnings from the
    recent metrics); `sample(run, n)` (the family's own kind of sample: images, points, text,
    sequences; `sample_kind` says which); `snapshot(run)` (the images of the fixed sample grid,
    if it has one); `evaluators(run)` (live measures it wants); `dashboard` (the import path of
    its dashboard, which the widget layer resolves) and `panels`.

Capabilities (some families)
    A family lists the `Capability` objects it offers in `capabilities`: each names Run methods
    (``run.interpolate``, ``run.encode`` ...) the family implements as ``method(run, ...)``.
    `Run` forwards to them; asking a run for a capability its family lacks raises one
    `CapabilityError` naming the family and what it does offer.

The package's GAN and VAE (`genai_widgets.families`) and any outside family register the same
way (`registry.register_family`, or an entry point)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from .config import RunConfig
    from .evaluators import Evaluator
    from .run import Run

#: What a family's `step` calls for data: the next batch, on the run's device.
NextBatch = Callable[[], Tensor]
#: Hyper-parameters as the Run holds them: field name -> value (`run.settings`).
Settings = dict[str, Any]
#: Column name -> values: recent history rows, or the evaluations table.
Columns = dict[str, Any]
#: What a health check reports: (event kind, message) pairs.
Warnings = list[tuple[str, str]]

#: Kinds of sample a family may produce (`Family.sample_kind`).
SAMPLE_KINDS = ("images", "points", "text", "sequences", "other")
#: The shared dashboard (curves, controls, the sample grid for image families).
SHARED_DASHBOARD = "genai_widgets.widgets.run_dashboard:RunDashboard"


class NonFiniteLossError(ArithmeticError):
    """A loss came out NaN or infinite; the update was not applied (a family's `step` raises
    it, and the Run pauses with a message)."""

    def __init__(self, name: str, value: float):
        super().__init__(f"{name} is {value} (non-finite loss)")
        self.name, self.value = name, value


@dataclass(frozen=True)
class Capability:
    """A named group of `Run` methods (and read-only attributes) that some families offer.
    `noun` completes "is a GAN, which has no ..." in the error for a family without it."""

    name: str
    noun: str
    methods: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        return self.methods + self.attributes


class CapabilityError(AttributeError, TypeError):
    """A run was asked for a method its family does not offer. An AttributeError, so
    `hasattr(run, "encode")` is simply False, and a TypeError (what such calls raised before)."""


# Every capability a registered family declared, by member name: what `Run.__getattr__` says a
# run lacks (rather than "no attribute") when another family offers it.
_KNOWN: dict[str, list[tuple[Capability, str]]] = {}
_known_lock = threading.Lock()


def declare_capabilities(family: type[Family]) -> None:
    """Record `family`'s capabilities (called by `Family.__init_subclass__`). A base class
    without a name (`LatentFamily`) offers nothing itself: its named subclasses do."""
    if not family.name:
        return
    with _known_lock:
        for cap in family.capabilities:
            for member in cap.members:
                offered = _KNOWN.setdefault(member, [])
                if (cap, family.name) not in offered:
                    offered.append((cap, family.name))


def missing_capability(run_name: str, family: Any, member: str) -> CapabilityError | None:
    """The error for `run.<member>` on a family without it, if some family offers it."""
    with _known_lock:
        offered = list(_KNOWN.get(member, ()))
    if not offered:
        return None
    cap = offered[0][0]
    by = sorted({name.upper() for _, name in offered if name})
    own = [m for c in family.capabilities for m in c.members]
    has = ", ".join(["sample", *own])
    return CapabilityError(
        f"run {run_name!r} is a {family.name.upper()}, which has no {cap.noun}; {member} is "
        f"part of {cap.name} ({', '.join(by)} {'offers' if len(by) == 1 else 'offer'} it). "
        f"A {family.name.upper()} run offers: {has}"
    )


class Family:
    """Base class of a model family. Subclasses set the class attributes and implement the core
    methods; a `Run` calls `step`, `apply_settings` and `state_dict` on its trainer thread and
    the rest under its step lock (or on copies of the modules, `inference_modules`)."""

    #: Lower-case name: what `config.json` records, the magics' prefix (`%%gan_train`).
    name: ClassVar[str] = ""
    #: The config dataclass (a `RunConfig` subclass whose `family` is `name`).
    config_class: ClassVar[type[RunConfig] | None] = None
    #: Modules a `Run` exposes as attributes (`run.generator`, `run.encoder`, ...).
    module_names: ClassVar[tuple[str, ...]] = ()
    #: What `sample()` returns: one of SAMPLE_KINDS.
    sample_kind: ClassVar[str] = "images"
    #: Import path ("module:callable") of the family's dashboard: a callable taking the run.
    #: The widget layer resolves it; the engine never imports a widget.
    dashboard: ClassVar[str] = SHARED_DASHBOARD
    #: Panels the shared dashboard shows for it ("curves", "controls", "samples").
    panels: ClassVar[tuple[str, ...]] = ("controls", "curves", "samples")
    #: Optional capabilities (`Capability`), whose methods this class implements.
    capabilities: ClassVar[tuple[Capability, ...]] = ()
    #: One line for listings (`%runs`, the magics' help).
    description: ClassVar[str] = ""
    #: Why the family cannot train as a torchrun job (`nproc > 1`), or None: it can. Its
    #: step must then be one that averaged gradients make the same on every rank.
    single_process: ClassVar[str | None] = None

    #: Metric columns `step` returns, in order. With an "lr" among them (a schedule), it is
    #: the history's "lr" column; otherwise the Run records the lr setting there.
    metric_names: tuple[str, ...] = ()
    #: Metric columns that are NaN at steps where they are not measured (a held-out loss
    #: every so many steps): NaN there is not a non-finite loss.
    sparse_metrics: tuple[str, ...] = ()
    #: The optimizer parts one step touches (GANParts, VAEParts): tests and tools read them.
    parts: Any = None
    #: Steps between the Run's calls of `health` (None: the engine's `run.HEALTH_EVERY`, 50):
    #: a family whose step is long (an EM iteration over all the data) asks after every step.
    health_every: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declare_capabilities(cls)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, config: RunConfig, device: torch.device) -> Built:
        """Everything a new run needs from `config` (validated, "auto" fields unresolved):
        the data, the family object with its modules and optimizers, and the config as it
        will be recorded (auto fields resolved). Raise ValueError / TypeError saying what was
        given and what is accepted; nothing has been written to disk yet."""
        raise NotImplementedError(f"{cls.__name__} does not implement build()")

    @classmethod
    def load(
        cls, config: RunConfig, state: dict[str, Any], device: torch.device, *, data: bool
    ) -> Built:
        """Rebuild a run from its checkpoint `state` (`gw.load_run`): modules of the same
        architecture, data only if `data` (the user gave it, or it was named). The Run then
        calls `load_state_dict(state)`. By default: `build` when there is data."""
        if not data:
            raise ValueError(
                f"a {cls.name.upper()} run can only be reopened with its data; pass data="
            )
        return cls.build(config, device)

    # ------------------------------------------------------------------ training
    def step(
        self, next_batch: NextBatch, settings: Settings, step: int, *, check_finite: bool
    ) -> Tensor:
        """One optimizer step (number `step`, 1-based). Returns the metrics as one tensor on
        the model's device in `metric_names` order; raises NonFiniteLossError before applying
        an update whose loss is not finite (only when `check_finite`: no host sync otherwise)."""
        raise NotImplementedError

    def apply_settings(self, settings: dict[str, Any]) -> None:
        """Push learning rates (and the like) from `settings` into the optimizers."""
        raise NotImplementedError

    def batches_per_step(self, settings: dict[str, Any]) -> int:
        """Data batches one step draws (`epochs=` is counted in batches)."""
        return 1

    def health(
        self, history: Columns, step: int, settings: Settings, evaluations: Columns | None = None
    ) -> Warnings:
        """Warnings about the training itself, from the recent history (and the live
        evaluations): (event kind, message) pairs, each reported once by the Run while its
        condition holds. None by default."""
        return []

    def finished(self) -> str | None:
        """Why training is done before `max_steps` (EM converged: "converged at ..."), or
        None. Asked after every step; the run then ends as "finished" with it as its message.
        A torchrun job's ranks must agree (their state is the same after an averaged step)."""
        return None

    def evaluators(self, run: Run) -> list[Evaluator]:
        """Live measures to compute off the trainer for this run (mode coverage on the 2-D
        toys, FID on labelled images ...). None by default."""
        return []

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Weights, optimizer states and the family's RNG, as plain tensors and data."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def store_meta(self) -> dict[str, Any]:
        """JSON-able facts the run's store keeps (a view without weights reads them back)."""
        return {}

    # ------------------------------------------------------------------ modules and samples
    def modules(self) -> dict[str, nn.Module]:
        """The user-facing modules by role, as given (not wrapped)."""
        raise NotImplementedError

    def result(self) -> Any:
        """What `run.result()` returns: a named tuple of the trained modules."""
        return tuple(self.modules().values())

    def inference_modules(self) -> dict[str, nn.Module]:
        """The modules sampling uses, by role. A Run works on copies of them taken between two
        steps (`Run.inference_copy`), never on the modules being trained."""
        return self.modules()

    def evaluation_modules(self, live: bool = False) -> dict[str, nn.Module]:
        """The modules an evaluator's `ModelCopies` copies, by role (`live`: the ones being
        trained rather than what sampling reads)."""
        return self.modules() if live else self.inference_modules()

    def sample(self, run: Run, n: int = 16, **options: Any) -> Any:
        """`n` samples of the family's own kind (`sample_kind`) from the current weights."""
        raise NotImplementedError(f"{type(self).__name__} does not implement sample()")

    def sync_batch_norm_modules(self) -> dict[str, nn.Module]:
        """The modules whose batch-norm layers a CUDA torchrun job synchronises over the ranks
        (`torch.nn.SyncBatchNorm`: statistics of the global batch, as one process would see
        it). Every module by default. Leave out a module that is differentiated twice (a
        gradient penalty): SyncBatchNorm has no double backward (pytorch#61222); its batch
        norm then keeps per-rank statistics, as DDP's `broadcast_buffers=False` does."""
        return self.modules()

    def rank_streams(self, rank: int, seed: int) -> None:
        """Give rank `rank` (> 0) of a torchrun job random streams of its own, seeded by
        `seed` (from the run's seed, the rank and the step it starts at): noise,
        augmentation, dropout. Rank 0 keeps the run's, so a job is reproducible for a given
        world size. Called once per rank after the ranks took rank 0's state; a family may
        also drop there what only rank 0 uses (a weight average it samples from). The default
        reseeds torch's global generator; a family with its own generators reseeds those."""
        torch.manual_seed(seed)

    def snapshot(self, run: Run) -> Tensor | dict[str, Any] | None:
        """What the run keeps of this step's samples (`sample_every`): the fixed sample grid
        as images N x C x H x W in [-1, 1] on any device; or a JSON-able dict, a record (a
        text family's sample from a fixed prompt and seed), which `run.get_snapshot(i)` gives
        back; or None (nothing kept). Called on the trainer thread between steps."""
        return None


@dataclass
class Built:
    """What `Family.build` / `Family.load` return."""

    family: Family
    config: RunConfig
    data: Any = None  # a DataSource (`batches(batch_size, seed)`), or None
    held_out: Any = None  # data kept out of training, or None


def adam_betas(settings: dict[str, Any]) -> tuple[float, float]:
    return (settings["beta1"], settings["beta2"])


def set_lr(optimizer: torch.optim.Optimizer, lr: float, betas: tuple[float, float]) -> None:
    for group in optimizer.param_groups:
        group["lr"], group["betas"] = lr, betas


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
        meta: dict[str, Any],
        reason: str,
        summary: str | None = None,
        config: Any = None,
    ):
        self.real = family
        self.config = config
        self.name = family.name  # type: ignore[misc]
        self.module_names = family.module_names  # type: ignore[misc]
        self.sample_kind = family.sample_kind  # type: ignore[misc]
        self.dashboard = family.dashboard  # type: ignore[misc]
        self.panels = family.panels  # type: ignore[misc]
        self.capabilities = family.capabilities  # type: ignore[misc]
        self.metric_names = tuple(metric_names)
        self.meta = dict(meta)
        for key, value in self.meta.items():  # e.g. latent_shape, for the widgets
            if isinstance(value, list):
                value = tuple(value)
            setattr(self, key, value)
        self.reason = reason  # what raises: one line, says why and what to do
        self.summary = summary or reason  # the run's message: what the view is

    def _missing(self) -> RuntimeError:
        return RuntimeError(self.reason)

    def __getattr__(self, name: str) -> Any:
        # A capability method of the real family: it needs weights.
        if any(name in cap.methods for cap in self.capabilities):

            def missing(*args: Any, **kwargs: Any) -> Any:
                raise self._missing()

            return missing
        if any(name in cap.attributes for cap in self.capabilities):
            # A capability's attribute (latent_dim ...): the run's config has it, if anything.
            return getattr(self.__dict__.get("config"), name, None)
        raise AttributeError(name)

    def step(self, *args: Any, **kwargs: Any) -> Tensor:
        raise self._missing()

    def apply_settings(self, settings: dict[str, Any]) -> None:
        pass  # nothing to apply them to; `Run.set` still records them

    def state_dict(self) -> dict[str, Any]:
        raise self._missing()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise self._missing()

    def store_meta(self) -> dict[str, Any]:
        return self.meta

    def modules(self) -> dict[str, nn.Module]:
        raise self._missing()

    def inference_modules(self) -> dict[str, nn.Module]:
        raise self._missing()

    def result(self) -> Any:
        raise self._missing()

    def sample(self, run: Run, n: int = 16, **options: Any) -> Any:
        raise self._missing()
