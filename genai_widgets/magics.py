"""IPython magics, a thin adapter over the Python API: flags parse into the same `GANConfig`
that `gw.train_gan` builds (or the `VAEConfig` of `gw.train_vae`), the cell body runs in the
user's namespace, the run starts and its dashboard shows.

    %load_ext genai_widgets

    %%gan_train --data digits --max-steps 2000 --as run
    # optional body: may define generator and discriminator (nn.Module instances) and
    # data or train_loader (a DataLoader, Dataset or tensor); they override --model / --data

    %gan_train --data digits --max-steps 2000 --as run    # the line form: flags only
    %vae_train --data digits --latent-dim 16 --beta 1 --as vae    # a VAE: the same, with
    # encoder and decoder as the body's modules
    %gan_runs                                             # name, variable, status, step, ...
    %gan_pause run | %gan_resume all | %gan_stop NAME ... # any run, GAN or VAE

Every field of the family's config is a flag (`latent_dim` -> `--latent-dim`); `--as NAME`
picks the variable the run is bound to (default `run`); `%gan_train --help` (`%vae_train
--help`) lists them all. `none` is accepted by the optional ones. Mistakes raise IPython's
`UsageError` with one line naming what was given and what is accepted, and start nothing; an
error in the body shows the body's own traceback and starts nothing.

Where a flag is not given, its value comes from, in order:
  1. `%config GANTrainMagics.<field> = value` (`VAETrainMagics` for `%vae_train`),
  2. the environment variable `GENAI_WIDGETS_<FIELD>` (`GENAI_WIDGETS_VAE_<FIELD>` for
     `%vae_train`; e.g. `GENAI_WIDGETS_MAX_STEPS=50` for CI-sized runs), read each time the
     magic runs; `data` has none, because `$GENAI_WIDGETS_DATA` already names where
     downloaded data sets live,
  3. the config dataclass's default.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import html
import inspect
import io
import keyword
import math
import os
import re
import shlex
import textwrap
import tokenize
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import traitlets
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.display import display
from traitlets.config import Configurable

from .engine.config import DEVICES, RunConfig, build_config
from .families.gan import config as _gan_config_module
from .families.gan.config import LOSSES, GANConfig
from .families.vae import config as _vae_config_module
from .families.vae.config import LIKELIHOODS, VAEConfig

_CONFIG_MODULES = (_gan_config_module, _vae_config_module)

if typing.TYPE_CHECKING:
    from .engine.run import Run

# torch, the engine and the data layer load with the first magic that trains or lists runs,
# not with this module: flag parsing and `python -m genai_widgets --help` need none of them.


def build_run(config: RunConfig) -> Run:
    """The engine's `build_run` (imported on first use)."""
    from .families import build_run as _build_run

    return _build_run(config)


ENV_PREFIX = "GENAI_WIDGETS_"
#: Fields without an environment default: `$GENAI_WIDGETS_DATA` is the data layer's download root.
NO_ENV = frozenset({"data"})
DEFAULT_AS = "run"


@dataclass(frozen=True)
class Trainer:
    """What tells the training magics of one model family apart."""

    family: str  # "gan" | "vae"
    config_class: type[RunConfig]  # the dataclass the flags map onto
    magic: str  # "gan_train": the magic's name
    env_prefix: str  # environment defaults: env_prefix + FIELD
    modules: tuple[str, str]  # names the cell body binds its two modules to

    @property
    def body_names(self) -> tuple[str, ...]:
        """Names the cell body may bind; only values the body itself (re)binds are used."""
        return (*self.modules, "data", "train_loader")

    @property
    def settings_class(self) -> str:
        """The `%config` section: GANTrainMagics, VAETrainMagics."""
        return f"{self.family.upper()}TrainMagics"


