"""The hmm family's snapshot panel (part of the HMMDashboard): one record per EM iteration
(`HMMFamily.snapshot`: the transition matrix with its states aligned between iterations, the
emissions, the occupancy, a sample, the restarts' leaderboard, the true parameters and the
matched errors on the casino), scrubbable by a step slider that follows the latest by default.
Only the record shown travels (`hmm_record`, as JSON bytes), made JSON-safe and with the true
transition matrix put in the shown states' order."""

from __future__ import annotations

import json
import math
import threading
from typing import Any

import numpy as np
import traitlets as t

from .._base import Panel
from ..flusher import Tick
from ..sample_grid import pick_snapshot

#: Symbols of a "symbols" sample that travel (the record may hold more).
MAX_SAMPLE_SYMBOLS = 400
RECORD_KEYS = (
    "n_states",
    "order",
    "transmat",
    "startprob",
    "occupancy",
    "top_symbols",
    "means",
    "covars",
    "points",
    "errors",
    "restarts",
    "text",
    "symbols",
    "passage",
)


def _safe(value: Any) -> Any:
    """`value` with NaN / inf as None and numpy numbers as Python ones (JSON-safe)."""
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _safe(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def aligned_truth(record: dict[str, Any]) -> list[list[float]] | None:
    """The true transition matrix in the order the record shows its states (None without
    truth or a matching). `errors["order"][i]` is the model state that plays true state i;
    `order[p]` the model state shown at position p."""
    truth = record.get("truth") or {}
    errors = record.get("errors") or {}
    shown = record.get("order")
    if "transmat" not in truth or "order" not in errors or shown is None:
        return None
    trans = np.asarray(truth["transmat"], dtype=np.float64)
    match = [int(s) for s in errors["order"]]
    k = len(shown)
    if trans.shape != (k, k) or len(match) != k:
        return None
    position = {int(state): p for p, state in enumerate(shown)}
    try:
        at = [position[state] for state in match]  # true state i -> shown position
    except KeyError:
        return None
    out = np.zeros((k, k))
    out[np.ix_(at, at)] = trans
    return out.round(5).tolist()


def hmm_record(record: Any, alphabet: Any = None) -> dict[str, Any]:
    """The snapshot record as it travels: its known fields (JSON-safe), the sample's symbols
    by their names in `alphabet` where given (the casino's "1".."6" for die faces 0-5), and
    `truth_transmat` (the true matrix in the shown order, or None)."""
    return encode_record(record, alphabet)[0]


def encode_record(record: Any, alphabet: Any = None) -> tuple[dict[str, Any], bytes]:
    """`hmm_record(record, alphabet)` and the same as UTF-8 JSON, what travels to the page.

    One JSON encoding does both: a record read back from the store is plain, finite JSON
    (the common case) and is encoded as it is; only one the encoder refuses (numpy values,
    NaN / inf) is walked in Python (`_safe`). The record changes at each EM iteration:
    walking its thousands of numbers, and ipywidgets' walk of a nested trait looking for
    binary buffers, were most of the flusher's tick."""
    record = record if isinstance(record, dict) else {}
    out: dict[str, Any] = {key: record.get(key) for key in RECORD_KEYS}
    if isinstance(out["symbols"], list):
        out["symbols"] = out["symbols"][:MAX_SAMPLE_SYMBOLS]
        names = list(alphabet) if alphabet else []
        symbols = out["symbols"]
        if names and all(isinstance(s, (int, np.integer)) and 0 <= s < len(names) for s in symbols):
            out["symbols"] = [str(names[int(s)]) for s in symbols]
    out["truth_transmat"] = aligned_truth(record)
    out["has_truth"] = bool(record.get("truth"))
    try:
        text = json.dumps(out, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):  # numpy values, NaN / inf
        out = _safe(out)
        text = json.dumps(out, allow_nan=False, separators=(",", ":"))
    return out, text.encode("utf-8")


class HMMSnapshotPanel(Panel):
    """Traits and flush logic of the snapshot panel: the record at the step slider."""

    hmm_count = t.Int(0).tag(sync=True)
    """int: snapshot records stored so far (one per EM iteration; thinned on long runs)."""

    hmm_index = t.Int(0).tag(sync=True)
    """int: the record shown, 0-based; the slider sets it."""

    hmm_step = t.Int(-1).tag(sync=True)
    """int: EM iteration (step) of the record shown (-1: none yet)."""

    hmm_follow = t.Bool(True).tag(sync=True)
    """bool: show each new record as it comes (default True); moving the slider back clears it."""

    hmm_record_json = t.Bytes(b"").tag(sync=True)
    """bytes: `hmm_record` as UTF-8 JSON, what travels to the page (one binary buffer: nothing
    nested for ipywidgets to walk at each EM iteration)."""

    hmm_record = t.Dict()
    """dict: the record shown (kept here; the page gets it as `hmm_record_json`): n_states,
    order, transmat (K x K in the shown order, None for large K), truth_transmat (the true
    matrix in that order, or None), startprob, occupancy, top_symbols (categorical: per state
    [[symbol, prob]]) or means / covars (gaussian),
    errors (matched against the truth, or None), restarts (leaderboard, best first, or None),
    text (a sample of text data) or symbols; {} before the first."""

    def _init_panel(self, run: Any) -> None:
        self._hmm_lock = threading.Lock()
        self._hmm_dirty = True
        self._hmm_seek: int | None = None
        self._hmm_shown: tuple[int, int] = (-1, -1)  # (index, step) last written
        self.observe(self._hmm_request, names=["hmm_index", "hmm_follow"])
        self._hmm_update(run, run.snapshot_count, run.snapshot_steps())

    def _hmm_request(self, _change: Any = None) -> None:
        with self._hmm_lock:
            self._hmm_dirty = True

    def _hmm_update(self, run: Any, count: int, steps: np.ndarray) -> None:
        with self._hmm_lock:
            seek, self._hmm_seek = self._hmm_seek, None
            self._hmm_dirty = False
        count = min(count, len(steps))
        if count != self.hmm_count:
            self.hmm_count = count
        if count == 0:
            return
        index, follow = pick_snapshot(
            steps[:count], seek, self.hmm_follow, self.hmm_index, self._hmm_shown
        )
        if follow != self.hmm_follow:
            self.hmm_follow = follow
        step = int(steps[index])
        if (index, step) != self._hmm_shown:
            alphabet = getattr(getattr(run, "family", None), "alphabet", None)
            record, encoded = encode_record(run.get_snapshot(index), alphabet)
            self.hmm_record = record
            self.hmm_record_json = encoded
            self._hmm_shown = (index, step)
        if self.hmm_index != index:
            self.hmm_index = index
        if self.hmm_step != step:
            self.hmm_step = step

    def _flush_panel(self, tick: Tick) -> None:
        with self._hmm_lock:
            dirty = self._hmm_dirty or self._hmm_seek is not None
        if dirty or tick.snapshot_count != self.hmm_count or tick.ended:
            self._hmm_update(tick.run, tick.snapshot_count, tick.snapshot_steps())

    def _handle_message(self, content: dict[str, Any]) -> bool:
        if content.get("type") == "seek_step":  # a click on the curves
            try:
                step = int(content.get("step"))
            except (TypeError, ValueError):
                return True
            with self._hmm_lock:
                self._hmm_seek = step
            return True
        return False

    def show_step(self, step: int) -> None:
        """What a click on the curves at `step` does (for scripts and tests): the panel shows
        the last record at or before it at the next flush."""
        self._on_custom_message(self, {"type": "seek_step", "step": int(step)}, [])

    def transition_matrix(self) -> np.ndarray | None:
        """The shown record's (K, K) transition matrix (None before the first or for large K)."""
        trans = self.hmm_record.get("transmat")
        return None if trans is None else np.asarray(trans, dtype=np.float64)
