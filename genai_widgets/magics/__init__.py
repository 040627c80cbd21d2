"""IPython magics, a thin adapter over the Python API, the same for every registered family:
flags parse into the family's config (the `GANConfig` that `gw.train_gan` builds, the
`VAEConfig` of `gw.train_vae`, an outside family's own), the cell body runs in the user's
namespace, the run starts and its dashboard shows.

    %load_ext genai_widgets

    %%gan_train --data digits --max-steps 2000 --as run
    # optional body: may define the family's modules (generator and discriminator for a GAN,
    # encoder and decoder for a VAE: `Family.module_names`, nn.Module instances) and data or
    # train_loader (a DataLoader, Dataset or tensor); they override --model / --data

    %gan_train --data digits --max-steps 2000 --as run    # the line form: flags only
    %vae_train --data digits --latent-dim 16 --beta 1 --as vae
    %runs                                                 # name, variable, status, step, ...
    %pause run | %resume all | %stop NAME ...             # any run, of any family

Every registered family gets `%%<name>_train` / `%<name>_train`, also one registered after
`%load_ext genai_widgets` (`gw.register_family(MyFamily)`: the magic appears at once). Every
field of the family's config is a flag (`latent_dim` -> `--latent-dim`), its help the comment
after the field; `--as NAME` picks the variable the run is bound to (default `run`);
`%<name>_train --help` lists them all. `none` is accepted by the optional ones. Mistakes raise
IPython's `UsageError` with one line naming what was given and what is accepted, and start
nothing; an error in the body shows the body's own traceback and starts nothing.
`%gan_runs`, `%gan_pause`, `%gan_resume`, `%gan_stop` are the run-control magics' older names.

Where a flag is not given, its value comes from, in order:
  1. `%config <NAME>TrainMagics.<field> = value` (`GANTrainMagics`, `VAETrainMagics` ...),
  2. the environment variable `GENAI_WIDGETS_<NAME>_<FIELD>` (`GENAI_WIDGETS_VAE_BETA`; the
     GAN's have no infix: `GENAI_WIDGETS_MAX_STEPS=50` for CI-sized runs), read each time the
     magic runs; `data` has none, because `$GENAI_WIDGETS_DATA` already names where
     downloaded data sets live,
  3. the config dataclass's default.

Modules: `trainers` (what the magics need of a family), `flags` (flags, parsing, help text,
the tables of docs/flags.md), `train` (the training magics), `runs` (`%runs` and run control).
"""

from __future__ import annotations

import threading
import typing
import warnings
from typing import Any

from IPython.core.magic import Magics
from IPython.display import display

from .flags import (
    CLI_NOTES,
    NO_ENV,
    SYNONYMS,
    FlagSpec,
    GanTrainArgs,
    ParsedFlags,
    TrainArgs,
    env_defaults,
    field_help,
    flag_help_text,
    flag_notes,
    flag_specs,
    flag_table_markdown,
    parse_flags,
    parse_gan_train,
    parse_train,
    parse_vae_train,
)
from .runs import RunMagics, RunTable
from .train import TrainMagics, make_train_magics
from .trainers import BUILTIN, DEFAULT_AS, ENV_PREFIX, GAN, VAE, Trainer

if typing.TYPE_CHECKING:
    from ..engine.config import RunConfig
    from ..engine.family import Family
    from ..engine.run import Run

# torch, the engine and the data layer load with the first magic that trains or lists runs,
# not with this package: flag parsing, `%load_ext` and `python -m genai_widgets --help` need
# none of them.


def build_run(config: RunConfig) -> Run:
    """The engine's `build_run` (imported on first use). The training magics call the one
    this package holds at the time, so it can be replaced here."""
    from ..families import build_run as _build_run

    return _build_run(config)


_classes: dict[Trainer, type[TrainMagics]] = {}
_classes_lock = threading.Lock()


def train_magics_class(trainer: Trainer) -> type[TrainMagics]:
    """The `Magics` class of `trainer`'s family, made once per trainer."""
    with _classes_lock:
        if trainer not in _classes:
            _classes[trainer] = make_train_magics(trainer)
        return _classes[trainer]


GANTrainMagics = train_magics_class(GAN)
VAETrainMagics = train_magics_class(VAE)


class _Extension:
    """The magics of one shell: the run-control magics and a training magic per family;
    `family_registered` (a registry listener) adds or replaces a family's."""

    def __init__(self, shell: Any):
        self.shell = shell
        self.trainers: dict[str, Trainer] = {}
        self.instances: dict[str, Magics] = {}
        self.lock = threading.RLock()
        self._register(RunMagics(shell))

    def _register(self, magics: Magics) -> None:
        name = type(magics).__name__
        shell = self.shell
        # One instance per class name: drop an earlier one (an earlier %load_ext, or a family
        # class defined again) from what `%config` lists.
        shell.configurables[:] = [
            c for c in shell.configurables if c is magics or type(c).__name__ != name
        ]
        shell.register_magics(magics)
        self.instances[name] = magics

    def install(self, trainer: Trainer) -> None:
        with self.lock:
            if self.trainers.get(trainer.family) == trainer:
                return
            self._register(train_magics_class(trainer)(self.shell))
            self.trainers[trainer.family] = trainer
            run_magics = self.instances[RunMagics.__name__]
            run_magics.train_magics = tuple(t.magic for t in self.trainers.values())

    def family_registered(self, family: type[Family]) -> None:
        """`%%<name>_train` for a family registered now (the package's own compare equal to
        the trainers already installed and change nothing)."""
        try:
            self.install(Trainer.from_family(family))
        except Exception as exc:  # never fail register_family over the magics
            warnings.warn(
                f"no %{family.name}_train magic for {family.__name__}: {exc}", stacklevel=2
            )


_extensions: dict[int, tuple[_Extension, Any]] = {}


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext genai_widgets`: register the magics (replacing any earlier instance): the
    run-control magics, `%<name>_train` for the package's families (from their configs: no
    torch) and for every family registered now or later."""
    from ..engine import registry

    previous = _extensions.pop(id(ipython), None)
    if previous is not None:
        registry.remove_listener(previous[0].family_registered)
    extension = _Extension(ipython)
    for trainer in BUILTIN:
        extension.install(trainer)
    # Keep the shell alive with its entry: id() is only unique among live objects.
    _extensions[id(ipython)] = (extension, ipython)
    registry.on_register(extension.family_registered)


__all__ = [
    "BUILTIN",
    "CLI_NOTES",
    "DEFAULT_AS",
    "ENV_PREFIX",
    "GAN",
    "NO_ENV",
    "SYNONYMS",
    "VAE",
    "FlagSpec",
    "GANTrainMagics",
    "GanTrainArgs",
    "ParsedFlags",
    "RunMagics",
    "RunTable",
    "TrainArgs",
    "TrainMagics",
    "Trainer",
    "VAETrainMagics",
    "build_run",
    "display",
    "env_defaults",
    "field_help",
    "flag_help_text",
    "flag_notes",
    "flag_specs",
    "flag_table_markdown",
    "load_ipython_extension",
    "make_train_magics",
    "parse_flags",
    "parse_gan_train",
    "parse_train",
    "parse_vae_train",
    "train_magics_class",
]