GAN = Trainer("gan", GANConfig, "gan_train", ENV_PREFIX, ("generator", "discriminator"))
VAE = Trainer("vae", VAEConfig, "vae_train", ENV_PREFIX + "VAE_", ("encoder", "decoder"))
#: Names the `%%gan_train` body may bind (kept for callers of the GAN-only version).
BODY_NAMES = GAN.body_names
#: Common spellings from other tools, used only to suggest the right flag.
SYNONYMS = {
    "learning-rate": "lr",
    "lr-g": "lr",
    "steps": "max-steps",
    "iterations": "max-steps",
    "iters": "max-steps",
    "nz": "latent-dim",
    "z-dim": "latent-dim",
    "zdim": "latent-dim",
    "bs": "batch-size",
    "dataset": "data",
    "loader": "data",
    "arch": "model",
    "ngf": "width",
    "ndf": "width",
    "nc": "channels",
    "out": "run-dir",
    "output": "run-dir",
    "gpu": "device",
    "epoch": "epochs",
    "n-epochs": "epochs",
    "kl-weight": "beta",
    "warmup": "beta-warmup",
    "kl-warmup": "beta-warmup",
    "z-dims": "latent-dim",
}


def flag_notes(trainer: Trainer = GAN) -> dict[str, str]:
    """What the flag form of an object-valued field takes, added to the field's comment."""
    first, second = trainer.modules
    return {
        "data": "As a flag: a data set name or an image folder; objects come from the cell body "
        "(`data` or `train_loader`)",
        "model": "As a flag: a registered name (`gw.list_models()`); your own modules come from "
        f"the cell body (`{first}` and `{second}`)",
    }


#: The GAN's notes (kept for callers of the GAN-only version).
FLAG_NOTES = flag_notes(GAN)
_CUDA_INDEX = re.compile(r"cuda:\d+")
_NUMBER_KINDS = ("int", "float")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ---------------------------------------------------------------------------- flag specs
@lru_cache(maxsize=4)
def field_help(trainer: Trainer = GAN) -> dict[str, str]:
    """The comment after each config field in config.py: the flags' help text. A field
    redeclared by the family's class (a different default) takes that class's comment."""
    out: dict[str, str] = {}
    for cls in reversed(trainer.config_class.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):  # no source shipped: flags still work, without help
            continue
        comments = {
            tok.start[0]: tok.string.lstrip("#").strip()
            for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT
        }
        for node in ast.parse(source).body[0].body:  # the class body only
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                text = comments.get(node.end_lineno or node.lineno, "")
                if text:
                    out[node.target.id] = re.sub(r"\b[A-Z][A-Z_]+\b", _expand_constant, text)
    return out


def _expand_constant(match: re.Match[str]) -> str:
    """`one of LOSSES` in a comment -> the names themselves."""
    value = next(
        (getattr(m, match.group()) for m in _CONFIG_MODULES if hasattr(m, match.group())), None
    )
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return match.group()


#: Kinds of flag whose values are one of a fixed set.
CHOICES = {"loss": LOSSES, "likelihood": LIKELIHOODS, "device": DEVICES}


@dataclass(frozen=True)
class FlagSpec:
    """One config field as a flag: how its text is read and described."""

    field: str
    kind: str  # "int" | "float" | "bool" | "loss" | "likelihood" | "device" | "model" | "data" | "text"
    optional: bool  # accepts `none`
    default: Any
    help: str = ""
    env_prefix: str = ENV_PREFIX

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")

    @property
    def env_var(self) -> str | None:
        return None if self.field in NO_ENV else self.env_prefix + self.field.upper()

    def choices(self) -> tuple[str, ...]:
        if self.kind in ("loss", "likelihood"):
            return CHOICES[self.kind]
        if self.kind == "device":
            return DEVICES
        if self.kind == "model":
            from .models import list_models

            return tuple(list_models())
        return ()

    def type_name(self) -> str:
        """Short type for the flag table."""
        base = {
            "int": "int",
            "float": "float",
            "bool": "bool",
            "loss": " \\| ".join(LOSSES),
            "likelihood": " \\| ".join(LIKELIHOODS),
            "device": " \\| ".join((*DEVICES, "cuda:N")),
            "model": "model name",
            "data": "name or path",
            "text": "text",
        }[self.kind]
        return f"{base} or none" if self.optional else base

    def accepted(self) -> str:
        """What the flag accepts, as a phrase for error messages."""
        if self.kind in ("loss", "likelihood", "device", "model"):
            names = list(self.choices()) + (["cuda:N"] if self.kind == "device" else [])
            text = "one of " + ", ".join(names)
        else:
            text = {
                "int": "an integer",
                "float": "a number",
                "bool": "true or false",
                "data": "a data set name or an image folder path",
                "text": "a non-empty string",
            }[self.kind]
        return f"{text} or none" if self.optional else text

    def parse(self, text: str, label: str) -> Any:
        """Text from a flag or an environment variable -> the field's value, or UsageError."""
        if self.optional and text.strip().lower() == "none":
            return None
        bad = f"{label} expects {self.accepted()}, got {text!r}"
        if self.kind == "int":
            try:
                return int(text, 10)
            except ValueError:
                raise UsageError(bad) from None
        if self.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise UsageError(bad) from None
            if not math.isfinite(value):
                raise UsageError(f"{label} expects a finite number, got {text!r}")
            return value
        if self.kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise UsageError(bad)
        return self.check(text, label)

    def check(self, value: Any, label: str) -> Any:
        """A Python value (from %config or parse) -> the field's value, or UsageError."""
        if value is None:
            if self.optional:
                return None
            raise UsageError(f"{label} expects {self.accepted()}, got None")
        if self.kind in _NUMBER_KINDS or self.kind == "bool":
            if isinstance(value, str):
                return self.parse(value, label)
            if self.kind == "float" and isinstance(value, float) and not math.isfinite(value):
                raise UsageError(f"{label} expects a finite number, got {value!r}")
            return value  # range checks are make_config's
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{label} expects {self.accepted()}, got {value!r}")
        choices = self.choices()
        if choices and value not in choices:
            if self.kind == "device" and _CUDA_INDEX.fullmatch(value):
                return value
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"{label} expects {self.accepted()}; got {value!r}{hint}")
        return value


