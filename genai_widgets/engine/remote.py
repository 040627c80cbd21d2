"""The notebook's handle on a torchrun job: a `Run` whose training happens in other processes.

`RemoteRun` tails the job's store (rank 0 writes it) into the same in-memory history,
snapshots, events and evaluations a local `Run` keeps, so every widget and dashboard reads it
unchanged. Its controls write commands into the store's control table (`pause`, `resume`,
`stop`, `set`, `step_once`), which rank 0 applies on every rank at the next step boundary and
acknowledges with that step. `sample()` and the family's capabilities run here, on a copy of
the family built on this process's CPU, from the weights rank 0 publishes on request.

`attach(run_dir)` gives the same handle for a job started anywhere on this host: a
`python -m genai_widgets` process, `torchrun ... -m genai_widgets`, a scheduler's job, or a
notebook before a kernel restart. SQLite's WAL needs every reader on the writer's host
(sqlite.org/wal.html): the store is read where rank 0 runs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import RunConfig, build_config, validate_config
from .distributed import FAILURES_DIR, LAUNCH_FILE, LOCK_FILE, WEIGHTS_FILE
from .family import Family, NoWeights
from .run import LIFECYCLE_EVENTS, MAX_SNAPSHOTS, Event, Run
from .store import DB_NAME, RunReader, write_command

TAIL_SECONDS = 0.25  # how often the handle reads the store
HUNG_SECONDS = 30.0  # no heartbeat for this long while the processes live: "hung?"
PUBLISH_TIMEOUT = 20.0  # seconds to wait for rank 0 to publish its weights
TERMINAL = ("finished", "stopped", "failed")


class WorkerError(RuntimeError):
    """A worker of a torchrun job failed; the message carries its traceback."""


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (ended, not yet reaped by its parent) is not alive.
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def writer_locked(run_dir: Path) -> bool:
    """Whether a live process holds the run directory's writer lock: the pid it wrote there is
    alive. (Read, never probed with flock: `attach` asks this in a loop while a job starts,
    and a probe could make the starting rank 0 fail to take the lock.)"""
    return _pid_alive(_writer_pid(run_dir))


def _writer_pid(run_dir: Path) -> int | None:
    """The pid rank 0 wrote into the writer lock (read, not locked: probing the lock itself
    could make a starting rank 0 fail to take it)."""
    try:
        return int((Path(run_dir) / LOCK_FILE).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def live_job(run_dir: Path) -> str | None:
    """A few words on the live job writing `run_dir`, or None when none is."""
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).exists():
        return None
    meta = _read_meta(run_dir)
    workers = meta.get("workers") or {}
    pids = [r.get("pid") for r in workers.get("ranks", []) if r]
    alive = [p for p in pids if _pid_alive(p)]
    if writer_locked(run_dir) or alive or _pid_alive(workers.get("launcher_pid")):
        beat = meta.get("heartbeat") or {}
        return f"pids {', '.join(map(str, alive or pids)) or '?'}, step {beat.get('step', 0)}"
    return None


def refuse_live_job(run_dir: Path) -> None:
    """RuntimeError when a live job writes `run_dir`: one writer a store."""
    live = live_job(run_dir)
    if live:
        raise RuntimeError(
            f"{run_dir} is used by a live job ({live}); refusing to start a second writer: "
            f"attach to it with gw.attach({str(run_dir)!r}) or choose another run_dir"
        )


def _read_meta(run_dir: Path) -> dict[str, Any]:
    try:
        reader = RunReader(run_dir)
    except FileNotFoundError:
        return {}
    try:
        return reader.meta()
    finally:
        reader.close()


class RemoteRun(Run):
    """A run trained by a torchrun job (`nproc=N`, or `gw.attach`). It reads and steers like a
    `Run`: `status`, `step`, `history`, snapshots, `dashboard()`, `pause` / `resume` /
    `stop` / `step_once` / `set`, `sample` and the family's capabilities, `wait`, `result`.

    Also: `commands` (what was sent and the step each was applied after), `heartbeat` (rank
    0's last: step, time, world size, status), `workers` (rank, pid, host of every process),
    `kill()` (end the process tree now) and `node_command` (the line to type on another node
    of a multi-node job)."""

    def __init__(
        self,
        config: RunConfig,
        family: Family,
        run_dir: Path,
        *,
        command: list[str] | None = None,
    ):
        super().__init__(
            config,
            family=family,
            data_source=None,
            device=torch.device("cpu"),
            run_dir=Path(run_dir),
            reopen=True,
        )
        self._command = command
        self._process: Any = None
        self.heartbeat: dict[str, Any] = {}
        self.workers: dict[str, Any] = {}
        self.failures: list[dict[str, Any]] = []
        self._cursors = {"metrics": 0, "evaluations": 0, "events": 0}
        self._attempt: int | None = None
        self._weights_step = -1
        self._tail_lock = threading.Lock()
        self._tail_thread: threading.Thread | None = None
        self._tail_stop = threading.Event()
        self._read_rowids()
        self._refresh()
        if self._alive():
            self._start_tail()

    # ------------------------------------------------------------------ the store, tailed
    def _read_rowids(self) -> None:
        """Cursors at the rows `_restore` already read (the base class read the store once)."""
        reader = RunReader(self.run_dir)
        try:
            for table in ("metrics", "evaluations"):
                self._cursors[table], _ = reader.rows_after(0, table)
            self._cursors["events"], _ = reader.events_after(0)
        finally:
            reader.close()

    def _start_tail(self) -> None:
        if self._tail_thread is not None and self._tail_thread.is_alive():
            return
        self._tail_stop.clear()
        self._tail_thread = threading.Thread(
            target=self._tail_loop, name=f"genai-widgets-tail:{self.name}", daemon=True
        )
        self._tail_thread.start()

    def _tail_loop(self) -> None:
        quiet_reads = 0
        while not self._tail_stop.is_set():
            try:
                self._refresh()
            except Exception as exc:  # a store mid-write: try again, say so if it lasts
                self.message = f"cannot read the job's store: {type(exc).__name__}: {exc}"
            if self._status in TERMINAL and not self._alive():
                quiet_reads += 1
                if quiet_reads > 2:  # the last rows are in
                    return
            self._tail_stop.wait(TAIL_SECONDS)

    def _refresh(self) -> None:
        """Read what the job wrote since the last call, then derive the status."""
        with self._tail_lock:
            try:
                reader = RunReader(self.run_dir)
            except FileNotFoundError:
                return
            try:
                meta = reader.meta()
                workers = meta.get("workers") or {}
                attempt = workers.get("attempt")
                if self._attempt is not None and attempt != self._attempt:
                    self._reload(reader)  # a restarted job rewound the store to a checkpoint
                self._attempt = attempt
                self.workers = workers
                self.heartbeat = meta.get("heartbeat") or {}
                self._read_new(reader)
            finally:
                reader.close()
            self._read_failures()
            self._derive_status()

    def _read_new(self, reader: RunReader) -> None:
        cursor, rows = reader.rows_after(self._cursors["metrics"], "metrics")
        if rows:
            cols = self._history.columns
            n = len(rows["step"])
            table = np.column_stack([rows.get(c, np.full(n, np.nan)) for c in cols])
            self._history.extend(table)
            self.step = int(rows["step"][-1])
            self._rate_window.append((time.perf_counter(), self.step))
        self._cursors["metrics"] = cursor
        cursor, rows = reader.rows_after(self._cursors["evaluations"], "evaluations")
        if rows:
            self._evaluations.restore(rows)
        self._cursors["evaluations"] = cursor
        known = {s for s, _, _ in self._snapshots}
        for step in reader.snapshot_steps():
            if step not in known and step > (self._snapshots[-1][0] if self._snapshots else -1):
                got = reader.snapshot(step)
                if got is not None:
                    self._snapshots.append((got[0], got[1], got[2]))
                    self._version += 1
        if len(self._snapshots) > MAX_SNAPSHOTS:
            self._thin_snapshots()
        cursor, events = reader.events_after(self._cursors["events"])
        for e in events:
            with self._cond:
                self._events.append(Event(e["kind"], int(e["step"]), float(e["time"]), e["data"]))
                self._event_total += 1
                self._version += 1
            if e["kind"] == "HyperparametersChanged":
                self._settings.update(e["data"])
        self._cursors["events"] = cursor

    def _reload(self, reader: RunReader) -> None:
        self._history = type(self._history)(self._history.columns)
        self._snapshots.clear()
        self._snapshot_cache.clear()
        self._cursors = {"metrics": 0, "evaluations": 0, "events": self._cursors["events"]}
        self._evaluations.history = type(self._evaluations.history)(
            self._evaluations.history.columns
        )
        self._version += 1

    def _read_failures(self) -> None:
        folder = self.run_dir / FAILURES_DIR
        found = []
        for path in sorted(folder.glob("rank*.json")) if folder.is_dir() else ():
            with contextlib.suppress(OSError, ValueError):
                found.append(json.loads(path.read_text()))
        started = float(self.workers.get("started") or 0.0)
        self.failures = sorted(
            (f for f in found if float(f.get("time", 0)) >= started - 1.0),
            key=lambda f: f.get("time", 0),
        )

    # ------------------------------------------------------------------ liveness and status
    def _alive(self) -> bool:
        """Whether any process of the job (its launcher, a worker) is alive on this host. No
        grace period after a launch: the launcher this handle started is its own child (its
        exit is seen by `poll`), and an attached job is alive while its launcher's or a
        worker's pid is, or the pid of the rank 0 that took the writer lock (before it wrote
        the workers' pids)."""
        if self._process is not None and self._process.poll() is None:
            return True
        if self._process is None and (
            _pid_alive(self.workers.get("launcher_pid")) or writer_locked(self.run_dir)
        ):
            return True  # an attached job: its launcher, or a rank 0 that holds the lock
        return any(_pid_alive(r.get("pid")) for r in self.workers.get("ranks", []) if r)

    def _dead_ranks(self) -> list[dict[str, Any]]:
        """The ranks whose process has ended: those that ended without a word (killed, or
        ended by torchrun) first, then those that raised, those whose collective lost a peer
        (`_peer_error`) last."""
        recorded = {f.get("rank"): f for f in self.failures}

        def order(r: dict[str, Any]) -> tuple[int, int]:
            failure = recorded.get(r["rank"])
            return (0 if failure is None else 2 if _peer_error(failure) else 1, r["rank"])

        dead = [r for r in self.workers.get("ranks", []) if r and not _pid_alive(r.get("pid"))]
        return sorted(dead, key=order)

    def _derive_status(self) -> None:
        last = None
        for e in reversed(list(self._events)):
            if e.kind in (*LIFECYCLE_EVENTS, "RunPaused", "RunResumed", "NonFiniteLoss"):
                last = e
                break
        alive = self._alive()
        # `status` and `message` are read without the lock (`run.status`, then `run.message`):
        # each branch sets the message first, so a reader who sees the new status sees its
        # message too.
        with self._cond:
            if alive:
                beat = self.heartbeat
                status = beat.get("status") or "running"
                status = status if status in ("running", "paused") else "running"
                message = self.message
                # Ranks end on their own once rank 0's last heartbeat says the run ended.
                dead = [] if beat.get("status") in TERMINAL else self._dead_ranks()
                age = time.time() - float(beat.get("time") or time.time())
                if dead and self.workers:
                    # A rank that raised on its own is the cause (torchrun then ends the
                    # others); else the first rank that ended without a word.
                    r, cause = dead[0], self._cause()
                    what = (
                        f"rank {cause['rank']} failed: {cause.get('error')}"
                        if cause is not None and not _peer_error(cause)
                        else f"worker rank {r['rank']} (pid {r['pid']}) has ended"
                    )
                    message = f"{what}; torchrun ends the job" + (
                        " and restarts it" if self.config.max_restarts else ""
                    )
                elif beat and age > HUNG_SECONDS:
                    message = f"no heartbeat from rank 0 for {age:.0f} s (hung?)"
                elif status == "paused" and last is not None and last.kind == "NonFiniteLoss":
                    message = (last.data or {}).get("message") or (
                        f"paused at step {last.step}: a non-finite loss"
                    )
                elif not self.failures:
                    message = None
                self.message = message
                self._status = status
                if not self.failures:
                    self.traceback_text = None  # a restarted job starts clean
                return
            code = self._process.poll() if self._process is not None else None
            if last is not None and last.kind == "RunFinished" and not self.failures:
                self.message, self._status = None, "finished"
            elif last is not None and last.kind == "RunStopped" and not self.failures:
                self.message, self._status = None, "stopped"
            elif self.failures or code or self.workers or self._process is not None:
                # A RunFailed event, a worker's traceback, or processes gone without a word.
                if not self.failures:
                    self.failures = self._logged_failures()
                self.message = self._failure_text()
                # What the dashboard shows under the message (`ControlsPanel.error_text`).
                self.traceback_text = self._failure_traceback()
                self._status = "failed"
            else:
                self._status = "stopped"

    def _cause(self) -> dict[str, Any] | None:
        """The failure record of the rank that failed first on its own (not one whose
        collective lost a peer), else the first record."""
        own = [f for f in self.failures if not _peer_error(f)]
        return (own or self.failures or [None])[0]

    def _failure_traceback(self) -> str:
        """The failing rank's traceback; when no rank raised on its own (one was killed), the
        message, then the traceback of the rank whose collective lost it."""
        cause = self._cause()
        text = str((cause or {}).get("traceback") or "")
        if cause is None or not text:
            return self.message or ""
        if _peer_error(cause):
            return (
                f"{self.message}\n\nrank {cause['rank']} then lost its peer in a "
                f"collective:\n{text}"
            )
        return f"rank {cause['rank']}'s traceback:\n{text}"

    def _logged_failures(self) -> list[dict[str, Any]]:
        """Failures of ranks that died before they could record one (e.g. the shipped config
        did not unpickle): the last traceback in each rank's stderr in torchrun's log
        directory (RUN_DIR/torchrun/<run id>/attempt_<n>/<rank>/stderr.log), latest attempt."""
        from .launch import TORCHRUN_LOGS

        attempts = sorted(
            (self.run_dir / TORCHRUN_LOGS).glob("*/attempt_*"), key=lambda d: d.stat().st_mtime
        )
        found = []
        for log in sorted(attempts[-1].glob("*/stderr.log")) if attempts else ():
            with contextlib.suppress(OSError, ValueError):
                text = log.read_text(errors="replace")
                start = text.rfind("Traceback (most recent call last):")
                if start < 0:
                    continue
                tb = text[start:].strip()
                found.append(
                    {
                        # torchrun names the folder by local rank: the rank on one node.
                        "rank": int(log.parent.name),
                        "error": tb.splitlines()[-1],
                        "traceback": tb + "\n",
                        "time": log.stat().st_mtime,
                        "source": str(log),
                    }
                )
        return sorted(found, key=lambda f: f["time"])

    def _root_cause(self) -> dict[str, Any] | None:
        """torchrun's own "Root Cause (first observed failure)" of the last launch in
        launcher.log (rank, exit code, pid, signal), once it gave up on the job."""
        from .launch import LAUNCHER_LOG

        try:
            text = (self.run_dir / LAUNCHER_LOG).read_text(errors="replace")
        except OSError:
            return None
        text = text[text.rfind("\n--- ") + 1 :]
        at = text.rfind("Root Cause (first observed failure):")
        if at < 0:
            return None
        block = text[at:]
        rank = re.search(r"rank\s*:\s*(\d+)", block)
        code = re.search(r"exitcode\s*:\s*(-?\d+)\s*\(pid:\s*(\d+)\)\s*(\(?\w*\)?)", block)
        if rank is None or code is None:
            return None
        return {
            "rank": int(rank.group(1)),
            "exitcode": int(code.group(1)),
            "pid": int(code.group(2)),
            "signal": code.group(3).strip("()") or None,
        }

    def _failure_text(self) -> str:
        """One line on why the job failed: the first rank that raised on its own; else the
        rank that ended without a traceback (killed: torchrun's root cause names it and the
        signal), the ranks whose collectives then lost it in a few words."""
        cause = self._cause()
        if cause is not None and not _peer_error(cause):
            return f"rank {cause['rank']} failed: {cause.get('error')}"
        root = self._root_cause()
        recorded = {f["rank"] for f in self.failures}
        silent = [r for r in self.workers.get("ranks", []) if r and r["rank"] not in recorded]
        culprit = None
        if root is not None and root["rank"] not in recorded:
            how = (
                f"was killed by {root['signal']}"
                if root["signal"]
                else f"ended with exit code {root['exitcode']} without a traceback"
            )
            culprit = f"worker rank {root['rank']} (pid {root['pid']}) {how}"
        elif silent:
            r = silent[0]
            culprit = (
                f"worker rank {r['rank']} (pid {r['pid']}) ended without a traceback (killed?)"
            )
        if culprit is not None:
            lost = sorted(recorded)
            return culprit + (
                f"; torchrun ended the job (rank {', '.join(map(str, lost))} then lost "
                "its peer in a collective)"
                if lost
                else "; torchrun ended the job"
            )
        if cause is not None:
            return f"rank {cause['rank']} failed: {cause.get('error')}"
        code = self._process.poll() if self._process is not None else None
        return "the job's processes ended without a word" + (
            f" (launcher exit code {code})" if code is not None else " (killed?)"
        )

    # ------------------------------------------------------------------ control
    def start(self) -> RemoteRun:
        """Launch the torchrun job (returns at once). On a stopped or finished job, launch it
        again: it resumes from the run directory's last checkpoint."""
        if self._alive() and (self._process is not None or self.workers):
            return self
        if self._command is None:
            from .launch import torchrun_command

            self._command = torchrun_command(self.config, self.run_dir)
        from .launch import start_launcher

        with self._cond:
            self._status, self.message = "running", None
            self.failures = []
            self.error = self.traceback_text = None
        self._process = start_launcher(self._command, self.run_dir)
        self._start_tail()
        return self

    def _send(self, command: str, args: dict[str, Any] | None = None) -> int:
        return write_command(self.run_dir, command, args)

    def pause(self) -> None:
        """Pause every rank at the next step boundary."""
        if self._status == "running":
            self._send("pause")

    def resume(self) -> None:
        """Resume a paused job; launch a stopped one again (from its last checkpoint)."""
        if self._alive() and (self._process is not None or self.workers):
            self._send("resume")
        else:
            self.start()

    def stop(self) -> None:
        """Stop every rank after the current step; rank 0 writes a checkpoint and every
        process of the job ends (`wait()` to see it; `kill()` ends them at once)."""
        if self._alive():
            self._send("stop")

    def kill(self, timeout: float = 10.0) -> None:
        """End the whole process tree now (SIGTERM, then SIGKILL): no final checkpoint."""
        pids = [r["pid"] for r in self.workers.get("ranks", []) if r]
        groups = set()
        if self._process is not None:
            groups.add(self._process.pid)
        for pid in [self.workers.get("launcher_pid"), *pids]:
            with contextlib.suppress(OSError, TypeError):
                groups.add(os.getpgid(int(pid)))
        if os.getpgrp() in groups:  # a job started from this process's group: not ourselves
            groups.discard(os.getpgrp())
            groups.update(-int(p) for p in [self.workers.get("launcher_pid"), *pids] if p)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for group in groups:
                with contextlib.suppress(OSError):
                    if group < 0:  # one process (see above)
                        os.kill(-group, sig)
                    else:
                        os.killpg(group, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._alive():
                time.sleep(0.1)
            if not self._alive():
                break
        self.wait(timeout)

    def set(self, **changes: Any) -> None:
        """Change hyper-parameters on every rank at the next step boundary; bad values raise
        ValueError here and nothing is sent."""
        self._check_settable(changes)
        proposed = self.config.replace(**{**self._settings, **changes})
        validate_config(proposed, resolved=True)
        self._send("set", changes)

    def step_once(self, wait: bool = True, timeout: float | None = 60.0) -> int:
        """Train exactly one step of a paused job (every rank), which stays paused."""
        if self._status != "paused":
            raise RuntimeError(
                f"step_once() trains one step of a paused run; run {self.name!r} is "
                f"{self._status}"
                + (": pause it first with run.pause()" if self._status == "running" else "")
            )
        before = self.step
        self._send("step")
        if not wait:
            return self.step
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.step <= before:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {self.name!r}: the step took longer than {timeout} s")
            if self._status in TERMINAL:
                break
            time.sleep(0.05)
        return self.step

    @property
    def ranks_final(self) -> dict[str, Any]:
        """What every rank ended with, written by rank 0 when the job ends (empty before):
        {"ranks": [{rank, step, checksum, lr}], "agree": bool}; the checksum is the float64
        sum of every parameter, `lr` one entry per optimizer param group."""
        return _read_meta(self.run_dir).get("ranks_final") or {}

    @property
    def commands(self) -> list[dict[str, Any]]:
        """Every command sent to the job: id, time, command, args, and `applied_step` (the step
        after which every rank applied it; None until rank 0 acknowledges it)."""
        reader = RunReader(self.run_dir)
        try:
            return reader.commands_after(0)
        finally:
            reader.close()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends (every process) or `timeout` passes; returns the status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._tail_thread is None or not self._tail_thread.is_alive():
                self._refresh()
                if self._status in TERMINAL and not self._alive():
                    return self._status
                self._start_tail()
            thread = self._tail_thread
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return self._status
            if thread is not None:
                thread.join(0.25 if left is None else min(0.25, left))
            if self._process is not None:
                self._process.poll()  # reap the launcher

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the end of the job; raise `WorkerError` (with the failing worker's
        traceback) if it failed, else return the trained modules from its last checkpoint."""
        status = self.wait(timeout)
        if status not in TERMINAL:
            raise TimeoutError(f"run {self.name!r} still {status} after {timeout} s")
        if status == "failed":
            text = self._failure_traceback()
            if not text.startswith(self.message or "the job failed"):
                text = f"{self.message or 'the job failed'}\n\n{text}"
            raise WorkerError(text)
        self._load_checkpoint_weights()
        return self.family.result()

    def save(self) -> Path:
        raise RuntimeError(
            f"run {self.name!r} trains in a torchrun job, which checkpoints itself (every "
            f"checkpoint_every={self.config.checkpoint_every} steps / "
            f"{self.config.checkpoint_every_seconds:g} s) and on stop()"
        )

    @property
    def node_command(self) -> str:
        """The launcher command for another node of this job (multi-node)."""
        from .launch import node_command

        return node_command(self.config, self.run_dir)

    def _emit(self, kind: str, data: dict[str, Any] | None = None) -> None:
        with self._cond:  # kept here only: the job writes the store
            self._events.append(Event(kind, self.step, time.time(), dict(data or {})))
            self._event_total += 1
            self._version += 1

    def _thin_snapshots(self) -> None:
        cut = (len(self._snapshots) * 2) // 3
        old = self._snapshots[:cut]
        self._snapshots = [s for i, s in enumerate(old) if i % 2 == 0] + self._snapshots[cut:]

    # ------------------------------------------------------------------ weights here
    def _inference_copy(self, role: str) -> nn.Module:
        self._fresh_weights()
        return super()._inference_copy(role)

    def _fresh_weights(self) -> None:
        """The latest weights in the local family: published by rank 0 on request while the
        job runs (one step boundary away), else the last checkpoint."""
        self._require_weights()
        path = self.run_dir / WEIGHTS_FILE
        if self._alive() and self.workers:
            if self._weights_step == self.step and self._weights_step >= 0:
                return
            before = path.stat().st_mtime_ns if path.exists() else 0
            self._send("publish")
            deadline = time.monotonic() + PUBLISH_TIMEOUT
            while time.monotonic() < deadline and self._alive():
                if path.exists() and path.stat().st_mtime_ns != before:
                    break
                time.sleep(0.02)
            if path.exists() and path.stat().st_mtime_ns != before:
                state = torch.load(path, map_location="cpu", weights_only=True)
                self._load_modules(state["modules"], int(state["step"]))
                return
        self._load_checkpoint_weights()

    def _load_checkpoint_weights(self) -> None:
        from .checkpoint import list_checkpoints, load_checkpoint

        found = list_checkpoints(self.run_dir)
        if not found or not self.has_weights:
            return
        state = load_checkpoint(found[-1])
        if int(state["step"]) == self._weights_step:
            return
        with self._step_lock:
            self.family.load_state_dict(state)
        self._weights_step = int(state["step"])
        self._copies.clear()

    def _load_modules(self, modules: dict[str, dict[str, Any]], step: int) -> None:
        live = self.family.inference_modules()
        with self._step_lock:
            for role, state in modules.items():
                if role in live:
                    live[role].load_state_dict(state)
        self._weights_step = step
        self._copies.clear()

    def __repr__(self) -> str:
        world = self.workers.get("world_size") or self.config.nproc * self.config.nnodes
        target = f"/{self.max_steps}" if self.max_steps else ""
        return (
            f"<RemoteRun {self.name!r} {self.status} step {self.step}{target} on {world} "
            f"processes at {self.run_dir}>"
        )


def _peer_error(failure: dict[str, Any]) -> bool:
    """Whether a worker's failure is the collective noticing a dead peer (not the cause).
    The worker records it ("collective": raised inside torch.distributed, see
    `distributed._in_collective`); a record without that field (a log's traceback) is
    judged by its last frame and error line."""
    if "collective" in failure:
        return bool(failure["collective"])
    lines = str(failure.get("traceback") or "").strip().splitlines()
    frames = [line for line in lines if line.lstrip().startswith("File ")]
    last = frames[-1] if frames else ""
    error = str(failure.get("error") or "").lower()
    return "torch/distributed/" in last.replace("\\", "/") or any(
        k in error for k in ("connection closed by peer", "connection reset by peer")
    )


def attach(run_dir: str | os.PathLike, *, timeout: float = 30.0) -> RemoteRun:
    """The handle on the job training in `run_dir` on this host, started anywhere: a
    notebook's `nproc=N` (also after a kernel restart), `python -m genai_widgets ...`,
    `torchrun ... -m genai_widgets ... --run-dir D`, a scheduler's job. A just-started job
    is waited for up to `timeout` s until rank 0 wrote its config. A finished job attaches
    too (read-only history, and sampling from its last checkpoint)."""
    from .registry import get_family

    run_dir = Path(run_dir).resolve()
    config_file = run_dir / "config.json"
    deadline = time.monotonic() + timeout
    while not config_file.exists():
        if not (run_dir / LAUNCH_FILE).exists() and not (run_dir / DB_NAME).exists():
            raise FileNotFoundError(
                f"{run_dir} is not a genai_widgets run directory (no config.json, no store)"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run_dir}: no job wrote config.json within {timeout} s")
        time.sleep(0.1)
    saved = json.loads(config_file.read_text())
    family_class = get_family(saved.pop("family", None) or "gan")
    meta = _read_meta(run_dir)
    # Rank 0 writes config.json a moment before its workers and heartbeat: a handle made in
    # between would see no process and call the live job stopped.
    while not meta.get("workers") and _being_written(run_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
        meta = _read_meta(run_dir)
    host = socket.gethostname()
    ranks = (meta.get("workers") or {}).get("ranks") or []
    if ranks and ranks[0] and ranks[0].get("host") not in (None, host):
        raise RuntimeError(
            f"rank 0 of the job in {run_dir} runs on {ranks[0]['host']!r} and this process on "
            f"{host!r}: its SQLite store (WAL mode) is read consistently only on the writer's "
            "host; attach from a notebook on that node"
        )
    config = _config_of(run_dir, saved, family_class)
    family: Family
    try:
        if any(
            isinstance(getattr(config, k), str) and getattr(config, k).startswith("<")
            for k in ("model", "data")
        ):
            raise ValueError("the run's own objects were not saved")
        local = config.replace(device="cpu", nproc=1, nnodes=1)
        family = family_class.build(local, torch.device("cpu")).family
    except Exception as exc:
        metric_names = tuple(c for c in _columns(run_dir) if c not in ("step", "time", "lr"))
        reason = (
            f"run {config.name or run_dir.name!r} cannot be sampled here: its modules could "
            f"not be rebuilt in this process ({exc})"
        )
        family = NoWeights(
            family_class,
            metric_names,
            {k: v for k, v in meta.items() if k not in ("family", "workers", "heartbeat")},
            reason,
            "watch and steer only: the modules were not rebuilt here",
            config,
        )
    return RemoteRun(config, family, run_dir)


def _being_written(run_dir: Path, recent: float = 10.0) -> bool:
    """Whether a process seems to be starting a run in `run_dir`: the writer lock is held, or
    the store changed in the last `recent` seconds with no lifecycle end recorded."""
    if writer_locked(run_dir):
        return True
    times = [
        p.stat().st_mtime for p in run_dir.glob(DB_NAME + "*") if p.exists()
    ]  # the database and its WAL
    if not times or time.time() - max(times) > recent:
        return False
    reader = RunReader(run_dir)
    try:
        _, events = reader.events_after(0)
    finally:
        reader.close()
    return not any(e["kind"] in ("RunFinished", "RunStopped", "RunFailed") for e in events)


def _columns(run_dir: Path) -> list[str]:
    reader = RunReader(run_dir)
    try:
        return reader.columns("metrics")
    finally:
        reader.close()


def _config_of(run_dir: Path, saved: dict[str, Any], family_class: Any) -> RunConfig:
    """The job's config: the shipped one (with the user's objects) when the notebook launched
    it, else the plain fields of config.json."""
    launch = run_dir / LAUNCH_FILE
    if launch.exists():
        import cloudpickle

        with contextlib.suppress(Exception), open(launch, "rb") as f:
            return cloudpickle.load(f)
    cls = family_class.config_class
    fields = {k: v for k, v in saved.items() if k in cls.__dataclass_fields__}
    fields["run_dir"] = str(run_dir)
    return build_config(cls, fields)


__all__ = ["RemoteRun", "WorkerError", "attach", "live_job", "refuse_live_job", "writer_locked"]
