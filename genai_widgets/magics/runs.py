"""The run-control magics, shared by every family: `%runs` (a table of the runs in this
kernel), `%pause`, `%resume`, `%stop` (by run name, by a variable holding a run, or `all`).
`%gan_runs`, `%gan_pause`, `%gan_resume` and `%gan_stop` are the same magics under the names
they had before there were other families."""

from __future__ import annotations

import difflib
import html
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics

from .flags import one_line

if typing.TYPE_CHECKING:
    from ..engine.run import Run

#: The control magics, and the prefixes of their aliases ("": `%runs`; "gan_": `%gan_runs`).
VERBS = ("runs", "pause", "resume", "stop")
PREFIXES = ("", "gan_")


@dataclass(frozen=True)
class RunTable:
    """What `%runs` returns: one row per run this process knows (HTML in a notebook)."""

    rows: list[dict[str, str]]
    #: The training magics to suggest when there is no run yet ("gan_train", ...).
    train_magics: tuple[str, ...] = ()

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
        cls,
        runs: Mapping[str, Run],
        namespace: Mapping[str, Any] | None = None,
        train_magics: tuple[str, ...] = (),
    ) -> RunTable:
        """One row per run; `namespace` (the user's) fills the variable column with the
        names that hold each run now (`--as r1`, or `r1 = gw.train_gan(...)`), or `-`."""
        from ..engine.run import Run

        bound: dict[int, list[str]] = {}
        for var, value in list((namespace or {}).items()):
            # IPython's output history (`_`, `_3`, `Out`) holds runs too; those are not names.
            if isinstance(value, Run) and not var.startswith("_"):
                bound.setdefault(id(value), []).append(var)
        rows = []
        for name, run in list(runs.items()):
            history = run.history
            losses = ", ".join(
                f"{col} {history[col][-1]:.4g}" for col in _headline(run) if len(history[col])
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
        return cls(rows, train_magics)

    def __repr__(self) -> str:
        if not self.rows:
            start = " or ".join(f"%{m}" for m in self.train_magics)
            return "no runs yet" + (f"; start one with {start}" if start else "")
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


def _headline(run: Run) -> list[str]:
    """The columns the table shows: the losses where the metrics have some (a GAN's), else
    the family's first three metrics (a VAE's elbo, recon, kl)."""
    history = run.history
    losses = [c for c in history if c.startswith("loss")]
    if losses:
        return losses
    metrics = getattr(run.family, "metric_names", ())
    return [c for c in metrics if c in history][:3]


class RunMagics(Magics):
    """`%runs`, `%pause`, `%resume`, `%stop` and their `%gan_` aliases: every family's runs.
    `train_magics` (set by the extension) lists the training magics for the empty table."""

    train_magics: tuple[str, ...] = ()

    def _runs(self, line: str, magic: str) -> RunTable:
        """A table of the runs in this kernel: name, the variables holding it, status, step,
        steps/s, last losses, run directory."""
        if line.strip():
            raise UsageError(f"%{magic} takes no arguments, got {line.strip()!r}")
        from ..engine.run import RUNS

        return RunTable.from_runs(RUNS, self.shell.user_ns, self.train_magics)

    def _pause(self, line: str, magic: str) -> None:
        """`%pause NAME [NAME ...]` or `%pause all`: pause after the current step."""
        for run in self._select(line, magic, "pause", ("running",)):
            run.pause()
            print(f"paused {run.name!r} at step {run.step}")

    def _resume(self, line: str, magic: str) -> None:
        """`%resume NAME [NAME ...]` or `%resume all`: continue paused runs (a named stopped
        or loaded run starts training again)."""
        for run in self._select(line, magic, "resume", ("paused",), named_also=("stopped",)):
            try:
                run.resume()
            except RuntimeError as exc:
                raise UsageError(one_line(exc)) from None
            print(f"resumed {run.name!r} at step {run.step}")

    def _stop(self, line: str, magic: str) -> None:
        """`%stop NAME [NAME ...]` or `%stop all`: stop after the current step (a checkpoint
        is written); waits up to 10 s for the step in flight."""
        for run in self._select(line, magic, "stop", ("running", "paused")):
            run.stop()
            status = run.wait(10)
            if status in ("running", "paused"):
                print(f"stopping {run.name!r} (finishing step {run.step + 1})")
            else:
                print(f"{status} {run.name!r} at step {run.step}")

    def _select(
        self,
        line: str,
        magic: str,
        verb: str,
        statuses: tuple[str, ...],
        named_also: tuple[str, ...] = (),
    ) -> list[Run]:
        """The runs a control magic acts on: each NAME (a run name or a variable holding a
        run) or `all` (the runs whose status is in `statuses`). A named run in another state
        is reported and skipped; `all` skips those quietly."""
        from ..engine.run import RUNS, Run

        names = line.split()
        if not names:
            known = ", ".join(RUNS) or "none yet"
            raise UsageError(f"%{magic} needs a run name or 'all'; runs: {known}")
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
                    f"holds another run, named {bound.name!r}; say %{magic} {bound.name} "
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


def _control_magic(verb: str, magic: str) -> Callable[..., Any]:
    """The method behind `%<magic>`: `RunMagics._<verb>`, told the name it was called by."""

    def method(self: RunMagics, line: str = "") -> Any:
        return getattr(self, f"_{verb}")(line, magic)

    method.__name__, method.__qualname__ = magic, f"RunMagics.{magic}"
    doc = getattr(RunMagics, f"_{verb}").__doc__ or ""
    method.__doc__ = doc.replace(f"%{verb} ", f"%{magic} ")
    return method


# What `@magics_class` would record: each magic name -> its method's name.
RunMagics.magics = {"line": {}, "cell": {}}
for _prefix in PREFIXES:
    for _verb in VERBS:
        _magic = _prefix + _verb
        setattr(RunMagics, _magic, _control_magic(_verb, _magic))
        RunMagics.magics["line"][_magic] = _magic
RunMagics.registered = True

__all__ = ["PREFIXES", "RunMagics", "RunTable", "VERBS"]