def _kind_of(name: str, annotation: Any) -> tuple[str, bool]:
    if name in ("data", "model"):  # objects from the body; names and paths as flags
        return name, False
    if name in ("loss", "likelihood"):
        return name, False
    if name == "device":
        return "device", False
    args = typing.get_args(annotation)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), annotation) if optional else annotation
    kind = {int: "int", float: "float", bool: "bool", str: "text"}.get(base, "text")
    return kind, optional


@lru_cache(maxsize=4)
def flag_specs(trainer: Trainer = GAN) -> dict[str, FlagSpec]:
    """Field name -> FlagSpec, one per field of the trainer's config (`GANConfig` by default),
    in the dataclass's order."""
    cls = trainer.config_class
    hints = typing.get_type_hints(cls)
    helps = field_help(trainer)
    notes = flag_notes(trainer)
    specs = {}
    for f in dataclasses.fields(cls):
        kind, optional = _kind_of(f.name, hints.get(f.name, Any))
        text = helps.get(f.name, "")
        if f.name in notes:
            text = f"{text}. {notes[f.name]}" if text else notes[f.name]
        specs[f.name] = FlagSpec(f.name, kind, optional, f.default, text, trainer.env_prefix)
    return specs


def _flag_index(trainer: Trainer = GAN) -> dict[str, FlagSpec]:
    return {spec.flag: spec for spec in flag_specs(trainer).values()}


def _unknown_flag(flag: str, trainer: Trainer = GAN) -> UsageError:
    known = list(_flag_index(trainer)) + ["--as"]
    bare = flag[2:].replace("_", "-").lower()
    # Candidates: the flags themselves and the synonyms other tools use for them.
    candidates = {f[2:]: f for f in known} | {
        k: "--" + v for k, v in SYNONYMS.items() if "--" + v in known
    }
    close = difflib.get_close_matches(bare, list(candidates), n=1, cutoff=0.6)
    hint = f"; did you mean {candidates[close[0]]}?" if close else ";"
    return UsageError(f"unknown flag {flag}{hint} valid flags: {' '.join(known)}")


# ---------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class ParsedFlags:
    """What a flag line says, before any defaults: field -> value, `--as`, `--help`."""

    values: dict[str, Any] = field(default_factory=dict)
    as_name: str | None = None
    show_help: bool = False


@dataclass(frozen=True)
class GanTrainArgs:
    """A parsed `%gan_train` / `%vae_train` line: the validated config and the variable to bind."""

    config: Any  # GANConfig | VAEConfig
    as_name: str
    given: dict[str, Any]  # the fields set by flags on this line
    show_help: bool = False


#: The same for both families.
TrainArgs = GanTrainArgs


