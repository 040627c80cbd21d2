"""Flags from a family's config dataclass: one `FlagSpec` per field (`latent_dim` ->
`--latent-dim`), its help from the comment after the field (walking the config class's MRO:
`RunConfig`, `LatentConfig`, `GANConfig` ...), its choices from a constant the comment names
(`one of LOSSES`, looked up in the module that defines the class); parsing a flag line into a
validated config, environment defaults, the help text and the flag tables of docs/flags.md."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import html
import inspect
import io
import keyword
import linecache
import math
import os
import re
import shlex
import sys
import textwrap
import tokenize
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from IPython.core.error import UsageError

from ..engine.config import DEVICES, build_config
from .trainers import DEFAULT_AS, GAN, Trainer

#: Fields without an environment default: `$GENAI_WIDGETS_DATA` is the data layer's download root.
NO_ENV = frozenset({"data"})
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
_CUDA_INDEX = re.compile(r"cuda:\d+")
_CONSTANT = re.compile(r"\b[A-Z][A-Z_]+\b")
_ONE_OF = re.compile(r"\bone of ([A-Z][A-Z_]+)\b")
_NUMBER_KINDS = ("int", "float")


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def _listing(names: tuple[str, ...]) -> str:
    """`a`, `a` and `b`, `a`, `b` and `c`."""
    quoted = [f"`{n}`" for n in names]
    return " and ".join(quoted) if len(quoted) < 3 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def flag_notes(trainer: Trainer = GAN) -> dict[str, str]:
    """What the flag form of an object-valued field takes, added to the field's comment."""
    own = f"; your own modules come from the cell body ({_listing(trainer.modules)})"
    names = sorted(trainer.config_class.data_names, key=lambda n: n != "data")
    body = " or ".join(f"`{n}`" for n in names)
    if trainer.config_class.family == "text":
        data = f"As a flag: `python-docs` or a path to a .txt file or folder; a text, a list of str or token ids come from the cell body ({body})"
    else:
        data = f"As a flag: a data set name or an image folder; objects come from the cell body ({body})"
    return {
        "data": data,
        "model": "As a flag: a registered name (`gw.list_models()`)"
        + (own if trainer.modules else ""),
    }


# ---------------------------------------------------------------------------- config comments
def _string_tuple(namespace: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = namespace.get(name)
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
        return value
    return None


def _class_source(cls: type) -> tuple[str, Mapping[str, Any]] | None:
    """The source of class `cls` and the namespace it was defined in (where the constants its
    comments name live). A class defined in a notebook cell has no file `inspect` finds
    (before Python 3.13); its methods know the cell, which IPython keeps in `linecache`."""
    module = sys.modules.get(cls.__module__)
    try:
        return textwrap.dedent(inspect.getsource(cls)), vars(module) if module else {}
    except (OSError, TypeError):
        pass
    for value in vars(cls).values():
        function = getattr(value, "__func__", value)
        code = getattr(function, "__code__", None)
        if code is None or not isinstance(getattr(function, "__globals__", None), dict):
            continue
        cell = "".join(linecache.getlines(code.co_filename))
        try:
            tree = ast.parse(cell)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ClassDef)
                and node.name == cls.__name__
                and node.lineno <= code.co_firstlineno <= (node.end_lineno or 0)
            ):
                text = ast.get_source_segment(cell, node, padded=True) or ""
                return textwrap.dedent(text), function.__globals__
    return None


