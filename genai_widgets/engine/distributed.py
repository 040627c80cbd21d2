"""Training past one process: the worker every rank of a `torchrun` job runs, and its
control channel.

`python -m torch.distributed.run ... -m genai_widgets.engine.distributed RUN_DIR` (what
`launch.py` starts for `nproc=N`) runs `worker_main` on each rank:

- Every rank builds the same `Run` (same seed: the same initial weights), then takes rank 0's
  full training state (weights, optimizers, RNG, data position), so a job that resumes from a
  checkpoint, with any world size, starts every rank from the same point.
- Data parallel: every rank draws the same global batch and trains on its own slice of it
  (`RankBatches`); gradients are averaged over the ranks by one all-reduce per optimizer step
  (a step pre-hook on every optimizer: `gradients.average_gradients`), which is DDP's
  arithmetic for any family and any number of optimizers (a GAN's G and D apart), after
  gradient penalties' double backward, and with no batch-norm buffer broadcast to trip over
  (pytorch#22095). A family that clips clips through `gradients.clip_grad_norm`, which
  averages first: every rank clips the job's gradient by its global norm.
- Rank 0 alone writes the run's store: metrics averaged over the ranks, snapshots,
  checkpoints, events, and a heartbeat (step, time, world size, status) about once a second.
  Other ranks keep a throw-away store of their own.
- Control: the notebook writes commands into the store's control table. At a poll step rank
  0 reads the new ones and broadcasts them, so every rank applies them at the same step
  boundary; rank 0 acknowledges each with that step. Rank 0 polls after every step of a slow
  job and about every `POLL_EVERY_SECONDS` of a fast one (the broadcast names the next poll
  step, so the ranks agree on it without another collective). While paused the ranks meet
  every `POLL_SECONDS` over the same broadcast, so none sits in a collective into its timeout.

Nothing here knows a family: the family's own `rank_streams` gives each rank its random
streams (noise, augmentation, dropout)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from . import gradients
from .config import RunConfig
from .gradients import average_gradients, enable_gradient_averaging  # noqa: F401 (re-exported)
from .store import DB_NAME, RunReader

LAUNCH_FILE = "launch.pkl"  # the config (with the user's objects), pickled by value
WEIGHTS_FILE = "weights.pt"  # the latest weights rank 0 published for the notebook
FAILURES_DIR = "failures"  # rank<r>.json: a worker's exception and traceback
LOCK_FILE = "writer.lock"  # held by rank 0 while it writes the store
HEARTBEAT_SECONDS = 1.0
POLL_SECONDS = 0.2  # how often paused ranks meet to read the control channel
POLL_EVERY_SECONDS = 0.05  # a running job's polls, at least every step and this far apart
MAX_POLL_STEPS = 100  # and at most this many steps apart
RANK_SEED_STRIDE = 7919  # rank r > 0 draws from seed + r * stride (+ the step it starts at)


def in_worker() -> bool:
    """Whether this process is a rank of a torchrun job (torchrun sets these)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or (
        "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ
    )


class RankBatches:
    """The rank's slice of every global batch: rows `rank * b` to `(rank + 1) * b` of each
    batch the shared data stream yields (`b` = batch / world). Checkpointed like the stream."""

    def __init__(self, batches: Any, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world

    def __iter__(self) -> RankBatches:
        return self

    def __next__(self) -> Any:
        batch = next(self.batches)
        b = len(batch) // self.world
        return batch[self.rank * b : (self.rank + 1) * b]

    def state_dict(self) -> dict[str, Any]:
        return self.batches.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state)