def parse_flags(line: str, trainer: Trainer = GAN) -> ParsedFlags:
    """`--flag value` / `--flag=value` pairs -> values; anything else is a UsageError.
    Text after `#` is a comment; quote values that hold spaces."""
    try:
        tokens = shlex.split(line, comments=True, posix=True)
    except ValueError as exc:
        raise UsageError(f"cannot read the flags {line.strip()!r}: {exc}") from None
    index = _flag_index(trainer)
    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    as_name = None
    show_help = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token in ("-h", "--help"):
            show_help = True
            continue
        if not token.startswith("--") or token == "--":
            raise UsageError(
                f"unexpected argument {token!r}; flags are written --name value "
                f"(e.g. --data digits --max-steps 2000); see %{trainer.magic} --help"
            )
        flag, eq, text = token.partition("=")
        if flag != "--as" and flag not in index:
            raise _unknown_flag(flag, trainer)
        spec = index.get(flag)
        if not eq:
            if i >= len(tokens) or tokens[i].startswith("--"):
                what = spec.accepted() if spec else "a Python variable name"
                after = ""
                if i < len(tokens):
                    after = f" before {tokens[i]}"
                    if tokens[i].partition("=")[0] not in (*index, "--as", "--help"):
                        after += f" (write {flag}=VALUE for a value that starts with --)"
                raise UsageError(f"{flag} expects a value ({what}), got nothing{after}")
            text = tokens[i]
            i += 1
        if flag in raw:
            raise UsageError(f"{flag} given twice ({raw[flag]!r} and {text!r}); give it once")
        raw[flag] = text
        if spec is None:
            if not text.isidentifier() or keyword.iskeyword(text):
                raise UsageError(f"--as expects a Python variable name, got {text!r}")
            as_name = text
        else:
            values[spec.field] = spec.parse(text, flag)
    return ParsedFlags(values, as_name, show_help)


def env_defaults(
    environ: Mapping[str, str] | None = None, trainer: Trainer = GAN
) -> dict[str, tuple[Any, str]]:
    """Field -> (text, "$GENAI_WIDGETS_<FIELD>") for each variable that is set and not empty.
    The text is read like a flag's value when (and only when) the field is not given otherwise."""
    environ = os.environ if environ is None else environ
    out = {}
    for spec in flag_specs(trainer).values():
        var = spec.env_var
        if var is not None and environ.get(var, "").strip():
            out[spec.field] = (environ[var].strip(), f"${var}")
    return out


def _config_error(exc: Exception, sources: Mapping[str, str]) -> UsageError:
    """make_config's message starts with the field's name; name the flag / setting instead."""
    message = _one_line(exc)
    for name in sorted(sources, key=len, reverse=True):
        if message.startswith(name + " "):
            return UsageError(sources[name] + message[len(name) :])
    return UsageError(message)


def parse_gan_train(
    line: str, defaults: Mapping[str, tuple[Any, str]] | None = None, trainer: Trainer = GAN
) -> GanTrainArgs:
    """Parse a `%gan_train` line (`trainer=VAE`: a `%vae_train` line) into a validated config.
    `defaults` maps field -> (value, where it came from) and sits under the flags (see the
    module docstring for the order); a text value is read like a flag's (so `none` is None),
    any other value is checked. The only outcomes are a `GanTrainArgs` holding a valid config,
    or a `UsageError`."""
    parsed = parse_flags(line, trainer)
    specs = flag_specs(trainer)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (value, source) in (defaults or {}).items():
        if name in parsed.values:
            continue  # only the value that is used is checked
        spec = specs[name]
        # Text (an environment variable) reads like a flag's value; objects are checked.
        values[name] = (
            spec.parse(value, source) if isinstance(value, str) else spec.check(value, source)
        )
        sources[name] = source
    for name, value in parsed.values.items():
        values[name] = value
        sources[name] = specs[name].flag
    try:
        config = build_config(trainer.config_class, values)
    except (ValueError, TypeError) as exc:
        raise _config_error(exc, sources) from None
    return GanTrainArgs(config, parsed.as_name or DEFAULT_AS, parsed.values, parsed.show_help)


def parse_vae_train(
    line: str, defaults: Mapping[str, tuple[Any, str]] | None = None
) -> GanTrainArgs:
    """Parse a `%vae_train` line into a validated `VAEConfig` (see `parse_gan_train`)."""
    return parse_gan_train(line, defaults, VAE)


# ---------------------------------------------------------------------------- help and README
def _default_text(spec: FlagSpec) -> str:
    return "none" if spec.default is None else str(spec.default)


