"""The `Run`: one generative model trained in a daemon thread, steerable from any other thread.

The trainer thread owns the models and optimizers. Other threads (the notebook, widget
flushers, comm callbacks) talk to it through a condition variable (pause / resume / stop /
set) and read what it publishes: the bounded `History`, snapshots and events. `sample()` and
the family's capabilities (`interpolate()`, `encode()` ...) run on copies of its modules taken
between two steps.

What differs between model families (the modules, the step, the metric columns, the
checkpointed state, the kind of sample, the capabilities) lives in a `Family` (`family.py`;
the package's own are in `genai_widgets.families`); everything here is the same for all of
them, and nothing here knows a family, a widget or a magic by name."""

from __future__ import annotations

import collections
import contextlib
import copy
import datetime
import functools
import json
import math
import os
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._lazy import load_object
from . import images as _images
from .checkpoint import save_checkpoint
from .config import RunConfig, settable_fields, settings_of, validate_config
from .evaluators import EvaluationRunner, Evaluator, merge_into_history
from .family import Family, NonFiniteLossError, NoWeights, missing_capability
from .history import History
from .metrics import MetricSink
from .output import bind_output_parent, capture_output_parent
from .registry import families
from .store import RunReader, RunStore
from .threads import (
    prepare_training_thread,
    release_openmp_pool,
    stop_at_exit,
    training_thread_idle,
)

STATUSES = ("running", "paused", "finished", "stopped", "failed")
MAX_SNAPSHOTS = 240  # in memory and on disk; older ones are thinned evenly
# sample_every=None ("auto"): a snapshot every AUTO_SAMPLE_STEPS steps, but at least every
# AUTO_SAMPLE_MAX_SECONDS of training when steps are slow (3 steps/s on a CPU would leave the
# grid still for 17 s) and at most one per AUTO_SAMPLE_MIN_SECONDS when they are fast (100
# steps/s on a GPU). Module constants, so a test can move them.
AUTO_SAMPLE_STEPS = 50
AUTO_SAMPLE_MAX_SECONDS = 5.0
AUTO_SAMPLE_MIN_SECONDS = 0.5
MAX_EVENTS = 2000
HEALTH_EVERY = 50  # steps between the family's health checks (posterior collapse, ...)
HEALTH_WINDOW = 4096  # recent exact history rows the checks see
MAX_WARNINGS = 100
#: Events of a run's life; the last one in a reopened run's store says how it ended.
LIFECYCLE_EVENTS = ("RunStarted", "RunFinished", "RunStopped", "RunFailed")

#: Runs started or loaded in this process, by name (what `%gan_runs` lists).
RUNS: dict[str, Run] = {}


