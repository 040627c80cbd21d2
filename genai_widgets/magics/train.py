"""The training magics, one machinery for every family: `make_train_magics(trainer)` makes
the `Magics` class of `%%<family>_train` / `%<family>_train` (`GANTrainMagics`,
`VAETrainMagics`, `GMMTrainMagics` ...), whose traits are the config's fields (the
`%config <FAMILY>TrainMagics.<field>` defaults)."""

from __future__ import annotations

import types
import typing
from typing import Any

import traitlets
from IPython.core.error import UsageError
from IPython.core.magic import Magics

from .flags import (
    env_defaults,
    flag_help_text,
    flag_specs,
    one_line,
    parse_flags,
    parse_gan_train,
)
from .trainers import DEFAULT_AS, Trainer

if typing.TYPE_CHECKING:
    from ..engine.run import Run


def _package() -> Any:
    """`genai_widgets.magics`, read at call time: its `build_run` and `display` are the ones
    used, so that a test (or a user) can replace them there."""
    from .. import magics

    return magics


def _config_traits(trainer: Trainer) -> dict[str, traitlets.TraitType]:
    out: dict[str, traitlets.TraitType] = {}
    for spec in flag_specs(trainer).values():
        if hasattr(TrainMagics, spec.field):  # `config`, `shell` ...: flags only
            continue
        trait_type = {"int": traitlets.Int, "float": traitlets.Float, "bool": traitlets.Bool}.get(
            spec.kind, traitlets.Unicode
        )
        env = f" Default from ${spec.env_var} when set." if spec.env_var else ""
        out[spec.field] = trait_type(
            spec.default, allow_none=spec.optional, help=f"{spec.help} ({spec.flag}).{env}"
        ).tag(config=True)
    return out


def _show(run: Run) -> None:
    display = _package().display
    try:
        view = run.dashboard()
    except ImportError:  # widgets unavailable (no anywidget): the text summary still shows
        display({"text/plain": repr(run)}, raw=True)
        return
    display(view)


class TrainMagics(Magics):
    """What every `%<family>_train` shares: defaults, the body, starting the run. A family's
    class (`make_train_magics`) adds the config's fields as traits and the magic itself."""

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
        `%config <FAMILY>TrainMagics.<field>` over `$GENAI_WIDGETS_<FIELD>`."""
        out = env_defaults(trainer=self.trainer)
        section_name = type(self).__name__
        section = self.config.get(section_name, {})
        for name in flag_specs(self.trainer):
            if not self.has_trait(name):  # a field named like a Magics attribute: no %config
                continue
            if name in section or name in self._assigned:
                out[name] = (getattr(self, name), f"{section_name}.{name}")
        return out

    # ------------------------------------------------------------------ %<family>_train
    def _train(self, line: str, cell: str | None) -> None:
        if parse_flags(line, self.trainer).show_help:  # flags checked, the config not built
            print(getattr(self, self.trainer.magic).__doc__)
            return
        args = parse_gan_train(line, self.magic_defaults(), self.trainer)
        from ..data import DatasetUnavailableError
        from ..engine.run import Run

        config = args.config
        if cell is not None and cell.strip():
            config = self._apply_body(config, self._run_body(cell))
        try:
            run = _package().build_run(config)
        except (
            ValueError,
            TypeError,
            FileExistsError,
            FileNotFoundError,
            DatasetUnavailableError,
        ) as exc:
            raise UsageError(one_line(exc)) from None
        ns = self.shell.user_ns
        previous = ns.get(args.as_name)
        if isinstance(previous, Run) and previous.status in ("running", "paused"):
            # Re-running the cell replaces its run: the old thread must not keep the CPU/GPU.
            previous.stop()
            print(f"stopped the earlier run {previous.name!r} that `{args.as_name}` pointed to")
        try:
            run.start()
        except RuntimeError as exc:
            raise UsageError(one_line(exc)) from None
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
        # (line 1 is the %%<family>_train line).
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
        """The body's objects into the config: `train_loader` or `data` -> `data`; the
        family's modules (all of its `module_names`, or none) -> `model`: the module itself
        for a one-module family, else a tuple in `module_names` order."""
        changes: dict[str, Any] = {}
        # The first data name the body bound (a GAN's `train_loader` carries the batching the
        # user chose, so it wins over `data`; a text run takes `data` or `text`).
        for name in cls.trainer.config_class.data_names:
            if name in found:
                changes["data"] = found[name]
                break
        roles = cls.trainer.modules
        given = [role for role in roles if role in found]
        if given:
            missing = [role for role in roles if role not in found]
            if missing:
                raise UsageError(
                    f"the cell body defines {', '.join(given)} but not {', '.join(missing)}; "
                    f"define {'both' if len(roles) == 2 else 'all of them'} as nn.Module "
                    f"instances (or neither, to use --model)"
                )
            from torch import nn

            for role in roles:
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
            modules = tuple(found[role] for role in roles)
            changes["model"] = modules[0] if len(modules) == 1 else modules
        return config.replace(**changes) if changes else config


def _render_body_traceback(shell: Any, exc: BaseException) -> None:
    """Make IPython show the body's frames only, not the magic machinery above them."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    try:
        stb = shell.InteractiveTB.structured_traceback(type(exc), exc, tb, tb_offset=0)
        # IPython's documented hook for exceptions that render their own traceback.
        exc._render_traceback_ = lambda: stb  # type: ignore[attr-defined]
    except Exception:  # never hide the user's error behind ours
        pass


def train_doc(trainer: Trainer) -> str:
    """The docstring of `%<family>_train` (also what `--help` prints)."""
    magic, settings = trainer.magic, trainer.settings_class
    body = ", ".join((*trainer.modules, "data"))
    return f"""Train {trainer.title} in a background thread; the dashboard shows at once.

    %%{magic} [flags] [--as NAME]
    <optional body: may define {body} or train_loader>

    %{magic} [flags] [--as NAME]

The run is bound to NAME (default `{DEFAULT_AS}`). Flags (`none` for the optional ones):

{flag_help_text(trainer)}

Defaults: flag > %config {settings}.<field> > ${trainer.env_prefix}<FIELD> > \
{trainer.config_class.__name__} default.
"""


def make_train_magics(trainer: Trainer) -> type[TrainMagics]:
    """The `Magics` class of one family: named `trainer.settings_class` (what `%config`
    names), a trait per config field, and the line-and-cell magic `trainer.magic`."""

    def train(self: TrainMagics, line: str, cell: str | None = None) -> None:
        self._train(line, cell)

    name = trainer.settings_class
    train.__name__ = trainer.magic
    train.__qualname__ = f"{name}.{trainer.magic}"
    train.__doc__ = train_doc(trainer)
    namespace = {
        **_config_traits(trainer),
        trainer.magic: train,
        "trainer": trainer,
        "__doc__": f"`%%{trainer.magic}` and `%{trainer.magic}`: one trait per "
        f"{trainer.config_class.__name__} field (the magic's defaults).",
        "__module__": "genai_widgets.magics",
        "__qualname__": name,
        # What `@magics_class` records: the magic's name -> the method's.
        "magics": {"line": {trainer.magic: trainer.magic}, "cell": {trainer.magic: trainer.magic}},
        "registered": True,
    }
    return types.new_class(name, (TrainMagics,), exec_body=lambda ns: ns.update(namespace))


__all__ = ["TrainMagics", "make_train_magics", "train_doc"]