def _metavar(spec: FlagSpec) -> str:
    name = {"float": "NUMBER", "text": "TEXT"}.get(spec.kind, spec.kind.upper())
    return f"{name}|none" if spec.optional else name


#: What `--data` / `--model` take on a terminal (`python -m genai_widgets`), instead of the
#: notes about the cell body.
CLI_NOTES = {
    "data": "a named data set (digits, the offline default, or mnist, fashion-mnist, cifar10, "
    "...) or a folder of images",
    "model": "a registered model name (dcgan, or mlp for 2-D points; conv-vae for a VAE)",
}


def flag_help_text(trainer: Trainer = GAN, cli: bool = False) -> str:
    """Plain-text list of the flags (`%gan_train --help` and the magic's docstring); `cli`:
    as `python -m genai_widgets --help` shows them (no `--as`, no cell body)."""
    lines = []
    for spec in flag_specs(trainer).values():
        left = f"  {spec.flag} {_metavar(spec)}"
        text = spec.help
        if cli and spec.field in CLI_NOTES:
            text = CLI_NOTES[spec.field]
        if spec.kind == "device" and spec.accepted() not in text:
            text = f"{spec.accepted()}; {text}"
        lines.append(f"{left:<30} {text} (default: {_default_text(spec)})")
    if not cli:
        lines.append(
            f"{'  --as NAME':<30} the variable the run is bound to (default: {DEFAULT_AS})"
        )
    return "\n".join(lines)