class Control:
    """A rank's side of the control channel, attached to its `Run` (`run._dist`); the Run's
    trainer calls `after_step` after each step and `paused_wait` while paused."""

    poll_seconds = POLL_SECONDS

    def __init__(
        self,
        run_dir: Path,
        rank: int,
        world: int,
        group: Any,
        workers: list[dict],
        checked: Any = None,
    ):
        """`checked`: which metrics must be finite (the run's sink's mask by default), the
        same on every rank: every rank checks the averaged metrics and pauses alike."""
        self.run_dir, self.rank, self.world, self.group = run_dir, rank, world, group
        self.workers = workers
        self._checked = checked
        self._next_poll = 0  # the step after which the ranks next read the channel
        self._pending: dict[str, Any] | None = None  # the step in flight (`settle`)
        self._polled = (0, time.perf_counter())  # rank 0: the step and time of the last poll
        self._reader = RunReader(run_dir) if rank == 0 else None
        self._cursor = self._first_unapplied() if rank == 0 else 0
        self._last_beat = 0.0
        self._flag = torch.zeros(2, dtype=torch.int64)  # command count, next poll step
        self._dropped_seen = gradients.dropped_updates

    def _first_unapplied(self) -> int:
        """Commands already applied (by an earlier attempt of this job) are skipped."""
        assert self._reader is not None
        applied = [c["id"] for c in self._reader.commands_after(0) if c["applied_step"] is not None]
        return max(applied, default=0)

    # -- called by the Run's trainer ----------------------------------------------------------
    def after_step(self, run: Any, values: torch.Tensor, elapsed: float, lr: float) -> None:
        """The step's metrics, averaged over the ranks, into the run's sink (its row of
        `run.step`, at `elapsed` s with `lr`); then, at a poll step, the control channel.

        On the CPU one all-reduce carries the metrics with rank 0's command count and next
        poll step (the other ranks add zeros), and it runs in the background: this step's
        is settled at the next step (`settle`), so no rank waits here for the others to
        finish their step. Its row, its finiteness check and its commands land then, one
        step later. A GPU job (metrics over NCCL, the channel over gloo) and a one-process
        run settle at once."""
        dropped = gradients.dropped_updates - self._dropped_seen
        self._dropped_seen = gradients.dropped_updates
        step = run.step
        if self.world > 1 and values.device.type == "cpu" and self.group is None:
            self.settle(run)  # the step before: its row, its check, its commands
            polling = step >= self._next_poll or run._paused
            commands = self._read(run) if polling and self.rank == 0 else []
            n = values.numel()
            packed = torch.zeros(n + 2, dtype=torch.float64)
            packed[:n] = values.detach().reshape(-1)
            if polling and self.rank == 0:
                packed[-2], packed[-1] = len(commands), self._next_poll
            self._pending = {
                "work": dist.all_reduce(packed, async_op=True),
                "packed": packed,
                "n": n,
                "row": (step, elapsed, lr),
                "polling": polling,
                "commands": commands,
                "dropped": dropped,
                "added": False,
            }
            return
        polling = step >= self._next_poll or run._paused
        if self.world > 1:
            values = values.detach().float().clone()
            dist.all_reduce(values)
            values /= self.world
        run._sink.add(step, elapsed, values, lr)
        if self.world > 1 and (values.device.type == "cpu" or polling):
            # (On a GPU at poll steps only: reading the values syncs the device.)
            self._check(run, step, values, dropped)
        if polling or run._paused:
            self.poll(run)

    def flush_rows(self, run: Any) -> None:
        """The step in flight's row into the sink now (before a checkpoint): a local wait,
        no collective, so any rank may call it at any time."""
        if self._pending is not None:
            self._add_row(run, self._pending)

    def _add_row(self, run: Any, pending: dict[str, Any]) -> torch.Tensor:
        n = pending["n"]
        if not pending["added"]:
            pending["work"].wait()
            pending["values"] = (pending["packed"][:n] / self.world).to(torch.float32)
            run._sink.add(*pending["row"][:2], pending["values"], pending["row"][2])
            pending["added"] = True
        return pending["values"]

    def settle(self, run: Any) -> None:
        """Finish the step in flight: its row, its finiteness check, its commands applied on
        every rank. Every rank calls it at the same point (the next step, entering a pause,
        the end of training): the commands may need a broadcast."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        values = self._add_row(run, pending)
        self._check(run, pending["row"][0], values, pending["dropped"])
        if pending["polling"]:
            packed = pending["packed"]
            count, self._next_poll = int(packed[-2]), int(packed[-1])
            self._share_and_apply(run, pending["commands"], count)

    def _check(self, run: Any, step: int, values: torch.Tensor, dropped: int) -> None:
        """Metrics the family does not leave NaN on purpose must be finite. The average is the
        same on every rank, so every rank pauses at the same step."""
        checked = run._sink._checked if self._checked is None else self._checked
        bad = [
            (name, v)
            for name, v, c in zip(run._metric_names, values.tolist(), checked, strict=True)
            if c and not math.isfinite(v)
        ]
        if bad:
            # A job checks the loss after the step (every rank must take the same step);
            # non-finite gradients were dropped before they were applied.
            applied = (
                "Its non-finite gradients were dropped on every rank: the update was not applied"
                if dropped
                else "A job checks the loss after the step: its update was applied (its "
                "gradients were finite)"
            )
            run._non_finite(step, bad[0][0], bad[0][1], applied)

    def paused_wait(self, run: Any) -> None:
        """One turn of waiting while paused (the Run holds its condition): wait a little, then
        read the channel together with the other ranks."""
        self.settle(run)
        run._cond.wait(self.poll_seconds)
        self.poll(run)

    # -- the channel ----------------------------------------------------------------------------
    def poll(self, run: Any) -> None:
        """Read the channel now, with every rank (they all call this at the same point)."""
        self._share_and_apply(run, self._read(run) if self.rank == 0 else [], None)

    def _read(self, run: Any) -> list[dict[str, Any]]:
        """Rank 0: the commands not yet applied, and the next poll step (`_schedule`)."""
        assert self._reader is not None
        commands = [
            c for c in self._reader.commands_after(self._cursor) if c["applied_step"] is None
        ]
        if commands:
            self._cursor = commands[-1]["id"]
        self._next_poll = self._schedule(run)
        return commands

    def _share_and_apply(self, run: Any, commands: list[dict[str, Any]], count: int | None) -> None:
        """Rank 0's commands to every rank (`count` already known: from the all-reduce), then
        applied by every rank at this step; rank 0 acknowledges them and beats."""
        if self.world > 1:
            if count is None:
                self._flag[0], self._flag[1] = len(commands), self._next_poll
                dist.broadcast(self._flag, 0, group=self.group)
                count, self._next_poll = int(self._flag[0]), int(self._flag[1])
            if count:
                box = [commands]
                dist.broadcast_object_list(box, 0, group=self.group)
                commands = box[0]
        for command in commands:
            error = self._apply(run, command)
            if self.rank == 0 and command["id"] is not None:
                run._store.ack_command(command["id"], run.step)
                if error:
                    run._emit("CommandRejected", {"id": command["id"], "error": error})
        if self.rank == 0:
            now = time.time()
            if now - self._last_beat >= HEARTBEAT_SECONDS:
                self.beat(run)

    def _schedule(self, run: Any) -> int:
        """Rank 0: the step after which the ranks poll next: the next step of a slow or paused
        job; about `POLL_EVERY_SECONDS` of steps ahead at the rate since the last poll."""
        step, now = run.step, time.perf_counter()
        last_step, last_time = self._polled
        self._polled = (step, now)
        if run._paused or step <= last_step or now <= last_time:
            return step + 1
        rate = (step - last_step) / (now - last_time)
        return step + max(1, min(MAX_POLL_STEPS, int(POLL_EVERY_SECONDS * rate)))

    def beat(self, run: Any, status: str | None = None) -> None:
        self._last_beat = time.time()
        run._store.set_meta(
            "heartbeat",
            {
                "step": run.step,
                "time": self._last_beat,
                "world_size": self.world,
                "status": status or run.status,
                "steps_per_second": run.steps_per_second,
            },
        )

    def _apply(self, run: Any, command: dict[str, Any]) -> str | None:
        kind, args = command["command"], command.get("args") or {}
        try:
            if kind == "pause":
                run.pause()
            elif kind == "resume":
                if run._paused:
                    run.resume()
            elif kind == "stop":
                run.stop()
            elif kind == "set":
                run.set(**args)
            elif kind == "step":
                with run._cond:
                    run._single_steps += 1
                    run._cond.notify_all()
            elif kind == "publish" and self.rank == 0:
                publish_weights(run)
        except Exception as exc:  # a bad command must not end the job
            return f"{type(exc).__name__}: {exc}"
        return None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def publish_weights(run: Any) -> Path:
    """Write the weights the notebook samples from (`Family.inference_modules`), atomically."""
    path = Path(run.run_dir) / WEIGHTS_FILE
    state = {
        "step": run.step,
        "modules": {
            role: {k: v.detach().cpu() for k, v in module.state_dict().items()}
            for role, module in run.family.inference_modules().items()
        },
    }
    fd, tmp = tempfile.mkstemp(prefix=".tmp-weights-", suffix=".pt", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def sync_batch_norm(family: Any) -> int:
    """Turn the batch-norm layers of `family.sync_batch_norm_modules()` into SyncBatchNorm in
    place (CUDA jobs): the same Parameter and buffer objects, so optimizers, checkpoints and
    the family's references stay valid. Returns how many layers were converted."""
    converted = 0
    for module in family.sync_batch_norm_modules().values():
        for parent in list(module.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(
                    child, torch.nn.SyncBatchNorm
                ):
                    setattr(parent, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
                    converted += 1
    return converted


# ---------------------------------------------------------------------------------- the worker
def _lock_writer(run_dir: Path) -> Any:
    """Rank 0 holds an exclusive lock on the run directory while it writes the store: a second
    job on the same directory stops here with one line."""
    handle = open(run_dir / LOCK_FILE, "a+")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise RuntimeError(
            f"{run_dir} is being written by another live job; attach to it with "
            f"gw.attach({str(run_dir)!r}) or choose another run_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _own_objects(config: RunConfig) -> dict[str, Any]:
    """The model / data objects of the config (not names), for `load_run`."""
    out = {}
    for key in ("model", "data"):
        value = getattr(config, key)
        if value is not None and not isinstance(value, str):
            out[key] = value
    return out


def _open_rank_run(config: RunConfig, rank: int, run_dir: Path) -> Any:
    from .api import build_run, load_run
    from .checkpoint import list_checkpoints

    if rank == 0:
        if list_checkpoints(run_dir):
            return load_run(run_dir, device=config.device, **_own_objects(config))
        # A first attempt that ended before its first checkpoint: start over.
        for name in ("config.json", DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
            (run_dir / name).unlink(missing_ok=True)
        return build_run(config)
    scratch = tempfile.mkdtemp(prefix=f"genai-widgets-rank{rank}-")
    return build_run(config.replace(run_dir=scratch))


def _in_collective(exc: BaseException | None) -> bool:
    """Whether `exc` was raised by a collective (a peer died, a timeout): the consequence of
    another rank's failure, not its cause. torch's distributed errors, or an exception whose
    innermost frame is in torch.distributed (gloo raises a plain RuntimeError)."""
    if exc is None:
        return False
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    parts = Path(tb.tb_frame.f_code.co_filename).parts
    return any(a == "torch" and b == "distributed" for a, b in zip(parts, parts[1:], strict=False))


def _record_failure(run_dir: Path, rank: int, exc: BaseException | None, text: str | None) -> None:
    folder = run_dir / FAILURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "rank": rank,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "time": time.time(),
        "error": f"{type(exc).__name__}: {exc}" if exc is not None else None,
        "traceback": text,
        "collective": _in_collective(exc),
        "attempt": os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"),
    }
    tmp = folder / f".rank{rank}.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, folder / f"rank{rank}.json")


def _optimizers(family: Any) -> list[torch.optim.Optimizer]:
    """The family's optimizers, in a fixed order: its `parts` (an optimizer, or an object
    holding some), then any other optimizer attribute of the family."""
    found: list[torch.optim.Optimizer] = []
    for holder in (family.parts, family):
        if isinstance(holder, torch.optim.Optimizer):
            values: list[Any] = [holder]
        else:
            values = list(getattr(holder, "__dict__", {}).values())
        found += [v for v in values if isinstance(v, torch.optim.Optimizer) and v not in found]
    return found


def rank_final(run: Any, rank: int) -> dict[str, Any]:
    """What a rank ends with: its step, a checksum of its weights (the float64 sum of every
    parameter of the family's modules) and the learning rate of every optimizer param group."""
    total = torch.zeros((), dtype=torch.float64)
    with torch.no_grad():
        for _, module in sorted(run.family.modules().items()):
            for p in module.parameters():
                total += p.detach().to("cpu", torch.float64).sum()
    lrs = [float(g["lr"]) for opt in _optimizers(run.family) for g in opt.param_groups]
    return {"rank": rank, "step": int(run.step), "checksum": float(total), "lr": lrs}


def _gather_final(run: Any, rank: int, world: int) -> None:
    """Every rank's `rank_final`, gathered on rank 0 into the store's meta "ranks_final"
    ({"ranks": [...], "agree": bool}); ranks that ended apart also get a RanksDiverged
    event and the run's message."""
    ranks: list[Any] = [None] * world
    dist.all_gather_object(ranks, rank_final(run, rank))
    if rank != 0:
        return
    first = ranks[0]
    apart = [
        r["rank"]
        for r in ranks[1:]
        if (r["step"], r["checksum"], r["lr"]) != (first["step"], first["checksum"], first["lr"])
    ]
    run._store.set_meta("ranks_final", {"ranks": ranks, "agree": not apart})
    if apart:
        run.message = f"ranks diverged: rank(s) {apart} ended with other weights or lr than rank 0"
        run._emit("RanksDiverged", {"ranks": ranks})


def _init_process_group(backend: str) -> None:
    """`init_process_group` on torchrun's store under a prefix of this attempt's own. A
    restarted group (`max_restarts`) shares the store of the attempt before it, where every
    rank's old listening address is still written: without the prefix a rank that reads its
    peer's key before the peer rewrote it connects to the dead process ("Gloo
    connectFullMesh failed ... Connection refused") and the restart fails."""
    store, rank, world = next(dist.rendezvous("env://"))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = dist.PrefixStore(f"/genai_widgets/attempt_{attempt}", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world)


def worker_main(config: RunConfig) -> int:
    """One rank of a job training `config` (its `run_dir` is the job's). Returns the exit
    code: 0 when the run finished or was stopped, 1 when it failed."""
    from .evaluators import EvaluationRunner

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    run_dir = Path(config.run_dir or ".").resolve()
    config = config.replace(run_dir=str(run_dir))
    cuda = config.device.startswith("cuda") or (
        config.device == "auto" and torch.cuda.is_available()
    )
    if cuda:
        torch.cuda.set_device(local_rank)
        config = config.replace(device=f"cuda:{local_rank}")
    elif config.device == "auto":
        config = config.replace(device="cpu")
    _init_process_group("nccl" if cuda else "gloo")
    # Control on the CPU (gloo) whatever the device: reading a flag never syncs a GPU.
    group = dist.new_group(backend="gloo") if cuda else None
    lock = _lock_writer(run_dir) if rank == 0 else None
    run = None
    try:
        run = _open_rank_run(config, rank, run_dir)
        checked = run._sink._checked.copy()  # which metrics must be finite
        if world > 1:
            # No rank pauses on its own (the CUDA sink's check): the channel checks the
            # averaged metrics, alike on every rank.
            run._sink._checked[:] = False
        if rank != 0:
            run._primary = False  # no snapshots, checkpoints, health or evaluations
            run._evaluations = EvaluationRunner(run)
        if run._batches is not None:
            run._batches = RankBatches(run._batches, rank, world)
        workers: list[Any] = [None] * world
        me = {"rank": rank, "pid": os.getpid(), "host": socket.gethostname()}
        dist.all_gather_object(workers, me)
        box = [run._checkpoint_state() if rank == 0 else None]
        dist.broadcast_object_list(box, 0)
        if rank != 0:
            run._restore(box[0])
        del box
        if rank != 0:
            run.family.rank_streams(rank, config.seed + RANK_SEED_STRIDE * rank + run.step)
        if world > 1:
            enable_gradient_averaging()
            if cuda:
                sync_batch_norm(run.family)
        control = Control(run_dir, rank, world, group, workers, checked=checked)
        run._dist = control
        if rank == 0:
            run._store.set_meta(
                "workers",
                {
                    "world_size": world,
                    "ranks": workers,
                    "launcher_pid": os.getppid(),
                    "attempt": int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")),
                    "started": time.time(),
                },
            )
            control.beat(run, "running")
        # Commands sent before the launch (`set(max_steps=...)` on a job resumed from a
        # checkpoint) apply before the first step, on every rank.
        control.poll(run)
        run.start()
        status = run.wait()
        if world > 1 and status != "failed":
            _gather_final(run, rank, world)
        if rank == 0:
            control.beat(run, status)
            run._store.flush()
        if world > 1 and status != "failed":
            # Every rank tears its gloo pairs down only once all are done with them: a rank
            # whose peer already closed its end can abort in destroy_process_group.
            dist.barrier()
        if status == "failed":
            _record_failure(run_dir, rank, run.error, run.traceback_text)
            return 1
        return 0
    except BaseException as exc:
        _record_failure(run_dir, rank, exc, "".join(traceback.format_exception(exc)))
        raise
    finally:
        if run is not None and run._dist is not None:
            run._dist.close()
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
        if run is not None and rank != 0:
            with contextlib.suppress(Exception):
                run._store.close()
            shutil.rmtree(run.run_dir, ignore_errors=True)
        if lock is not None:
            lock.close()


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: {sys.executable} -m {__spec__.name} RUN_DIR", file=sys.stderr)
        return 2
    import cloudpickle

    run_dir = Path(argv[0]).resolve()
    with open(run_dir / LAUNCH_FILE, "rb") as f:
        config = cloudpickle.load(f)
    return worker_main(config.replace(run_dir=str(run_dir)))


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
