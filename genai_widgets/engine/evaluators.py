"""Live measures of a run computed off the training thread: mode coverage now, FID / KID later.

An `Evaluator` is a name, a function of a `ModelCopies` (copies of the generator and the
discriminator taken between two steps) returning a dict of floats, and a schedule. Each run
holds one `EvaluationRunner`: one daemon thread per run that wakes a few times a second, and
when an evaluator is due takes fresh copies under the run's step lock (so the trainer waits for
a copy, never for an evaluation), calls it and records the result.

Results have their own step column: an evaluation at step 500 lands after the trainer has moved
on, so it cannot be a cell of the per-step metric table. `run.evaluations` is that compact table
("step", "time", one column per measure); `run.history` shows the same columns NaN-filled,
aligned with its own "step" column (`merge_into_history`). Both are stored in the run's SQLite
database (table `evaluations`), so a reloaded run has them."""

from __future__ import annotations

import copy
import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .history import History
from .threads import foreground_torch

if TYPE_CHECKING:
    from .run import Run

POLL_S = 0.1  # how often the evaluation thread looks at the run's step


class ModelCopies:
    """Copies of a run's modules (`family.evaluation_modules()`: for a GAN the generator that
    sampling reads and the discriminator as the loss sees it, logits out), in eval mode, with
    gradients off for their parameters; each role is an attribute (`copies.generator`).
    `refresh()` copies the live weights under the run's step lock, only when the run has moved
    on since the last copy.

    Any thread may own one; the copies are that thread's to use while the trainer goes on.
    With `live=True` the modules are the ones being trained (for a GAN: the generator the
    discriminator is playing against)."""

    def __init__(self, run: Run, *, live: bool = False):
        self.run = run
        self.live = live
        self.modules: dict[str, nn.Module] = {}
        self.step = -1
        self.time = 0.0
        family = run.family
        self.decoder_name = getattr(family, "decoder_name", "") or None
        self.latent_dim = int(getattr(family, "latent_dim", 0) or 0)
        self.latent_shape = tuple(getattr(family, "latent_shape", ()) or ())
        self.device = run.device
        self.loss = getattr(family, "loss", None)

    def __getattr__(self, name: str) -> nn.Module | None:
        # A role not copied yet (before the first refresh()) reads as None.
        if name.startswith("_") or name == "modules":
            raise AttributeError(name)
        modules = self.__dict__.get("modules", {})
        if name in modules:
            return modules[name]
        family = self.__dict__["run"].family
        if name in getattr(family, "module_names", ()):
            return None
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def refresh(self) -> int:
        """Copy the current weights (if the run has stepped since); returns their step."""
        run = self.run
        with run._step_lock:
            step = run.step
            if self.modules and step == self.step:
                return step
            live = run.family.evaluation_modules(live=self.live)
            for role, module in live.items():
                copy_ = self.modules.get(role)
                if copy_ is None:
                    self.modules[role] = _frozen_copy(module)
                else:
                    copy_.load_state_dict(module.state_dict())
            self.step = step
            self.time = run._elapsed()
        return step

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The decoding module (a GAN's generator) on z (N, latent_dim, any device), on the
        run's device."""
        decoder = self.modules.get(self.decoder_name or "")
        assert decoder is not None, "refresh() first (and a family with a decoder)"
        with torch.no_grad():
            return decoder(z.to(self.device).view(z.shape[0], *self.latent_shape))

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits (critic values for wgan-gp / hinge), one per sample."""
        discriminator = self.modules.get("discriminator")
        assert discriminator is not None, "refresh() first (and a family with a discriminator)"
        with torch.no_grad():
            return discriminator(x.to(self.device))


def _frozen_copy(module: nn.Module) -> nn.Module:
    clone = copy.deepcopy(module)
    clone.eval()
    for p in clone.parameters():
        p.requires_grad_(False)
        p.grad = None
    return clone


@dataclass
class Evaluator:
    """A live measure of a run, computed off the trainer.

    `fn(models)` gets fresh `ModelCopies` and returns {column: float}. It runs when the run has
    stepped since its last evaluation and either `every_steps` steps or `every_seconds` seconds
    have passed (whichever comes first; None disables that rule), but never more often than
    every `min_interval_s` seconds; and once more at the run's final step."""

    name: str
    fn: Callable[[ModelCopies], Mapping[str, float]]
    every_steps: int | None = 100
    every_seconds: float | None = 2.0
    min_interval_s: float = 0.25
    columns: tuple[str, ...] = ()  # known up front: the columns exist before the first result

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"an evaluator needs a non-empty name, got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"evaluator {self.name!r}: fn must be callable")
        if self.every_steps is None and self.every_seconds is None:
            raise ValueError(f"evaluator {self.name!r}: give every_steps or every_seconds")
        if self.every_steps is not None and (
            isinstance(self.every_steps, bool)
            or not isinstance(self.every_steps, int)
            or self.every_steps < 1
        ):
            raise ValueError(f"every_steps must be an integer >= 1, got {self.every_steps!r}")
        for key in ("every_seconds", "min_interval_s"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, (int, float)) and value >= 0):
                raise ValueError(f"{key} must be a number >= 0, got {value!r}")
        self.columns = tuple(self.columns)