def flag_table_markdown(trainer: Trainer = GAN) -> str:
    """The README's flag table: one row per config field, generated so it cannot drift."""
    rows = [
        "| flag | type | default | environment | help |",
        "|---|---|---|---|---|",
    ]
    for spec in flag_specs(trainer).values():
        env = (
            f"`{spec.env_var}`"
            if spec.env_var
            else "none (`GENAI_WIDGETS_DATA` is the data folder)"
        )
        help_text = html.escape(spec.help, quote=False).replace("|", "\\|")
        rows.append(
            f"| `{spec.flag}` | {spec.type_name()} | `{_default_text(spec)}` | {env} | {help_text} |"
        )
    rows.append(f"| `--as` | Python name | `{DEFAULT_AS}` | | the variable the run is bound to |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------- runs table
@dataclass(frozen=True)
class RunTable:
    """What `%gan_runs` returns: one row per run this process knows (HTML in a notebook)."""

    rows: list[dict[str, str]]

    COLUMNS: typing.ClassVar[tuple[str, ...]] = (
        "name",
        "variable",
        "status",
        "step",
        "steps/s",
        "last losses",
        "run directory",
    )

    @classmethod
    def from_runs(
        cls, runs: Mapping[str, Run], namespace: Mapping[str, Any] | None = None
    ) -> RunTable:
        """One row per run; `namespace` (the user's) fills the variable column with the
        names that hold each run now (`--as r1`, or `r1 = gw.train_gan(...)`), or `-`."""
        from .engine.run import Run

        bound: dict[int, list[str]] = {}
        for var, value in list((namespace or {}).items()):
            # IPython's output history (`_`, `_3`, `Out`) holds runs too; those are not names.
            if isinstance(value, Run) and not var.startswith("_"):
                bound.setdefault(id(value), []).append(var)
        rows = []
        for name, run in list(runs.items()):
            history = run.history
            # A GAN's losses; a VAE has none, so its ELBO and terms.
            headline = [c for c in history if c.startswith("loss")] or [
                c for c in ("elbo", "recon", "kl") if c in history
            ]
            losses = ", ".join(
                f"{col} {history[col][-1]:.4g}" for col in headline if len(history[col])
            )
            target = run.max_steps
            rate = run.steps_per_second if run.status == "running" else 0.0
            rows.append(
                {
                    "name": name,
                    "variable": ", ".join(bound.get(id(run), [])) or "-",
                    "status": run.status,
                    "step": f"{run.step}/{target}" if target else str(run.step),
                    "steps/s": f"{rate:.1f}" if rate else "-",
                    "last losses": losses or "-",
                    "run directory": str(run.run_dir),
                }
            )
        return cls(rows)

    def __repr__(self) -> str:
        if not self.rows:
            return "no runs yet; start one with %gan_train or %vae_train"
        widths = {c: max(len(c), *(len(r[c]) for r in self.rows)) for c in self.COLUMNS}
        lines = ["  ".join(c.ljust(widths[c]) for c in self.COLUMNS).rstrip()]
        lines += [
            "  ".join(r[c].ljust(widths[c]) for c in self.COLUMNS).rstrip() for r in self.rows
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<p>{html.escape(repr(self))}</p>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(r[c])}</td>" for c in self.COLUMNS) + "</tr>"
            for r in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---------------------------------------------------------------------------- the magics
def _config_traits(trainer: Trainer = GAN) -> dict[str, traitlets.TraitType]:
    out: dict[str, traitlets.TraitType] = {}
    for spec in flag_specs(trainer).values():
        trait_type = {"int": traitlets.Int, "float": traitlets.Float, "bool": traitlets.Bool}.get(
            spec.kind, traitlets.Unicode
        )
        env = f" Default from ${spec.env_var} when set." if spec.env_var else ""
        out[spec.field] = trait_type(
            spec.default, allow_none=spec.optional, help=f"{spec.help} ({spec.flag}).{env}"
        ).tag(config=True)
    return out


# The traits are generated from the config dataclasses, so they live on generated base
# classes; `%config GANTrainMagics.<field>` finds them through the subclass.
GANConfigDefaults = traitlets.MetaHasTraits(
    "GANConfigDefaults",
    (Configurable,),
    {
        **_config_traits(GAN),
        "__doc__": "Magic defaults: one trait per GANConfig field.",
        "__module__": __name__,
    },
)
VAEConfigDefaults = traitlets.MetaHasTraits(
    "VAEConfigDefaults",
    (Configurable,),
    {
        **_config_traits(VAE),
        "__doc__": "Magic defaults: one trait per VAEConfig field.",
        "__module__": __name__,
    },
)


def _show(run: Run) -> None:
    try:
        view = run.dashboard()
    except ImportError:  # widgets unavailable (no anywidget): the text summary still shows
        display({"text/plain": repr(run)}, raw=True)
        return
    display(view)


class _TrainMagics(Magics):
    """What `%gan_train` and `%vae_train` share: defaults, the body, starting the run."""

    trainer: typing.ClassVar[Trainer]

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self._assigned: set[str] = set()
        self.observe(self._record_assignment, names=list(flag_specs(self.trainer)))

    def _record_assignment(self, change: Any) -> None:
        self._assigned.add(change["name"])

    # ------------------------------------------------------------------ defaults
    def magic_defaults(self) -> dict[str, tuple[Any, str]]:
        """Field -> (value, where it came from) for every field not left at its default:
        `%config GANTrainMagics.<field>` over `$GENAI_WIDGETS_<FIELD>`."""
        out = env_defaults(trainer=self.trainer)
        section_name = type(self).__name__
        section = self.config.get(section_name, {})
        for name in flag_specs(self.trainer):
            if name in section or name in self._assigned:
                out[name] = (getattr(self, name), f"{section_name}.{name}")
        return out

    # ------------------------------------------------------------------ %gan_train / %vae_train
    def _train(self, line: str, cell: str | None, doc: str | None) -> None:
        args = parse_gan_train(line, self.magic_defaults(), self.trainer)
        if args.show_help:
            print(doc)
            return
        from .data import DatasetUnavailableError
        from .engine.run import Run

        config = args.config
        if cell is not None and cell.strip():
            config = self._apply_body(config, self._run_body(cell))
        try:
            run = build_run(config)
        except (
            ValueError,
            TypeError,
            FileExistsError,
            FileNotFoundError,
            DatasetUnavailableError,
        ) as exc:
            raise UsageError(_one_line(exc)) from None
        ns = self.shell.user_ns
        previous = ns.get(args.as_name)
        if isinstance(previous, Run) and previous.status in ("running", "paused"):
            # Re-running the cell replaces its run: the old thread must not keep the CPU/GPU.
            previous.stop()
            print(f"stopped the earlier run {previous.name!r} that `{args.as_name}` pointed to")
        try:
            run.start()
        except RuntimeError as exc:
            raise UsageError(_one_line(exc)) from None
        ns[args.as_name] = run
        _show(run)

    def _run_body(self, cell: str) -> dict[str, Any]:
        """Run the body in the user's namespace; return the body names it (re)bound.
        Its exceptions propagate as themselves, showing only the body's frames."""
        shell = self.shell
        ns = shell.user_ns
        names = self.trainer.body_names
        before = {name: ns[name] for name in names if name in ns}
        # A leading newline keeps the traceback's line numbers equal to the cell's
        # (line 1 is the %%gan_train line).
        source = "\n" + shell.transform_cell(cell)
        filename = shell.compile.cache(source, shell.execution_count, raw_code=cell)
        code = shell.compile(source, filename, "exec")
        try:
            exec(code, shell.user_global_ns, ns)
        except Exception as exc:
            _render_body_traceback(shell, exc)
            raise
        return {
            name: ns[name]
            for name in names
            if name in ns and (name not in before or ns[name] is not before[name])
        }

    @classmethod
    def _apply_body(cls, config: Any, found: dict[str, Any]) -> Any:
        changes: dict[str, Any] = {}
        if "train_loader" in found:  # the loader carries the batching the user chose
            changes["data"] = found["train_loader"]
        elif "data" in found:
            changes["data"] = found["data"]
        from torch import nn

        first, second = cls.trainer.modules
        has_first, has_second = first in found, second in found
        if has_first != has_second:
            given, missing = (first, second) if has_first else (second, first)
            raise UsageError(
                f"the cell body defines {given} but not {missing}; define both as nn.Module "
                f"instances (or neither, to use --model)"
            )
        if has_first:
            for role in (first, second):
                module = found[role]
                if isinstance(module, type) and issubclass(module, nn.Module):
                    raise UsageError(
                        f"{role} is the class {module.__name__}, not a module; "
                        f"create one: {role} = {module.__name__}()"
                    )
                if not isinstance(module, nn.Module):
                    raise UsageError(
                        f"{role} must be a torch.nn.Module instance, got {type(module).__name__}"
                    )
            changes["model"] = (found[first], found[second])
        return config.replace(**changes) if changes else config


@magics_class
class GANTrainMagics(_TrainMagics, GANConfigDefaults):  # type: ignore[misc, valid-type]
    """`%%gan_train`, `%gan_train`, `%gan_runs`, `%gan_pause`, `%gan_resume`, `%gan_stop`
    (the run-control magics act on every run, GAN or VAE)."""

    trainer = GAN

    @line_cell_magic
    def gan_train(self, line: str, cell: str | None = None) -> None:
        self._train(line, cell, self.gan_train.__doc__)

    # ------------------------------------------------------------------ run control
    @line_magic
    def gan_runs(self, line: str = "") -> RunTable:
        """A table of the runs in this kernel: name, the variables holding it, status, step,
        steps/s, last losses, run directory."""
        if line.strip():
            raise UsageError(f"%gan_runs takes no arguments, got {line.strip()!r}")
        from .engine.run import RUNS

        return RunTable.from_runs(RUNS, self.shell.user_ns)

    @line_magic
    def gan_pause(self, line: str = "") -> None:
        """`%gan_pause NAME [NAME ...]` or `%gan_pause all`: pause after the current step."""
        for run in self._select(line, "pause", ("running",)):
            run.pause()
            print(f"paused {run.name!r} at step {run.step}")

    @line_magic
    def gan_resume(self, line: str = "") -> None:
        """`%gan_resume NAME [NAME ...]` or `%gan_resume all`: continue paused runs (a named
        stopped or loaded run starts training again)."""
        for run in self._select(line, "resume", ("paused",), named_also=("stopped",)):
            try:
                run.resume()
            except RuntimeError as exc:
                raise UsageError(_one_line(exc)) from None
            print(f"resumed {run.name!r} at step {run.step}")

    @line_magic
    def gan_stop(self, line: str = "") -> None:
        """`%gan_stop NAME [NAME ...]` or `%gan_stop all`: stop after the current step (a
        checkpoint is written); waits up to 10 s for the step in flight."""
        for run in self._select(line, "stop", ("running", "paused")):
            run.stop()
            status = run.wait(10)
            if status in ("running", "paused"):
                print(f"stopping {run.name!r} (finishing step {run.step + 1})")
            else:
                print(f"{status} {run.name!r} at step {run.step}")

    def _select(
        self,
        line: str,
        verb: str,
        statuses: tuple[str, ...],
        named_also: tuple[str, ...] = (),
    ) -> list[Run]:
        """The runs a control magic acts on: each NAME (a run name or a variable holding a
        run) or `all` (the runs whose status is in `statuses`). A named run in another state
        is reported and skipped; `all` skips those quietly."""
        from .engine.run import RUNS, Run

        names = line.split()
        if not names:
            known = ", ".join(RUNS) or "none yet"
            raise UsageError(f"%gan_{verb} needs a run name or 'all'; runs: {known}")
        if "all" in names:
            chosen = [r for r in RUNS.values() if r.status in statuses]
            if not chosen:
                print(f"no run to {verb}")
            return chosen
        ns = self.shell.user_ns
        selected: list[Run] = []
        for name in names:
            run = RUNS.get(name)
            bound = ns.get(name)
            if isinstance(bound, Run) and run is not None and bound is not run:
                raise UsageError(
                    f"{name!r} is ambiguous: a run is named {name!r} and the variable {name!r} "
                    f"holds another run, named {bound.name!r}; say %gan_{verb} {bound.name} "
                    f"for the variable's run, or rename one of them"
                )
            if run is None and isinstance(bound, Run):
                run = bound
            if run is None:
                choices = list(RUNS) + [k for k, v in ns.items() if isinstance(v, Run)]
                close = difflib.get_close_matches(name, choices, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                known = ", ".join(dict.fromkeys(choices)) or "none yet"
                raise UsageError(f"no run named {name!r}{hint}; runs: {known}, or 'all'")
            if run not in selected:
                selected.append(run)
        chosen = []
        for run in selected:
            if run.status in statuses or run.status in named_also:
                chosen.append(run)
            else:
                print(f"{run.name!r} is {run.status}; nothing to {verb}")
        return chosen


@magics_class
class VAETrainMagics(_TrainMagics, VAEConfigDefaults):  # type: ignore[misc, valid-type]
    """`%%vae_train` and `%vae_train`; `%gan_runs`, `%gan_pause`, ... control VAE runs too."""

    trainer = VAE

    @line_cell_magic
    def vae_train(self, line: str, cell: str | None = None) -> None:
        self._train(line, cell, self.vae_train.__doc__)


def _render_body_traceback(shell: Any, exc: BaseException) -> None:
    """Make IPython show the body's frames only, not the magic machinery above them."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    try:
        stb = shell.InteractiveTB.structured_traceback(type(exc), exc, tb, tb_offset=0)
        # IPython's documented hook for exceptions that render their own traceback.
        exc._render_traceback_ = lambda: stb  # type: ignore[attr-defined]
    except Exception:  # never hide the user's error behind ours
        pass


GANTrainMagics.gan_train.__doc__ = f"""Train a GAN in a background thread; the dashboard shows at once.

    %%gan_train [flags] [--as NAME]
    <optional body: may define generator, discriminator, data or train_loader>

    %gan_train [flags] [--as NAME]

The run is bound to NAME (default `{DEFAULT_AS}`). Flags (`none` for the optional ones):

{flag_help_text()}

Defaults: flag > %config GANTrainMagics.<field> > $GENAI_WIDGETS_<FIELD> > GANConfig default.
"""


VAETrainMagics.vae_train.__doc__ = f"""Train a VAE in a background thread; the dashboard shows at once.

    %%vae_train [flags] [--as NAME]
    <optional body: may define encoder, decoder, data or train_loader>

    %vae_train [flags] [--as NAME]

The run is bound to NAME (default `{DEFAULT_AS}`). Flags (`none` for the optional ones):

{flag_help_text(VAE)}

Defaults: flag > %config VAETrainMagics.<field> > $GENAI_WIDGETS_VAE_<FIELD> > VAEConfig default.
"""


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext genai_widgets`: register the magics (replacing any earlier instance)."""
    names = (GANTrainMagics.__name__, VAETrainMagics.__name__)
    ipython.configurables[:] = [c for c in ipython.configurables if type(c).__name__ not in names]
    ipython.register_magics(GANTrainMagics(ipython))
    ipython.register_magics(VAETrainMagics(ipython))


__all__ = [
    "GAN",
    "VAE",
    "Trainer",
    "GANTrainMagics",
    "VAETrainMagics",
    "GanTrainArgs",
    "TrainArgs",
    "parse_vae_train",
    "RunTable",
    "flag_specs",
    "flag_table_markdown",
    "load_ipython_extension",
    "parse_flags",
    "parse_gan_train",
]
