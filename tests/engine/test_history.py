"""Bounded memory: a million steps of history stays small, and spikes stay visible."""

import numpy as np

from genai_widgets.engine.history import History


def test_million_steps_stay_under_20_mb_and_keep_spikes():
    cols = ["step", "time", "loss_d", "loss_g", "d_real", "d_fake", "gp", "lr"]
    h = History(cols)
    rows = np.ones((1_000_000, len(cols)))
    rows[:, 0] = np.arange(1, 1_000_001)
    rows[123_457, 2] = 1e6  # one spike, long folded away by the end
    for start in range(0, len(rows), 50_000):
        h.extend(rows[start : start + 50_000])
    assert h.total == 1_000_000
    assert h.nbytes() < 20 * 2**20
    data = h.as_dict()
    n = len(data["step"])
    assert n < 20_000
    assert np.all(np.diff(data["step"]) > 0), "steps must stay ordered after folding"
    assert data["step"][-1] == 1_000_000  # the newest rows are exact
    lo, hi = h.extremes()["loss_d"]
    assert hi.max() == 1e6 and lo.min() == 1.0


def test_since_returns_exact_new_rows():
    h = History(["step", "v"], recent=16)
    cursor = 0
    seen = []
    for i in range(1, 101):
        h.append({"step": i, "v": i * 2})
        if i % 3 == 0:
            cursor, new = h.since(cursor)
            seen.extend(new["step"].tolist())
    cursor, new = h.since(cursor)
    seen.extend(new["step"].tolist())
    assert seen == list(range(1, 101))


def test_column_added_mid_run():
    h = History(["step", "a"], recent=16)
    h.append({"step": 1, "a": 1.0})
    h.add_column("b")
    h.append({"step": 2, "a": 2.0, "b": 5.0})
    d = h.as_dict()
    assert np.isnan(d["b"][0]) and d["b"][1] == 5.0