@dataclass
class _Schedule:
    evaluator: Evaluator
    last_step: int = -1
    last_time: float = -math.inf
    last_error: str | None = None

    def due(self, step: int, now: float, final: bool) -> bool:
        ev = self.evaluator
        if step == self.last_step or step <= 0:
            return False
        if final:
            return True
        if now - self.last_time < ev.min_interval_s:
            return False
        if self.last_step < 0:
            return True
        by_steps = ev.every_steps is not None and step - self.last_step >= ev.every_steps
        by_time = ev.every_seconds is not None and now - self.last_time >= ev.every_seconds
        return by_steps or by_time


class EvaluationRunner:
    """The evaluators of one run, their thread and their results (a bounded `History` with its
    own "step" and "time" columns)."""

    def __init__(self, run: Run):
        self._run = run
        self._lock = threading.Lock()
        self._schedules: list[_Schedule] = []
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self.history = History(["step", "time"])
        self.errors: dict[str, str] = {}  # evaluator name -> last traceback, for display
        self.thread_idents: set[int] = set()  # threads evaluations ran on (tests check them)

    # -- registration ----------------------------------------------------------------------
    def add(self, evaluator: Evaluator) -> None:
        if not isinstance(evaluator, Evaluator):
            raise TypeError(f"expected an Evaluator, got {type(evaluator).__name__}")
        reserved = set(self._run._history.columns)
        clash = reserved & set(evaluator.columns)
        if clash:
            raise ValueError(
                f"evaluator {evaluator.name!r} would overwrite the per-step metric(s) "
                f"{', '.join(sorted(clash))}; name its columns differently"
            )
        with self._lock:
            if any(s.evaluator.name == evaluator.name for s in self._schedules):
                raise ValueError(f"the run already has an evaluator named {evaluator.name!r}")
            self._schedules.append(_Schedule(evaluator))
        for column in evaluator.columns:
            self.history.add_column(column)
        if self._run_alive():
            self.start()

    @property
    def evaluators(self) -> list[Evaluator]:
        with self._lock:
            return [s.evaluator for s in self._schedules]

    @property
    def columns(self) -> list[str]:
        return [c for c in self.history.columns if c not in ("step", "time")]

    # -- thread ----------------------------------------------------------------------------
    def _run_alive(self) -> bool:
        thread = self._run._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op without evaluators or when it runs already)."""
        with self._lock:
            if not self._schedules or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._loop, name=f"genai-widgets-eval:{self._run.name}", daemon=True
            )
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        copies = ModelCopies(self._run)
        # The trainer may still be starting: wait for it before deciding it has ended.
        deadline = time.monotonic() + 5.0
        while not self._run_alive() and time.monotonic() < deadline:
            if self._run._status not in ("running", "paused"):
                break
            time.sleep(0.01)
        while True:
            final = not self._run_alive()
            self.evaluate_due(copies, final=final)
            if final:
                self._run._store.flush()  # a reload right after the run ends has the last row
                return
            self._wake.wait(POLL_S)
            self._wake.clear()

    def evaluate_due(self, copies: ModelCopies, *, final: bool = False) -> int:
        """Run every evaluator that is due now (on the calling thread); returns how many ran."""
        now = time.monotonic()
        step = self._run.step
        with self._lock:
            due = [s for s in self._schedules if s.due(step, now, final)]
        if not due:
            return 0
        with foreground_torch():
            copies.refresh()
            values: dict[str, float] = {}
            for schedule in due:
                values.update(self._evaluate(schedule, copies))
        if values:
            self.record(copies.step, copies.time, values)
        return len(due)

    def _evaluate(self, schedule: _Schedule, copies: ModelCopies) -> dict[str, float]:
        ev = schedule.evaluator
        schedule.last_step, schedule.last_time = copies.step, time.monotonic()
        self.thread_idents.add(threading.get_ident())
        try:
            result = ev.fn(copies)
            out = {str(k): float(v) for k, v in dict(result).items()}
        except Exception as error:  # a broken measure must not take the run down
            text = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.errors[ev.name] = text
            if schedule.last_error != text:
                schedule.last_error = text
                self._run._emit("EvaluationFailed", {"evaluator": ev.name, "error": text})
            return {}
        schedule.last_error = None
        self.errors.pop(ev.name, None)
        return out

    # -- results ---------------------------------------------------------------------------
    def record(self, step: int, elapsed: float, values: Mapping[str, float]) -> None:
        """One row of results at `step` (also written to the run store)."""
        reserved = set(self._run._history.columns)
        values = {k: v for k, v in values.items() if k not in reserved}
        for name in values:
            self.history.add_column(name)
        row = {"step": float(step), "time": float(elapsed), **values}
        self.history.append(row)
        columns = list(self.history.columns)
        self._run._store.add_evaluations(
            columns, np.array([[row.get(c, np.nan) for c in columns]], dtype=np.float64)
        )
        with self._run._cond:
            self._run._version += 1  # displays redraw for it

    def restore(self, table: Mapping[str, np.ndarray]) -> None:
        """Rows read back from the store (a loaded run)."""
        if not len(table.get("step", ())):
            return
        for name in table:
            self.history.add_column(name)
        columns = self.history.columns
        n = len(table["step"])
        rows = np.column_stack([np.asarray(table.get(c, np.full(n, np.nan))) for c in columns])
        self.history.extend(rows)


def merge_into_history(
    history: dict[str, np.ndarray], evaluations: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The per-step table with the evaluation columns added, NaN except at the row whose step
    is nearest to each evaluation's step (rows of older, folded blocks hold mean steps)."""
    columns = [c for c in evaluations if c not in ("step", "time") and c not in history]
    if not columns:
        return history
    steps = np.asarray(history.get("step", np.zeros(0)), dtype=np.float64)
    out = dict(history)
    for c in columns:
        out[c] = np.full(len(steps), np.nan)
    eval_steps = np.asarray(evaluations.get("step", np.zeros(0)), dtype=np.float64)
    if len(steps) == 0 or len(eval_steps) == 0:
        return out
    right = np.clip(np.searchsorted(steps, eval_steps), 0, len(steps) - 1)
    left = np.clip(right - 1, 0, len(steps) - 1)
    nearest = np.where(
        np.abs(steps[left] - eval_steps) <= np.abs(steps[right] - eval_steps), left, right
    )
    for c in columns:
        values = np.asarray(evaluations[c], dtype=np.float64)
        ok = np.isfinite(values)
        out[c][nearest[ok]] = values[ok]  # later evaluations win a shared row
    return out


__all__ = ["Evaluator", "EvaluationRunner", "ModelCopies", "merge_into_history"]