@lru_cache(maxsize=64)
def field_comments(trainer: Trainer = GAN) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Field -> (help, choices): the comment after each field of the config class and of the
    classes it extends (a field redeclared by a subclass takes that class's comment), with each
    constant it names (`one of LOSSES`) written out from the module that defines the class;
    choices are the constant after "one of", or ()."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for cls in reversed(trainer.config_class.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        found = _class_source(cls)
        if found is None:  # no source shipped: flags still work, without help
            continue
        source, namespace = found

        def expand(match: re.Match[str], namespace: Mapping[str, Any] = namespace) -> str:
            names = _string_tuple(namespace, match.group())
            return ", ".join(names) if names else match.group()

        comments = {
            tok.start[0]: tok.string.lstrip("#").strip()
            for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT
        }
        for node in ast.parse(source).body[0].body:  # the class body only
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                text = comments.get(node.end_lineno or node.lineno, "")
                if text:
                    one_of = _ONE_OF.search(text)
                    choices = (_string_tuple(namespace, one_of.group(1)) if one_of else None) or ()
                    out[node.target.id] = (_CONSTANT.sub(expand, text), choices)
    return out


def field_help(trainer: Trainer = GAN) -> dict[str, str]:
    """The comment after each config field: the flags' help text."""
    return {name: text for name, (text, _) in field_comments(trainer).items()}


# ---------------------------------------------------------------------------- flag specs
@dataclass(frozen=True)
class FlagSpec:
    """One config field as a flag: how its text is read and described."""

    field: str
    # "int" | "float" | "bool" | "device" | "model" | "data" | "text", or the field's own name
    # for a field whose comment names its choices ("loss": one of LOSSES)
    kind: str
    optional: bool  # accepts `none`
    default: Any
    help: str = ""
    env_prefix: str = GAN.env_prefix
    values: tuple[str, ...] = ()  # the choices of a choice field

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")

    @property
    def env_var(self) -> str | None:
        return None if self.field in NO_ENV else self.env_prefix + self.field.upper()

    def choices(self) -> tuple[str, ...]:
        if self.values:
            return self.values
        if self.kind == "device":
            return DEVICES
        if self.kind == "model":
            from ..models import list_models

            return tuple(list_models())
        return ()

    def type_name(self) -> str:
        """Short type for the flag table."""
        if self.values:
            base = " \\| ".join(self.values)
        else:
            base = {
                "int": "int",
                "float": "float",
                "bool": "bool",
                "device": " \\| ".join((*DEVICES, "cuda:N")),
                "model": "model name",
                "data": "name or path",
                "text": "text",
            }[self.kind]
        return f"{base} or none" if self.optional else base

    def accepted(self) -> str:
        """What the flag accepts, as a phrase for error messages."""
        if self.values or self.kind in ("device", "model"):
            names = list(self.choices()) + (["cuda:N"] if self.kind == "device" else [])
            text = "one of " + ", ".join(names)
        else:
            text = {
                "int": "an integer",
                "float": "a number",
                "bool": "true or false",
                "data": "a data set name or a path",
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
            return value  # range checks are the config's `validate`
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


def _kind_of(name: str, annotation: Any, choices: tuple[str, ...]) -> tuple[str, bool]:
    if name in ("data", "model", "device"):  # RunConfig's: objects from the body, device names
        return name, False
    args = typing.get_args(annotation)
    optional = type(None) in args
    if choices:  # `one of LOSSES`: one of a fixed set; the kind is the field's name
        return name, optional
    base = next((a for a in args if a is not type(None)), annotation) if optional else annotation
    kind = {int: "int", float: "float", bool: "bool", str: "text"}.get(base, "text")
    return kind, optional


@lru_cache(maxsize=64)
def flag_specs(trainer: Trainer = GAN) -> dict[str, FlagSpec]:
    """Field name -> FlagSpec, one per field of the trainer's config (`GANConfig` by default),
    in the dataclass's order."""
    cls = trainer.config_class
    hints = typing.get_type_hints(cls)
    comments = field_comments(trainer)
    notes = flag_notes(trainer)
    specs = {}
    for f in dataclasses.fields(cls):
        text, choices = comments.get(f.name, ("", ()))
        kind, optional = _kind_of(f.name, hints.get(f.name, Any), choices)
        if f.name in notes:
            text = f"{text}. {notes[f.name]}" if text else notes[f.name]
        specs[f.name] = FlagSpec(
            f.name, kind, optional, f.default, text, trainer.env_prefix, choices
        )
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
    """A parsed `%<family>_train` line: the validated config and the variable to bind."""

    config: Any  # the family's config (GANConfig, VAEConfig ...)
    as_name: str
    given: dict[str, Any]  # the fields set by flags on this line
    show_help: bool = False


#: The same for every family.
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
    """`validate`'s message starts with the field's name; name the flag / setting instead."""
    message = one_line(exc)
    for name in sorted(sources, key=len, reverse=True):
        if message.startswith(name + " "):
            return UsageError(sources[name] + message[len(name) :])
    return UsageError(message)


def parse_gan_train(
    line: str, defaults: Mapping[str, tuple[Any, str]] | None = None, trainer: Trainer = GAN
) -> GanTrainArgs:
    """Parse a `%<family>_train` line (`%gan_train` by default) into a validated config.
    `defaults` maps field -> (value, where it came from) and sits under the flags (flag >
    `%config` > environment > the dataclass's default); a text value is read like a flag's (so
    `none` is None), any other value is checked. The only outcomes are a `GanTrainArgs` holding
    a valid config, or a `UsageError`."""
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


#: Any family's line: `parse_train(line, defaults, trainer)`.
parse_train = parse_gan_train


def parse_vae_train(
    line: str, defaults: Mapping[str, tuple[Any, str]] | None = None
) -> GanTrainArgs:
    """Parse a `%vae_train` line into a validated `VAEConfig` (see `parse_gan_train`)."""
    from .trainers import VAE

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
    """The flag table of docs/flags.md: one row per config field, generated so it cannot drift."""
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


__all__ = [
    "CLI_NOTES",
    "FlagSpec",
    "GanTrainArgs",
    "NO_ENV",
    "ParsedFlags",
    "SYNONYMS",
    "TrainArgs",
    "env_defaults",
    "field_comments",
    "field_help",
    "flag_help_text",
    "flag_notes",
    "flag_specs",
    "flag_table_markdown",
    "parse_flags",
    "parse_gan_train",
    "parse_train",
    "parse_vae_train",
]
