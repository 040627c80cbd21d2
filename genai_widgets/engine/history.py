"""Bounded metric history: recent rows kept exactly in a ring, older rows folded into blocks
(mean, min, max) whose size doubles as the run grows, so memory stays flat for any run length
and spikes stay visible."""

from __future__ import annotations

import threading

import numpy as np


class History:
    """Append-only table of float metrics keyed by step, thread-safe.

    `recent` exact rows (default 8192) + at most `max_blocks` folded blocks (default 4096).
    With 8 columns that is under 1 MB whatever the run's length."""

    def __init__(self, columns: list[str], *, recent: int = 8192, max_blocks: int = 4096):
        if recent < 16 or recent % 2:
            raise ValueError("recent must be an even number >= 16")
        self.columns = list(columns)
        self._col = {c: i for i, c in enumerate(self.columns)}
        self._cap = recent
        self._max_blocks = max_blocks
        self._lock = threading.Lock()
        k = len(self.columns)
        self._rows = np.empty((recent, k), dtype=np.float64)
        self._n = 0  # rows in the ring (oldest at index 0: we shift, which is cheap at fold time)
        self._total = 0  # rows ever appended: cursor for `since`
        # Folded blocks: mean / min / max per column, and how many rows each block holds.
        self._bmean = np.empty((0, k))
        self._bmin = np.empty((0, k))
        self._bmax = np.empty((0, k))
        self._bcount = np.empty((0,), dtype=np.int64)
        self._block = 16  # rows per block for the next fold

    def __len__(self) -> int:
        return self._total

    @property
    def total(self) -> int:
        return self._total

    def add_column(self, name: str) -> None:
        """A metric that appears mid-run (NaN for earlier rows)."""
        with self._lock:
            if name in self._col:
                return
            self._col[name] = len(self.columns)
            self.columns.append(name)
            pad = lambda a: np.concatenate([a, np.full((a.shape[0], 1), np.nan)], axis=1)  # noqa: E731
            self._rows = pad(self._rows)
            self._bmean, self._bmin, self._bmax = pad(self._bmean), pad(self._bmin), pad(self._bmax)

    def append(self, row: dict[str, float] | np.ndarray) -> None:
        """One row, either a dict by column name or an array in column order."""
        with self._lock:
            if self._n == self._cap:
                self._fold()
            if isinstance(row, dict):
                dest = self._rows[self._n]
                dest[:] = np.nan
                for name, value in row.items():
                    dest[self._col[name]] = value
            else:
                self._rows[self._n] = row
            self._n += 1
            self._total += 1

    def extend(self, rows: np.ndarray) -> None:
        """Many rows at once (column order), folding as the ring fills."""
        rows = np.asarray(rows, dtype=np.float64)
        with self._lock:
            i = 0
            while i < len(rows):
                if self._n == self._cap:
                    self._fold()
                take = min(self._cap - self._n, len(rows) - i)
                self._rows[self._n : self._n + take] = rows[i : i + take]
                self._n += take
                self._total += take
                i += take

    def _fold(self) -> None:
        # Fold the oldest half of the ring into blocks of `self._block` rows.
        half = self._cap // 2
        b = min(self._block, half)
        old = self._rows[:half]
        usable = (half // b) * b
        chunks = old[:usable].reshape(-1, b, old.shape[1])
        with np.errstate(all="ignore"):
            means = np.nanmean(chunks, axis=1) if np.isnan(chunks).any() else chunks.mean(axis=1)
            mins = np.nanmin(chunks, axis=1) if np.isnan(chunks).any() else chunks.min(axis=1)
            maxs = np.nanmax(chunks, axis=1) if np.isnan(chunks).any() else chunks.max(axis=1)
        self._bmean = np.concatenate([self._bmean, means])
        self._bmin = np.concatenate([self._bmin, mins])
        self._bmax = np.concatenate([self._bmax, maxs])
        self._bcount = np.concatenate([self._bcount, np.full(len(means), b, dtype=np.int64)])
        # Rows not filling a block stay in the ring.
        keep = self._n - usable
        self._rows[:keep] = self._rows[usable : self._n]
        self._n = keep
        if len(self._bcount) > self._max_blocks:
            self._merge_blocks()

    def _merge_blocks(self) -> None:
        # Pairwise merge: halves the block count, doubles the span of each; later folds use the
        # doubled size so block sizes stay monotone from old to new.
        m = len(self._bcount) // 2 * 2
        w = self._bcount[:m].reshape(-1, 2).astype(np.float64)
        mean = self._bmean[:m].reshape(-1, 2, self._bmean.shape[1])
        with np.errstate(all="ignore"):
            merged_mean = (mean * w[:, :, None]).sum(axis=1) / w.sum(axis=1)[:, None]
            merged_min = np.fmin(self._bmin[:m:2], self._bmin[1:m:2])
            merged_max = np.fmax(self._bmax[:m:2], self._bmax[1:m:2])
        self._bmean = np.concatenate([merged_mean, self._bmean[m:]])
        self._bmin = np.concatenate([merged_min, self._bmin[m:]])
        self._bmax = np.concatenate([merged_max, self._bmax[m:]])
        self._bcount = np.concatenate([w.sum(axis=1).astype(np.int64), self._bcount[m:]])
        self._block *= 2

    def as_dict(self) -> dict[str, np.ndarray]:
        """Column -> array: folded blocks (their means) followed by the exact recent rows."""
        with self._lock:
            data = np.concatenate([self._bmean, self._rows[: self._n]])
        return {c: data[:, i].copy() for i, c in enumerate(self.columns)}

    def extremes(self) -> dict[str, np.ndarray]:
        """Column -> (min, max) arrays aligned with `as_dict()` (equal for exact rows)."""
        with self._lock:
            recent = self._rows[: self._n]
            lo = np.concatenate([self._bmin, recent])
            hi = np.concatenate([self._bmax, recent])
        return {c: (lo[:, i].copy(), hi[:, i].copy()) for i, c in enumerate(self.columns)}

    def since(self, cursor: int) -> tuple[int, dict[str, np.ndarray]]:
        """Exact rows appended after `cursor` that are still in the ring, and the new cursor."""
        with self._lock:
            first_kept = self._total - self._n
            start = max(cursor, first_kept) - first_kept
            data = self._rows[start : self._n].copy()
            total = self._total
        return total, {c: data[:, i] for i, c in enumerate(self.columns)}

    def last(self) -> dict[str, float]:
        with self._lock:
            if self._n == 0:
                if len(self._bmean):
                    return {c: float(self._bmean[-1, i]) for i, c in enumerate(self.columns)}
                return {}
            row = self._rows[self._n - 1]
            return {c: float(row[i]) for i, c in enumerate(self.columns)}

    def nbytes(self) -> int:
        return sum(
            a.nbytes for a in (self._rows, self._bmean, self._bmin, self._bmax, self._bcount)
        )
