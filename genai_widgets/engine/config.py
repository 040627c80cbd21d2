"""The configuration base every family's config extends: one frozen dataclass per family.

`RunConfig` holds the fields every family shares (data, optimizer, budget, run directory,
snapshots and checkpoints); a family's config (`GANConfig`, `VAEConfig` in
`genai_widgets.families`, or an outside one) adds its own fields and redeclares the shared ones
whose default differs. Magic flags map one to one onto a config's fields
(`--latent-dim` -> `latent_dim`), with the comment after each field as the flag's help.

Fields named in a config's `auto_fields` may be None ("auto") until the run is built, when
the family gives them the value that suits the data; `sample_every` None snapshots every 50
steps, but at least every 5 s and at most about twice a second (`run.AUTO_SAMPLE_*`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_STEP_DELAY = 60.0  # seconds; slower than this is a pause
#: Shared fields the Run itself reads while training: `run.set` takes them on any family,
#: whether or not its config lists them in `settable`.
ENGINE_SETTABLE = ("max_steps", "step_delay", "sample_every")


@dataclass(frozen=True)
class RunConfig:
    """Fields every family shares. Objects (datasets, modules) are allowed for `data` and
    `model`; everything else is plain JSON-able data. Not used on its own: a family's config
    subclasses it, sets `family` (its registered name) and `settable` (the fields `run.set`
    changes mid-run), and checks its own fields in `validate`."""

    family: ClassVar[str] = ""
    settable: ClassVar[tuple[str, ...]] = ()
    #: Fields that may be None ("auto") until the family resolves them for the data.
    auto_fields: ClassVar[tuple[str, ...]] = ()
    #: Names a `%%<family>_train` cell body may bind to give the data, in priority order.
    data_names: ClassVar[tuple[str, ...]] = ("train_loader", "data")

    data: Any = "digits"  # name, Dataset, DataLoader, tensor or image-folder path
    model: Any = None  # registry name or the family's own modules
    batch_size: int = 64  # samples per update
    lr: float = 2e-4  # Adam learning rate
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    max_steps: int | None = None  # stop after this many updates
    epochs: float | None = None  # or after this many passes over the data
    step_delay: float = 0.0  # slow motion: seconds to wait after each step (0: full speed)
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    seed: int = 0  # seeds weights, data order and the fixed sample noise
    name: str | None = None  # shown in dashboards; defaults to a time stamp
    run_dir: str | None = None  # where config, metrics and checkpoints go; None: ./runs/<name>
    sample_every: int | None = None  # steps between sample snapshots; None: 50, 0.5-5 s apart
    checkpoint_every: int = 500  # steps between checkpoints (0: only on save/stop)
    checkpoint_every_seconds: float = 60.0  # seconds between checkpoints, if sooner (0: off)
    log_every: int = 1  # steps between metric rows written to the store
    nproc: int = 1  # processes per node: above 1, a torchrun job (DDP) steered from here
    nnodes: int = 1  # nodes of a torchrun job (c10d rendezvous; rdzv_endpoint needed above 1)
    rdzv_endpoint: str | None = None  # host:port of the c10d rendezvous (None: --standalone)
    rdzv_id: str | None = None  # id shared by a job's launchers on every node
    max_restarts: int = 0  # times torchrun restarts a failed job (it resumes from a checkpoint)

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Plain data for config.json; objects are recorded by their type, not pickled. The
        family is recorded too, so `gw.load_run` rebuilds the right kind of run."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or isinstance(value, (str, int, float, bool)):
                out[f.name] = value
            elif isinstance(value, (tuple, list)):
                out[f.name] = f"<{', '.join(type(v).__name__ for v in value)}>"
            else:
                out[f.name] = f"<{type(value).__name__}>"
        out["family"] = self.family
        return out

    def is_auto(self, name: str, resolved: bool) -> bool:
        """Whether field `name` may be None here: an "auto" field of a config not resolved."""
        return not resolved and name in self.auto_fields

    def validate(self, resolved: bool = False) -> None:
        """Check the plain fields (ValueError naming the field and the value); data and model
        are checked when they are built. Subclasses check theirs and call this one."""
        c = self
        if not isinstance(c.device, str) or not (
            c.device in DEVICES or re.fullmatch(r"cuda:\d+", c.device)
        ):
            raise ValueError(
                f"device must be one of {', '.join(DEVICES)} or 'cuda:N'; got {c.device!r}"
            )
        positive_int("batch_size", c.batch_size, allow_none=c.is_auto("batch_size", resolved))
        positive_float("lr", c.lr, allow_none=c.is_auto("lr", resolved))
        for name in ("beta1", "beta2"):
            value = getattr(c, name)
            if value is None and c.is_auto(name, resolved):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        positive_int("max_steps", c.max_steps, allow_none=True)
        positive_float("epochs", c.epochs, allow_none=True)
        if (
            isinstance(c.step_delay, bool)
            or not isinstance(c.step_delay, (int, float))
            or not 0 <= c.step_delay <= MAX_STEP_DELAY
        ):
            raise ValueError(
                f"step_delay must be a number of seconds in [0, {MAX_STEP_DELAY:g}], "
                f"got {c.step_delay!r}"
            )
        if isinstance(c.seed, bool) or not isinstance(c.seed, int) or c.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {c.seed!r}")
        positive_int("sample_every", c.sample_every, allow_none=True)  # None: by steps and time
        positive_int("checkpoint_every", c.checkpoint_every, minimum=0)
        finite_non_negative("checkpoint_every_seconds", c.checkpoint_every_seconds)
        positive_int("log_every", c.log_every)
        check_launch(c)
        if c.name is not None and not isinstance(c.name, str):
            raise ValueError(f"name must be a string, got {type(c.name).__name__}")
        if c.run_dir is not None and not isinstance(c.run_dir, (str,)):
            raise ValueError(f"run_dir must be a path string, got {type(c.run_dir).__name__}")


def check_launch(c: RunConfig) -> None:
    """The torchrun fields: nproc >= 1, not above the GPU count on CUDA, 1 on MPS; a
    multi-node job names its rendezvous."""
    positive_int("nproc", c.nproc)
    positive_int("nnodes", c.nnodes)
    positive_int("max_restarts", c.max_restarts, minimum=0)
    if c.nproc > 1 and c.device == "mps":
        raise ValueError(
            f"nproc={c.nproc} needs one device per process; Apple's MPS is one device "
            "(and torch.distributed has no MPS backend): use nproc=1, or device='cpu'"
        )
    if c.nproc > 1 and c.device.startswith("cuda"):
        import torch  # only here: a CUDA config asks for the GPU count

        count = torch.cuda.device_count()
        if c.nproc > count:
            raise ValueError(
                f"nproc={c.nproc} on device={c.device!r} needs {c.nproc} GPUs, and this "
                f"machine has {count}; use nproc<={max(1, count)} or device='cpu'"
            )
    if c.rdzv_endpoint is not None and (
        not isinstance(c.rdzv_endpoint, str) or not re.fullmatch(r"[^\s:]+:\d+", c.rdzv_endpoint)
    ):
        raise ValueError(f"rdzv_endpoint must be 'host:port', got {c.rdzv_endpoint!r}")
    if c.rdzv_id is not None and not re.fullmatch(r"[\w.-]+", str(c.rdzv_id)):
        raise ValueError(f"rdzv_id must be letters, digits, '.', '_' or '-'; got {c.rdzv_id!r}")


def settable_fields(cls: type[RunConfig]) -> tuple[str, ...]:
    """What `run.set` takes on a run of `cls`: its `settable`, then the `ENGINE_SETTABLE`
    fields it does not list (the trainer reads them on every family)."""
    return (*cls.settable, *(f for f in ENGINE_SETTABLE if f not in cls.settable))


def settings_of(config: RunConfig) -> dict[str, Any]:
    """The values of the fields `run.set` takes (`settable_fields`), as a run starts with them."""
    return {k: getattr(config, k) for k in settable_fields(type(config))}


def build_config(cls: type[RunConfig], kwargs: dict[str, Any]) -> Any:
    """Build and validate a `cls`; unknown keys raise TypeError listing the valid ones."""
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise TypeError(_unknown_options(cls, unknown, valid))
    if "run_dir" in kwargs and isinstance(kwargs["run_dir"], os.PathLike):
        kwargs = {**kwargs, "run_dir": os.fspath(kwargs["run_dir"])}
    config = cls(**kwargs)
    validate_config(config)
    return config


def validate_config(c: RunConfig, *, resolved: bool = False) -> None:
    """Check a config's plain fields (`c.validate`). "auto" fields may be None unless the
    config is `resolved` (a running run's: `Run.set`)."""
    c.validate(resolved)


def _unknown_options(cls: type, unknown: list[str], valid: set[str]) -> str:
    """One line: each unknown key with its likely meaning; all valid keys only when a key
    resembles none of them (a typo is answered with the option, not a list of 30)."""
    close = {key: difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6) for key in unknown}
    guesses = [f"{key!r} (did you mean {close[key][0]!r}?)" for key in unknown if close[key]]
    others = [repr(key) for key in unknown if not close[key]]
    text = f"unknown option(s) {', '.join(guesses + others)} for {cls.__name__}"
    if others:
        return f"{text}; valid options are: {', '.join(sorted(valid))}"
    return f"{text}; see help(gw.{cls.__name__}) for all options"


def positive_int(name: str, value: Any, *, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def positive_float(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if value != value or value == float("inf"):
        raise ValueError(f"{name} must be finite, got {value!r}")


def finite_non_negative(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value < float("inf")
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


__all__ = [
    "RunConfig",
    "DEVICES",
    "ENGINE_SETTABLE",
    "MAX_STEP_DELAY",
    "build_config",
    "check_launch",
    "finite_non_negative",
    "positive_float",
    "positive_int",
    "settable_fields",
    "settings_of",
    "validate_config",
    "field",
]