@dataclass(frozen=True)
class Event:
    """Something that happened to a run; `kind` is named in the past tense."""

    kind: str
    step: int
    time: float
    data: dict[str, Any] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    """`"auto"` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={name!r} was asked for but CUDA is not available; use 'cpu' or 'auto'"
        )
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(
            f"device={name!r} was asked for but MPS is not available; use 'cpu' or 'auto'"
        )
    return device


def _default_name(prefix: str = "gan") -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{prefix}-{stamp}-{secrets.token_hex(2)}"


class Run:
    """A training run of any family (GAN, VAE, or one registered from outside). Build with
    `gw.train_gan(...)`, `gw.train_vae(...)`, `build_run(config)` or `gw.load_run(path)`.

    The family's modules are attributes: `run.generator` and `run.discriminator` for a GAN,
    `run.encoder` and `run.decoder` for a VAE; `run.family` is the `Family` object. Methods
    of the family's capabilities are forwarded: `run.interpolate(...)` calls
    `run.family.interpolate(run, ...)`; a family without one raises `CapabilityError`."""

    # ------------------------------------------------------------------ construction
    def __init__(
        self,
        config: RunConfig,
        *,
        data_source: Any,
        device: torch.device,
        run_dir: Path,
        family: Family,
        held_out: Any = None,
        checkpoint: dict[str, Any] | None = None,
        reopen: bool = False,
    ):
        """`family` is built by `build_run` (`Family.build`). `held_out`: data kept out of
        training (a DataSource), for held-out metrics and the VAE's latent views. `reopen`: the run
        directory exists (`gw.load_run`): read it back, at `checkpoint` if one is given, else
        as a view of its store without weights (`family` is then a `NoWeights`)."""
        self.config = config
        self.name: str = config.name or run_dir.name
        self.id: str = secrets.token_hex(4)
        self.run_dir = run_dir
        self.device = device
        self.data_source = data_source
        self.held_out = held_out

        self._cond = threading.Condition(threading.RLock())
        self._step_lock = threading.Lock()  # held by the trainer for each step
        self._copy_lock = threading.Lock()  # guards the generator copy used by sample()
        self._thread: threading.Thread | None = None
        self._status = "stopped"
        self._paused = False
        self._stop_requested = False
        self._pending: dict[str, Any] = {}
        self._single_steps = 0  # steps asked for by step_once() and not yet done
        self._single_done = 0  # steps done for step_once() so far
        self._settings = settings_of(config)
        self._output_parent: tuple[Any, dict] | None = None
        self.message: str | None = None
        self.error: BaseException | None = None
        self.traceback_text: str | None = None
        self._version = 0
        self._rate_window: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)

        if not isinstance(family, Family):
            raise TypeError(f"Run needs a Family object, got {type(family).__name__}")
        self.family = family
        if not isinstance(family, NoWeights):  # its modules are never built
            for role, module in family.modules().items():
                setattr(self, role, module)  # run.generator / run.encoder ...
        self.loss = getattr(family, "loss", None)  # a GAN's objective
        self._parts = family.parts
        self.warnings: list[dict[str, Any]] = []  # health warnings (posterior collapse, ...)
        self._health_active: set[str] = set()
        self._batches = (
            data_source.batches(config.batch_size, seed=config.seed + 3)
            if data_source is not None
            else None
        )
        self._metric_names = family.metric_names
        # The family's own "lr" column (a schedule) replaces the one the Run records.
        lr_column = [] if "lr" in self._metric_names else ["lr"]
        self._history = History(["step", "time", *self._metric_names, *lr_column])
        self._evaluations = EvaluationRunner(self)  # measures computed off the trainer
        # (step, PNG bytes, (n, h, w, c)) for an image grid; (step, UTF-8 JSON, (0, 0, 0, 0))
        # for a record (a text family's sample and the like: `Family.snapshot`).
        self._snapshots: list[tuple[int, bytes, tuple[int, int, int, int]]] = []
        self._snapshot_cache: dict[int, np.ndarray] = {}
        self._last_snapshot_time = -math.inf  # time.monotonic() of the latest snapshot
        self._events: collections.deque[Event] = collections.deque(maxlen=MAX_EVENTS)
        self._event_total = 0
        self._copies: dict[str, tuple[int, nn.Module]] = {}  # role -> (step, eval-mode copy)
        self._time_offset = 0.0
        self.step = 0
        self._last_checkpoint_step = -1
        self._last_checkpoint_time = time.monotonic()
        # A rank of a torchrun job (`distributed.py`): its control channel, and whether this
        # rank writes snapshots, checkpoints and health warnings (rank 0 only).
        self._dist: Any = None
        self._primary = True

        self._store = RunStore(run_dir)
        if checkpoint is not None or reopen:
            self._restore(checkpoint)
        else:
            (run_dir / "config.json").write_text(json.dumps(config.to_json(), indent=2))
            for key, value in family.store_meta().items():  # e.g. a latent family's z layout
                self._store.set_meta(key, value)
            self._store.set_meta("family", family.name)
        self._sink = MetricSink(self, device)
        if not isinstance(family, NoWeights):
            for evaluator in family.evaluators(self):  # mode coverage, FID ...: the family's
                self.add_evaluator(evaluator)
        RUNS[self.name] = self

    # ------------------------------------------------------------------ public state
    @property
    def has_weights(self) -> bool:
        """False for a run opened without weights (no checkpoint was written): a read-only
        view of its history, snapshots, evaluations and events."""
        return not isinstance(self.family, NoWeights)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: a capability of the family (forwarded), a
        # module role of a run without weights, or a capability the family lacks.
        family = self.__dict__.get("family")
        if family is None or name.startswith("__"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        for cap in family.capabilities:
            if name in cap.methods:
                method = getattr(family, name)
                forward = functools.partial(method, self)
                functools.update_wrapper(forward, method)
                return forward
            if name in cap.attributes:
                return getattr(family, name)
        if isinstance(family, NoWeights) and name in family.module_names:
            raise AttributeError(f"run.{name} does not exist: {family.reason}")
        if not name.startswith("_"):
            families()  # every installed family has declared its capabilities
        error = missing_capability(self.__dict__.get("name", "?"), family, name)
        if error is not None:
            raise error
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        family = self.__dict__.get("family")
        extra = [m for cap in getattr(family, "capabilities", ()) for m in cap.members]
        return sorted({*super().__dir__(), *extra})

    @property
    def capabilities(self) -> list[str]:
        """Names of the family's optional capabilities ("latent decoding", "encoding" ...)."""
        return [cap.name for cap in self.family.capabilities]

    def _require_weights(self) -> None:
        if isinstance(self.family, NoWeights):
            raise RuntimeError(self.family.reason)

    @property
    def status(self) -> str:
        """ "running" | "paused" | "finished" | "stopped" | "failed"."""
        return self._status

    @property
    def version(self) -> int:
        """Increases whenever something a display may redraw for changes."""
        return self._version + self._history.total

    @property
    def max_steps(self) -> int | None:
        """Generator updates to train for (from `max_steps` or `epochs`), None = until stopped."""
        return self._step_target(self._settings["max_steps"])

    def _step_target(self, max_steps: int | None) -> int | None:
        limits = []
        if max_steps is not None:
            limits.append(max_steps)
        if self.config.epochs is not None and self.data_source is not None:
            try:
                per_epoch = self.data_source.steps_per_epoch(self.config.batch_size)
            except TypeError:
                per_epoch = None
            if per_epoch:
                per_step = self.family.batches_per_step(self._settings)
                limits.append(max(1, math.ceil(self.config.epochs * per_epoch / per_step)))
        return min(limits) if limits else None

    @property
    def settings(self) -> dict[str, Any]:
        """The hyper-parameters `set()` can change, with their current values."""
        with self._cond:
            return {**self._settings, **self._pending}

    @property
    def history(self) -> dict[str, np.ndarray]:
        """Column name -> 1-D array: "step", "time", the family's metrics, "lr". A GAN's are
        "loss_d", "loss_g" (the adversarial losses alone), "d_real", "d_fake", "r1" (+ "gp"
        for wgan-gp: the penalty terms as added to D's loss); a VAE's "elbo", "recon",
        "kl", "beta". Recent rows are exact; older ones are block means. Evaluation
        columns (e.g. "modes_covered") are NaN except at the rows of the steps they were
        measured at; `evaluations` has them compactly."""
        return merge_into_history(self._history.as_dict(), self._evaluations.history.as_dict())

    @property
    def evaluations(self) -> dict[str, np.ndarray]:
        """Measures computed every so many steps off the trainer (mode coverage, ...): column
        name -> 1-D array, with their own "step" and "time" columns."""
        return self._evaluations.history.as_dict()

    def evaluations_since(self, cursor: int) -> tuple[int, dict[str, np.ndarray]]:
        """Evaluation rows recorded after `cursor` (0: from the start) and the new cursor."""
        return self._evaluations.history.since(cursor)

    @property
    def evaluation_names(self) -> list[str]:
        """The evaluation columns (not "step" / "time")."""
        return self._evaluations.columns

    def add_evaluator(self, evaluator: Evaluator) -> None:
        """Compute `evaluator` on copies of the models, on a thread of its own, while training."""
        self._evaluations.add(evaluator)

    def history_extremes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per column (min, max) aligned with `history`: spikes stay visible after folding."""
        return self._history.extremes()

    def metrics_since(self, cursor: int) -> tuple[int, dict[str, np.ndarray]]:
        """Exact rows appended after `cursor` (0: from the start) and the new cursor."""
        return self._history.since(cursor)

    @property
    def metric_names(self) -> list[str]:
        return list(self._history.columns)

    @property
    def steps_per_second(self) -> float:
        """Over the recent steps; 0.0 while paused (no steps are made, whatever the last were)."""
        if self._status == "paused":
            return 0.0
        window = list(self._rate_window)
        if len(window) < 2 or window[-1][0] <= window[0][0]:
            return 0.0
        return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])

    @property
    def eta_seconds(self) -> float | None:
        """Seconds to `max_steps` at the current rate; None unless running towards one."""
        target, rate = self.max_steps, self.steps_per_second
        if target is None or rate <= 0 or self._status != "running":
            return None
        return max(0.0, (target - self.step) / rate)

    def __repr__(self) -> str:
        target = f"/{self.max_steps}" if self.max_steps else ""
        return f"<Run {self.name!r} {self.status} step {self.step}{target} on {self.device} at {self.run_dir}>"

    # ------------------------------------------------------------------ control
    def start(self) -> Run:
        """Start (or continue) training in a daemon thread; returns at once."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._require_weights()
            if self._batches is None:
                raise RuntimeError(
                    "this run has no data to train on (it was loaded without it); "
                    "pass data= to gw.load_run(...) to continue training"
                )
            target = self.max_steps
            if target is not None and self.step >= target:
                raise RuntimeError(
                    f"run {self.name!r} already reached max_steps={target}; "
                    f"raise it first, e.g. run.set(max_steps={self.step + 1000})"
                )
            self._output_parent = capture_output_parent()
            self._stop_requested = False
            self._paused = False
            self._status = "running"
            self.message = None
            self.error = self.traceback_text = None
            self._rate_window.clear()
            self._thread = threading.Thread(
                target=self._train, name=f"genai-widgets-run:{self.name}", daemon=True
            )
            self._thread.start()
            self._emit("RunStarted", {"device": str(self.device)})
        stop_at_exit(self._stop_at_exit)
        self._evaluations.start()
        # This thread ran torch (model build, shape check) and will idle while the trainer
        # works: its idle OpenMP pool would slow every parallel region of the trainer.
        release_openmp_pool()
        return self

    def pause(self) -> None:
        """Pause after the current step (no-op unless running)."""
        with self._cond:
            if self._status == "running":
                self._paused = True
                self._status = "paused"
                self._emit("RunPaused")
                self._cond.notify_all()

    def resume(self) -> None:
        """Continue a paused run, or start training again on a stopped / loaded one."""
        with self._cond:
            if self._status == "paused" and self._thread is not None and self._thread.is_alive():
                self._paused = False
                self._status = "running"
                self.message = None
                self._rate_window.clear()
                self._emit("RunResumed")
                self._cond.notify_all()
                return
            if self._status == "running":
                return
        self.start()

    def stop(self) -> None:
        """Stop after the current step, writing a checkpoint (the thread ends)."""
        with self._cond:
            self._stop_requested = True
            self._cond.notify_all()

    def _stop_at_exit(self, timeout: float) -> None:
        # A script that ends while this run trains: stop after the step (with a checkpoint)
        # rather than let the interpreter tear the thread down inside torch (threads.py).
        thread = self._thread
        if thread is not None and thread.is_alive():
            self.stop()
        self.wait(timeout)  # the trainer, then its evaluator's last evaluation

    def wait(self, timeout: float | None = None) -> str:
        """Block until the trainer thread ends or `timeout` passes; returns the status.
        (A paused run's thread keeps waiting, so `wait()` on it waits for resume or stop.)"""
        thread = self._thread
        deadline = None if timeout is None else time.monotonic() + timeout
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():  # and the last evaluation of the final step
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                self._evaluations.join(left)
        return self._status

    def result(self, timeout: float | None = None):
        """Wait for the end of training; re-raise the trainer's exception if it failed, else
        return the trained modules: `(generator, discriminator)` or `(encoder, decoder)`."""
        status = self.wait(timeout)
        if status == "failed" and self.error is not None:
            raise self.error
        if self._thread is not None and self._thread.is_alive():
            raise TimeoutError(f"run {self.name!r} still {status} after {timeout} s")
        return self.family.result()

    def step_once(self, wait: bool = True, timeout: float | None = 60.0) -> int:
        """Train exactly one step on a paused run, which stays paused; returns `step` (the new
        one when `wait`). Each call asks for one more step, so N quick calls train N steps.
        Raises RuntimeError unless the run is paused with its trainer thread alive."""
        self._require_weights()
        with self._cond:
            alive = self._thread is not None and self._thread.is_alive()
            if self._status != "paused" or not alive:
                state = self._status if alive or self._status != "paused" else "not training"
                raise RuntimeError(
                    f"step_once() trains one step of a paused run; run {self.name!r} is {state}"
                    + (": pause it first with run.pause()" if self._status == "running" else "")
                )
            # A max_steps just set is still pending; the trainer applies it before the step.
            target = self._step_target(self._pending.get("max_steps", self._settings["max_steps"]))
            if target is not None and self.step + self._single_steps >= target:
                raise RuntimeError(
                    f"run {self.name!r} is at max_steps={target}; raise it first, "
                    f"e.g. run.set(max_steps={target + 1000})"
                )
            self._single_steps += 1
            ticket = self._single_done + self._single_steps
            self._cond.notify_all()
            if not wait:
                return self.step
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._single_done < ticket and self._thread.is_alive():
                left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if left <= 0:
                    raise TimeoutError(f"run {self.name!r}: the step took longer than {timeout} s")
                self._cond.wait(left)
            return self.step

    def set(self, **changes: Any) -> None:
        """Change hyper-parameters mid-run (applied before the next step). A GAN takes lr,
        lr_d, n_critic, gp_weight, r1, max_steps, sample_every, beta1, beta2, step_delay (slow
        motion: seconds to wait after each step); a VAE lr, beta, beta_warmup, max_steps,
        sample_every, beta1, beta2. `sample_every=None` goes back to the automatic interval
        (AUTO_SAMPLE_*). Bad values raise ValueError and the run keeps its old values."""
        self._check_settable(changes)
        with self._cond:
            proposed = self.config.replace(**{**self._settings, **self._pending, **changes})
        # Resolved: "auto" (None) is for building a run only, not for changing one.
        validate_config(proposed, resolved=True)  # ValueError naming the field and the value
        with self._cond:
            self._pending.update(changes)
            if self._thread is None or not self._thread.is_alive():
                self._apply_pending()
            self._cond.notify_all()  # a trainer waiting out a slow-motion delay rereads it
            self._emit("HyperparametersChanged", {k: changes[k] for k in changes})

    def _check_settable(self, changes: dict[str, Any]) -> None:
        """ValueError naming the keys `set` does not take, and the ones it does."""
        settable = settable_fields(type(self.config))
        unknown = sorted(set(changes) - set(settable))
        if unknown:
            raise ValueError(
                f"cannot set {', '.join(map(repr, unknown))} on a running "
                f"{self.family.name.upper()}; settable: {', '.join(settable)}"
            )

    # ------------------------------------------------------------------ generation
    def _inference_copy(self, role: str) -> nn.Module:
        """An eval-mode copy of the family's `role` module ("generator", "encoder", "decoder")
        with the weights of the last completed step. Call with `_copy_lock` held."""
        step, module = self._copies.get(role, (-1, None))
        if module is None or step != self.step:
            with self._step_lock:
                live = self.family.inference_modules()[role]
                if module is None:
                    module = copy.deepcopy(live)
                else:
                    module.load_state_dict(live.state_dict())
                self._copies[role] = (self.step, module)
        module.eval()
        return module

    @contextlib.contextmanager
    def inference_copy(self, *roles: str) -> Iterator[Any]:
        """Eval-mode copies of the family's `roles` modules (`Family.inference_modules`) with
        the weights of the last completed step, for a family's `sample` and capability
        methods: ``with run.inference_copy("decoder") as decoder: ...`` (several roles: a
        tuple). Training goes on meanwhile; the copies are not retaken inside the block, and
        gradients are off in it. Raises RuntimeError on a run without weights."""
        self._require_weights()
        try:
            with self._copy_lock:
                copies = tuple(self._inference_copy(role) for role in roles)
                with torch.no_grad():
                    yield copies[0] if len(copies) == 1 else copies
        finally:
            if threading.current_thread() is not self._thread:
                release_openmp_pool()  # a cell or a widget flusher: leave no idle pool behind

    def sample(self, n: int = 16, **options: Any) -> Any:
        """`n` samples of the family's own kind from the current weights (`family.sample_kind`:
        images NCHW in [-1, 1] or N x 2 points on the CPU for a GAN / VAE, which also take
        `z=` latent vectors instead of `n`)."""
        self._require_weights()
        return self.family.sample(self, n, **options)

    # ------------------------------------------------------------------ snapshots
    @property
    def snapshot_count(self) -> int:
        return len(self._snapshots)

    def snapshot_steps(self) -> np.ndarray:
        return np.array([s for s, _, _ in list(self._snapshots)], dtype=np.int64)

    def snapshot_png(self, i: int) -> bytes:
        """The fixed-noise grid at snapshot i as PNG bytes."""
        step, png, shape = self._snapshots[i]
        if not shape[0]:
            raise TypeError(f"snapshot {i} (step {step}) is a record, not an image grid")
        return png

    def get_snapshot(self, i: int) -> Any:
        """Snapshot i: the fixed-noise samples as uint8 NHWC images, or the record a family
        without images stored (a dict: a text family's sample strip)."""
        step, png, (n, h, w, c) = self._snapshots[i]
        if not n:
            return json.loads(png.decode("utf-8"))
        cached = self._snapshot_cache.get(step)
        if cached is not None:
            return cached
        grid = _images.decode_png(png)
        nrow = _grid_cols(n)
        out = np.empty((n, h, w, c), dtype=np.uint8)
        for k in range(n):
            r, col = divmod(k, nrow)
            y, x = 2 + r * (h + 2), 2 + col * (w + 2)
            out[k] = grid[y : y + h, x : x + w, :c]
        if len(self._snapshot_cache) > 32:
            self._snapshot_cache.clear()
        self._snapshot_cache[step] = out
        return out

    def export_gif(self, path: str | os.PathLike, *, duration_ms: int = 120, scale: int = 2) -> str:
        """The fixed-noise evolution (every snapshot) as an animated GIF."""
        frames = [_images.decode_png(png) for _, png, shape in list(self._snapshots) if shape[0]]
        if not frames:
            raise ValueError(f"run {self.name!r} has no image snapshots to animate")
        return _images.save_gif(frames, path, duration_ms=duration_ms, scale=scale)

    # ------------------------------------------------------------------ events
    def events_since(self, cursor: int) -> tuple[int, list[Event]]:
        """Events after `cursor` (0: all still kept) and the new cursor."""
        with self._cond:
            total = self._event_total
            kept = list(self._events)
        first = total - len(kept)
        return total, kept[max(0, cursor - first) :]

    def _emit(self, kind: str, data: dict[str, Any] | None = None) -> None:
        with self._cond:
            self._events.append(Event(kind, self.step, time.time(), dict(data or {})))
            self._event_total += 1
            self._version += 1
        self._store.add_event(self.step, kind, data)

    # ------------------------------------------------------------------ persistence
    def save(self) -> Path:
        """Checkpoint now (weights, optimizers, RNG and data position) and flush the store;
        returns the run directory, which `gw.load_run` reads."""
        with self._step_lock:
            self._write_checkpoint()
        self._store.flush()
        return self.run_dir

    def _checkpoint_state(self) -> dict[str, Any]:
        state = {
            "format": 1,
            "family": self.family.name,
            "step": self.step,
            "time": self._elapsed(),
            "config": self.config.to_json(),
            "settings": dict(self._settings),
            **self.family.state_dict(),  # modules, optimizers, the family's RNG (and fixed z)
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self._batches is not None and hasattr(self._batches, "state_dict"):
            state["batches"] = self._batches.state_dict()
        return state

    def _write_checkpoint(self) -> None:
        started = time.monotonic()
        if self._dist is not None:
            self._dist.flush_rows(self)  # the step in flight's row goes with it
        self._sink.drain(wait=True)
        self._store.flush()
        save_checkpoint(self.run_dir, self.step, self._checkpoint_state())
        self._last_checkpoint_step = self.step
        self._last_checkpoint_time = time.monotonic()
        seconds = round(self._last_checkpoint_time - started, 3)
        self._emit("CheckpointSaved", {"step": self.step, "seconds": seconds})

    def _checkpoint_due(self, step: int) -> bool:
        """Every `checkpoint_every` steps or `checkpoint_every_seconds` of wall-clock time
        since the last checkpoint, whichever comes first: a hard kill loses at most about
        that long of training at any speed. One clock read per step, no file I/O. The write
        blocks the trainer (about 0.06 s for the default DCGAN's 23 MB: 0.1% of a minute)."""
        if not self._primary:
            return False
        every = self.config.checkpoint_every
        if every and step % every == 0:
            return True
        seconds = self.config.checkpoint_every_seconds
        return bool(seconds) and time.monotonic() - self._last_checkpoint_time >= seconds

    def _restore(self, state: dict[str, Any] | None) -> None:
        """Read the run directory back: at the checkpoint `state` (weights, optimizers, RNG,
        data position; the store is rewound to its step), or, with None, as the store holds
        it (a run that wrote no checkpoint: a view without weights). History, snapshots,
        evaluations, recent events and how the run ended come back either way."""
        reader = RunReader(self.run_dir)
        try:
            last_step = reader.last_step()
        finally:
            reader.close()
        if state is not None:
            self.step = int(state["step"])
            self._time_offset = float(state.get("time", 0.0))
            self._settings.update(state.get("settings", {}))
            self.family.load_state_dict(state)
            if (
                "batches" in state
                and self._batches is not None
                and hasattr(self._batches, "load_state_dict")
            ):
                self._batches.load_state_dict(state["batches"])
            self._apply_lr()
            self._last_checkpoint_step = self.step
            # Metrics and snapshots written after the checkpoint belong to a timeline that is
            # gone.
            self._store.truncate_after(self.step)
            self._store.flush()
        max_step = self.step if state is not None else None
        reader = RunReader(self.run_dir)
        try:
            metrics = reader.metrics(max_step=max_step)
            cols = self._history.columns
            if metrics and len(metrics.get("step", ())):
                rows = np.column_stack(
                    [metrics.get(c, np.full(len(metrics["step"]), np.nan)) for c in cols]
                )
                self._history.extend(rows)
            for step, png, shape, _nrow, _pad in reader.snapshots(max_step=max_step):
                self._snapshots.append((step, png, shape))
            self._evaluations.restore(reader.evaluations(max_step=max_step))
            events = reader.events(last=MAX_EVENTS)
            ended = reader.events(last=1, kinds=LIFECYCLE_EVENTS)
        finally:
            reader.close()
        for e in events:
            self._events.append(Event(e["kind"], int(e["step"]), float(e["time"]), e["data"]))
        self._event_total = len(self._events)
        if state is None:
            self.step = last_step
            if metrics and len(metrics.get("time", ())):
                self._time_offset = float(metrics["time"][-1])
        self._status, self.message = self._ended_as(ended[0] if ended else None, last_step)
        if self._status == "failed":
            self.traceback_text = (ended[0]["data"] or {}).get("traceback")

    def _ended_as(self, last: dict[str, Any] | None, last_step: int) -> tuple[str, str | None]:
        """Status and message of a reopened run from the last lifecycle event in its store:
        "finished" or "failed" as it ended; "stopped" if it was stopped, if its process died
        without a word (killed, crashed), or if the store predates events."""
        kind = last["kind"] if last is not None else None
        if kind == "RunFinished" and last is not None and int(last["step"]) == self.step:
            return "finished", None if self.has_weights else self.family.summary  # type: ignore[attr-defined]
        notes = []
        if kind == "RunFailed" and last is not None:
            error = (last.get("data") or {}).get("error")
            notes.append(f"failed after step {last['step']}" + (f": {error}" if error else ""))
        elif kind == "RunStarted":
            notes.append(f"its process ended without stopping it (killed?) after step {last_step}")
        if not self.has_weights:
            notes.insert(0, self.family.summary)  # type: ignore[attr-defined]
        elif last_step > self.step:
            notes.append(f"reopened at the checkpoint of step {self.step}")
        return ("failed" if kind == "RunFailed" else "stopped"), "; ".join(notes) or None

    # ------------------------------------------------------------------ trainer thread
    def _elapsed(self) -> float:
        return self._time_offset + (time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0)

    def _apply_lr(self) -> None:
        self.family.apply_settings(self._settings)

    def _apply_pending(self) -> None:
        if not self._pending:
            return
        self._settings.update(self._pending)
        self._pending.clear()
        self._apply_lr()

    def _train(self) -> None:
        prepare_training_thread()
        bind_output_parent(self._output_parent)
        self._time_offset = self._elapsed()
        self._t0 = time.perf_counter()
        self._last_checkpoint_time = time.monotonic()  # the clock counts from the (re)start
        family, batches, device = self.family, self._batches, self.device
        # With deferred metrics (CUDA) a finiteness check would sync every step; the sink
        # checks each chunk when it lands instead.
        # In a job, rank 0 checks the metrics averaged over the ranks (`distributed.Control`):
        # a rank that skipped an update alone would leave the others in a collective.
        # A one-process run steered through the channel (the CLI's) keeps the check before
        # the update.
        alone = self._dist is None or self._dist.world == 1
        check_finite = not self._sink.deferred and alone

        def next_real() -> torch.Tensor:
            return next(batches).to(device, non_blocking=True)

        final = "stopped"
        try:
            while True:
                with self._cond:
                    if self._paused and not self._stop_requested and not self._single_steps:
                        # The rows the sink still holds go to the store now: a reader of the
                        # store (a job's notebook handle, gw.attach) sees the step it paused at.
                        if self._dist is not None:
                            self._dist.settle(self)  # every rank pauses at this same step
                        self._sink.drain(wait=True)
                        # Idle while paused: free this thread's pool and stop the governor.
                        training_thread_idle()
                        while self._paused and not self._stop_requested and not self._single_steps:
                            if self._dist is None:
                                self._cond.wait()
                            else:  # the ranks meet while they wait
                                self._dist.paused_wait(self)
                        prepare_training_thread()
                    if self._stop_requested:
                        break
                    single = self._single_steps > 0  # a step asked for by step_once()
                    self._apply_pending()
                    settings = dict(self._settings)
                target = self.max_steps
                if target is not None and self.step >= target:
                    final = "finished"
                    break
                with self._step_lock:
                    try:
                        values = family.step(
                            next_real, settings, self.step + 1, check_finite=check_finite
                        )
                    except NonFiniteLossError as exc:
                        self._non_finite(self.step + 1, exc.name, exc.value)
                        if single:
                            self._single_step_done()
                        continue
                    self.step += 1
                step = self.step
                lr = self._settings.get("lr", math.nan)
                if self._dist is not None:  # averaged over the ranks; commands applied
                    self._dist.after_step(self, values, self._elapsed(), lr)
                else:
                    self._sink.add(step, self._elapsed(), values, lr)
                self._rate_window.append((time.perf_counter(), step))
                if self._snapshot_due(step, settings["sample_every"]):
                    self._take_snapshot()
                if step % (family.health_every or HEALTH_EVERY) == 0 and self._primary:
                    self._check_health(step)
                if self._checkpoint_due(step):
                    with self._step_lock:
                        self._write_checkpoint()
                if single:
                    self._single_step_done()
                done = family.finished()
                if done:
                    final = "finished"
                    with self._cond:
                        self.message = done
                    break
                self._slow_motion_wait()
        except BaseException as exc:  # the thread must report, never die silently
            self.error = exc
            self.traceback_text = "".join(traceback.format_exception(exc))
            with self._cond:
                # The message first: `status` and `message` are read without the lock.
                self.message = f"failed at step {self.step + 1}: {type(exc).__name__}: {exc}"
                self._status = "failed"
            self._emit("RunFailed", {"error": repr(exc), "traceback": self.traceback_text})
            print(f"[genai_widgets] run {self.name!r} {self.message}", file=sys.stderr, flush=True)
            try:
                self._sink.drain(wait=True)
                self._store.flush()
            except BaseException:
                pass
            return
        # Finished or stopped: nothing is lost -- last snapshot, metrics and a checkpoint.
        try:
            if self._dist is not None:
                self._dist.settle(self)  # the last step's row (every rank ends at this step)
            if self._primary and (not self._snapshots or self._snapshots[-1][0] != self.step):
                self._take_snapshot()
            with self._step_lock:
                if self._primary and self._last_checkpoint_step != self.step:
                    self._write_checkpoint()
                else:
                    self._sink.drain(wait=True)
                    self._store.flush()
        except BaseException as exc:
            self.error = exc
            self.traceback_text = "".join(traceback.format_exception(exc))
            final = "failed"
        with self._cond:
            self._status = final
            self._paused = False
        self._emit(
            "RunFinished"
            if final == "finished"
            else ("RunFailed" if final == "failed" else "RunStopped")
        )
        # How it ended is on disk before wait() returns: gw.load_run reports it.
        with contextlib.suppress(Exception):
            self._store.flush()
        # One line in the cell that started the run (its output parent is bound to this thread).
        rate = self.steps_per_second
        if self._primary:  # a job's other ranks train a scratch copy: rank 0 speaks for them
            print(
                f"[genai_widgets] run {self.name!r} {final} at step {self.step}"
                + (f" ({rate:.1f} steps/s)" if rate else ""),
                flush=True,
            )

    def _single_step_done(self) -> None:
        with self._cond:
            self._single_steps = max(0, self._single_steps - 1)
            self._single_done += 1
            self._cond.notify_all()

    def _slow_motion_wait(self) -> None:
        # Slow motion: wait `step_delay` s after a step; a pause, a stop or a new step_delay
        # (`run.set` notifies) ends or shortens the wait at once.
        ended = time.monotonic()
        with self._cond:
            while not (self._stop_requested or self._paused):
                if "step_delay" in self._pending:
                    self._apply_pending()
                left = ended + self._settings["step_delay"] - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def _non_finite(self, step: int, name: str, value: float, applied: str | None = None) -> None:
        """Pause on a non-finite loss at `step`. `applied`: what became of that step's update
        when it was checked after the step (None: it was checked before, and not applied)."""
        with self._cond:
            self._paused = True
            self.message = (
                f"paused at step {step}: {name} is {value} (non-finite loss). "
                + (applied or "The update was not applied")
                + "; lower the learning rate with run.set(lr=...) and resume, or stop."
            )
            self._status = "paused"  # after its message: both are read without the lock
            self._emit(
                "NonFiniteLoss",
                {"step": step, "loss": name, "value": str(value), "message": self.message},
            )

    def _snapshot_due(self, step: int, sample_every: int | None) -> bool:
        """Whether the fixed-noise grid is due after `step`: on the first step, then every
        `sample_every` steps; with None ("auto") by steps and time (AUTO_SAMPLE_*)."""
        if not self._primary:
            return False
        if step == 1:
            return True
        if sample_every is not None:
            return step % sample_every == 0
        since = time.monotonic() - self._last_snapshot_time
        if since >= AUTO_SAMPLE_MAX_SECONDS:
            return True
        return step % AUTO_SAMPLE_STEPS == 0 and since >= AUTO_SAMPLE_MIN_SECONDS

    def _take_snapshot(self) -> None:
        self._last_snapshot_time = time.monotonic()
        with self._step_lock:
            # The fixed sample grid, a record (JSON-able dict: a text sample), or None.
            out = self.family.snapshot(self)
        if isinstance(out, dict):
            self._add_snapshot(json.dumps(out).encode("utf-8"), (0, 0, 0, 0), 0)
            return
        if out is None or out.dim() != 4:
            return
        imgs = _images.to_uint8(out)
        nrow = _grid_cols(len(imgs))
        png = _images.encode_png(_images.make_grid(imgs, nrow))
        shape = tuple(int(s) for s in imgs.shape)
        self._add_snapshot(png, shape, nrow)  # type: ignore[arg-type]

    def _add_snapshot(self, payload: bytes, shape: tuple[int, int, int, int], nrow: int) -> None:
        self._snapshots.append((self.step, payload, shape))
        self._store.add_snapshot(self.step, payload, shape, nrow, 2 if nrow else 0)
        if len(self._snapshots) > MAX_SNAPSHOTS:
            self._thin_snapshots()
        self._emit("SnapshotTaken", {"index": len(self._snapshots) - 1})

    def _thin_snapshots(self) -> None:
        # Drop every other snapshot in the older two thirds; keep the first and the newest.
        cut = (len(self._snapshots) * 2) // 3
        old = self._snapshots[:cut]
        keep = [s for i, s in enumerate(old) if i % 2 == 0]
        dropped = [s[0] for i, s in enumerate(old) if i % 2 == 1]
        self._snapshots = keep + self._snapshots[cut:]
        self._store.delete_snapshots(dropped)

    def _check_health(self, step: int) -> None:
        """Ask the family about the recent metrics; a warning is emitted (and kept in
        `run.warnings`) once when its condition starts to hold, and again only after it
        cleared. Runs on the trainer thread every HEALTH_EVERY steps, on host rows."""
        _, recent = self._history.since(max(0, self._history.total - HEALTH_WINDOW))
        evaluations = self.evaluations if self.evaluation_names else None
        found = dict(self.family.health(recent, step, dict(self._settings), evaluations))
        for kind, text in found.items():
            if kind not in self._health_active:
                with self._cond:
                    self.warnings.append({"kind": kind, "step": step, "message": text})
                    del self.warnings[:-MAX_WARNINGS]
                self._emit(kind, {"message": text})
        self._health_active = set(found)

    # ------------------------------------------------------------------ display
    def dashboard(self, **options: Any) -> Any:
        """The composite widget for this run's family: curves, samples, latent views,
        controls (`Dashboard` for a GAN, `VAEDashboard` for a VAE, the shared dashboard for
        a family without its own). `options` are the widget's traits
        (``run.dashboard(explorer_auto=False)``). The family names it by import path
        (`Family.dashboard`, "module:callable"); the engine imports no widget module itself."""
        return load_object(self.family.dashboard)(self, **options)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        try:
            display(self.dashboard())
        except ImportError:
            print(repr(self))


def _grid_cols(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))
