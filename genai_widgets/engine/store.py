"""The run store: one SQLite database per run directory (WAL mode, so another process can read
while the trainer writes) holding metrics, evaluations (measures computed every so many steps,
with their own step column), fixed-noise sample snapshots and events.

Writes go through a queue to one writer thread that commits in batches, so the training step
never waits on the disk."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

DB_NAME = "run.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (step INTEGER NOT NULL, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_step ON metrics(step);
CREATE TABLE IF NOT EXISTS evaluations (step INTEGER NOT NULL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    step INTEGER PRIMARY KEY, time REAL NOT NULL, png BLOB NOT NULL,
    n INTEGER NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL,
    channels INTEGER NOT NULL, nrow INTEGER NOT NULL, padding INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    time REAL NOT NULL, step INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS control (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, command TEXT NOT NULL,
    args TEXT NOT NULL, applied_step INTEGER, applied_time REAL
);
"""
#: What the control table takes (`write_command`); the worker applies them at a step boundary.
COMMANDS = ("pause", "resume", "stop", "set", "step", "publish")


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=30
        )
    else:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (only an OS crash can lose the last commits).
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
    return conn


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class RunStore:
    """Writer side of a run directory's database."""

    def __init__(self, run_dir: str | Path, *, flush_interval: float = 0.5):
        self.path = Path(run_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path)
        self._columns = {
            table: {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            for table in ("metrics", "evaluations")
        }
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._flush_interval = flush_interval
        self._error: BaseException | None = None
        self._closed = False
        # The writer thread starts on demand and ends after `idle_exit` quiet seconds, so a
        # finished run holds no thread.
        self._idle_exit = 5.0
        self._thread_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _put(self, item: tuple[str, Any] | None) -> None:
        with self._thread_lock:
            self._queue.put(item)
            if self._thread is None and item is not None:
                self._thread = threading.Thread(
                    target=self._writer, name="genai-widgets-store", daemon=True
                )
                self._thread.start()

    # -- producer side (any thread) ------------------------------------------------------------
    def add_metrics(self, columns: list[str], rows: np.ndarray) -> None:
        """Rows of floats in `columns` order; must include "step" and "time"."""
        if len(rows):
            self._put(("metrics", (list(columns), np.array(rows, dtype=np.float64))))

    def add_evaluations(self, columns: list[str], rows: np.ndarray) -> None:
        """Evaluation rows (floats in `columns` order, "step" and "time" included)."""
        if len(rows):
            self._put(("evaluations", (list(columns), np.array(rows, dtype=np.float64))))

    def add_snapshot(
        self, step: int, png: bytes, shape: tuple[int, int, int, int], nrow: int, padding: int
    ) -> None:
        self._put(("snapshot", (int(step), time.time(), png, shape, nrow, padding)))

    def delete_snapshots(self, steps: Iterable[int]) -> None:
        self._put(("delete_snapshots", [int(s) for s in steps]))

    def add_event(self, step: int, kind: str, data: dict[str, Any] | None = None) -> None:
        self._put(("event", (time.time(), int(step), kind, json.dumps(data or {}, default=str))))

    def set_meta(self, key: str, value: Any) -> None:
        self._put(("meta", (key, json.dumps(value, default=str))))

    def ack_command(self, command_id: int, step: int) -> None:
        """Record that control command `command_id` was applied after step `step`."""
        self._put(("ack", (int(step), time.time(), int(command_id))))

    def truncate_after(self, step: int) -> None:
        """Drop rows past `step` (a resumed run rewinds to its checkpoint)."""
        self._put(("truncate", int(step)))

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is committed."""
        done = threading.Event()
        self._put(("barrier", done))
        if not done.wait(timeout):
            raise TimeoutError(f"run store did not flush within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"run store writer failed: {self._error!r}") from self._error

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._thread_lock:
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout=30)
        self._conn.close()

    # -- writer thread -------------------------------------------------------------------------
    def _writer(self) -> None:
        pending: list[tuple[str, Any]] = []
        last_commit = last_item = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self._flush_interval)
                last_item = time.monotonic()
            except queue.Empty:
                item = ("tick", None)
                if not pending and time.monotonic() - last_item > self._idle_exit:
                    with self._thread_lock:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
            if item is None:
                self._commit(pending)
                return
            if item[0] not in ("tick", "barrier"):
                pending.append(item)
            # Commit on a clock, not on idleness: a busy trainer never leaves the queue idle.
            due = time.monotonic() - last_commit >= self._flush_interval
            if item[0] in ("tick", "barrier") or due or len(pending) >= 256:
                self._commit(pending)
                pending = []
                last_commit = time.monotonic()
                if item[0] == "barrier":
                    item[1].set()

    def _commit(self, items: list[tuple[str, Any]]) -> None:
        if not items:
            return
        try:
            with self._conn:
                for kind, payload in items:
                    getattr(self, f"_write_{kind}")(payload)
        except BaseException as exc:  # keep training; surface on flush()
            self._error = exc

    def _write_metrics(self, payload: tuple[list[str], np.ndarray], table: str = "metrics") -> None:
        columns, rows = payload
        known = self._columns[table]
        for c in columns:
            if c not in known:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {_quote(c)} REAL")
                known.add(c)
        cols = ", ".join(_quote(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        # NaN is stored as NULL by sqlite3; that is what we want for "not measured".
        self._conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows.tolist())

    def _write_evaluations(self, payload: tuple[list[str], np.ndarray]) -> None:
        self._write_metrics(payload, table="evaluations")

    def _write_snapshot(self, payload: Any) -> None:
        step, t, png, (n, h, w, c), nrow, padding = payload
        self._conn.execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (step, t, png, n, h, w, c, nrow, padding),
        )

    def _write_delete_snapshots(self, steps: list[int]) -> None:
        self._conn.executemany("DELETE FROM snapshots WHERE step = ?", [(s,) for s in steps])

    def _write_event(self, payload: Any) -> None:
        self._conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)", payload)

    def _write_meta(self, payload: Any) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", payload)

    def _write_ack(self, payload: Any) -> None:
        self._conn.execute(
            "UPDATE control SET applied_step = ?, applied_time = ? WHERE id = ?", payload
        )

    def _write_truncate(self, step: int) -> None:
        self._conn.execute("DELETE FROM metrics WHERE step > ?", (step,))
        self._conn.execute("DELETE FROM evaluations WHERE step > ?", (step,))
        self._conn.execute("DELETE FROM snapshots WHERE step > ?", (step,))


class RunReader:
    """Read side: any process may open a run directory while it trains."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / DB_NAME
        if not self.path.exists():
            raise FileNotFoundError(f"no run database at {self.path}")
        self._conn = _connect(self.path, readonly=True)

    def close(self) -> None:
        self._conn.close()

    def metrics(self, max_step: int | None = None, table: str = "metrics") -> dict[str, np.ndarray]:
        try:
            cur = self._conn.execute(
                f"SELECT * FROM {table}"
                + (" WHERE step <= ?" if max_step is not None else "")
                + " ORDER BY step, rowid",
                (() if max_step is None else (max_step,)),
            )
        except sqlite3.OperationalError:  # a database from before the table existed
            return {}
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
        data = np.array(rows, dtype=np.float64) if rows else np.empty((0, len(names)))
        return {n: data[:, i] for i, n in enumerate(names)}

    def evaluations(self, max_step: int | None = None) -> dict[str, np.ndarray]:
        """Evaluation rows (own "step" column), e.g. mode coverage every so many steps."""
        return self.metrics(max_step, table="evaluations")

    def snapshots(
        self, max_step: int | None = None
    ) -> list[tuple[int, bytes, tuple[int, int, int, int], int, int]]:
        q = "SELECT step, png, n, height, width, channels, nrow, padding FROM snapshots"
        args: tuple = ()
        if max_step is not None:
            q += " WHERE step <= ?"
            args = (max_step,)
        return [
            (r[0], bytes(r[1]), (r[2], r[3], r[4], r[5]), r[6], r[7])
            for r in self._conn.execute(q + " ORDER BY step", args)
        ]

    def events(
        self, last: int | None = None, kinds: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """Events in the order they happened: all, or the `last` so many (of `kinds` only)."""
        where, args = "", ()
        if kinds is not None:
            kinds = tuple(kinds)
            where = f" WHERE kind IN ({', '.join('?' for _ in kinds)})"
            args = kinds
        q = f"SELECT rowid, time, step, kind, data FROM events{where} ORDER BY rowid DESC"
        if last is not None:
            q += f" LIMIT {int(last)}"
        rows = self._conn.execute(q, args).fetchall()
        return [
            {"time": t, "step": s, "kind": k, "data": json.loads(d)}
            for _, t, s, k, d in reversed(rows)
        ]

    def columns(self, table: str = "metrics") -> list[str]:
        """The columns of `table` ("metrics", "evaluations") in the order they were added."""
        if table not in ("metrics", "evaluations"):
            raise ValueError(f"table must be 'metrics' or 'evaluations', got {table!r}")
        return [row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")]

    def last_step(self) -> int:
        """The highest step with a metric row (0: none)."""
        (step,) = self._conn.execute("SELECT MAX(step) FROM metrics").fetchone()
        return int(step or 0)

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}

    # -- tailing a live run (another process writes) -------------------------------------------
    def rows_after(self, rowid: int, table: str = "metrics") -> tuple[int, dict[str, np.ndarray]]:
        """Rows of `table` ("metrics", "evaluations") added after `rowid`, and the new cursor."""
        if table not in ("metrics", "evaluations"):
            raise ValueError(f"table must be 'metrics' or 'evaluations', got {table!r}")
        cur = self._conn.execute(
            f"SELECT rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid", (rowid,)
        )
        names = [d[0] for d in cur.description][1:]
        rows = cur.fetchall()
        if not rows:
            return rowid, {}
        data = np.array([r[1:] for r in rows], dtype=np.float64)
        return int(rows[-1][0]), {n: data[:, i] for i, n in enumerate(names)}

    def events_after(self, rowid: int) -> tuple[int, list[dict[str, Any]]]:
        """Events added after `rowid`, oldest first, and the new cursor."""
        rows = self._conn.execute(
            "SELECT rowid, time, step, kind, data FROM events WHERE rowid > ? ORDER BY rowid",
            (rowid,),
        ).fetchall()
        if not rows:
            return rowid, []
        out = [{"time": t, "step": s, "kind": k, "data": json.loads(d)} for _, t, s, k, d in rows]
        return int(rows[-1][0]), out

    def snapshot_steps(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT step FROM snapshots ORDER BY step")]

    def snapshot(self, step: int) -> tuple[int, bytes, tuple[int, int, int, int], int, int] | None:
        row = self._conn.execute(
            "SELECT step, png, n, height, width, channels, nrow, padding FROM snapshots "
            "WHERE step = ?",
            (step,),
        ).fetchone()
        if row is None:
            return None
        return row[0], bytes(row[1]), (row[2], row[3], row[4], row[5]), row[6], row[7]

    def commands_after(self, command_id: int) -> list[dict[str, Any]]:
        """Control commands written after `command_id`, oldest first."""
        try:
            rows = self._conn.execute(
                "SELECT id, time, command, args, applied_step FROM control WHERE id > ? "
                "ORDER BY id",
                (command_id,),
            ).fetchall()
        except sqlite3.OperationalError:  # a store from before the control table
            return []
        return [
            {"id": i, "time": t, "command": c, "args": json.loads(a), "applied_step": s}
            for i, t, c, a, s in rows
        ]


def write_command(run_dir: str | Path, command: str, args: dict[str, Any] | None = None) -> int:
    """Append a control command for the job training in `run_dir` (committed at once);
    returns its id. The worker's rank 0 reads it at the next step boundary and acknowledges
    it with the step (`RunReader.commands_after`)."""
    if command not in COMMANDS:
        raise ValueError(f"unknown control command {command!r}; one of {', '.join(COMMANDS)}")
    path = Path(run_dir) / DB_NAME
    if not path.exists():
        raise FileNotFoundError(f"no run database at {path}")
    conn = _connect(path)
    try:
        with conn:
            cur = conn.execute(
                "INSERT INTO control (time, command, args) VALUES (?, ?, ?)",
                (time.time(), command, json.dumps(args or {}, default=str)),
            )
        return int(cur.lastrowid or 0)
    finally:
        conn.close()
