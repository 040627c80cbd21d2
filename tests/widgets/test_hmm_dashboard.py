"""The HMMDashboard with no frontend, on real tiny HMM runs: `run.dashboard()` picks it, the
snapshot trait holds the transition heatmap (with the true matrix in the shown order and the
matched errors on the casino), the emissions (top symbols; means for gaussian data) and the
restarts' leaderboard of the record at the slider's step, scrubbing changes the record shown,
and the static PNG stands in without a kernel."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from widget_helpers import StubRun, wait_until

import genai_widgets as gw
from genai_widgets.widgets import _base
from genai_widgets.widgets.hmm.dashboard import draw_ribbon, state_color
from genai_widgets.widgets.hmm.snapshots import aligned_truth, hmm_record


@pytest.fixture(scope="module")
def casino_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two states on the dishonest casino, three restarts, six EM iterations."""
    run = gw.train_hmm(
        data="casino",
        n_states=2,
        restarts=3,
        max_iters=6,
        tol=0.0,
        run_dir=tmp_path_factory.mktemp("hmm"),
    )
    run.wait(60)
    assert run.status == "finished", run.traceback_text
    yield run


@pytest.fixture
def dash(casino_run: Any) -> Iterator[Any]:
    d = casino_run.dashboard()
    yield d
    d.close()


def test_bundle_is_built_and_run_dashboard_picks_it(casino_run, dash):
    path = _base.STATIC / "hmm_dashboard.js"
    assert path.exists(), f"{path} missing: run `npm install && npm run build`"
    assert isinstance(dash, gw.HMMDashboard)
    assert "export" in dash._esm and "the front-end bundle" not in dash._esm
    assert {"log_likelihood", "val_log_likelihood"} <= set(dash.curve_columns)
    assert not {"log_likelihood", "val_log_likelihood"} & set(dash.hidden_series)
    assert {"gain", "r0_log_likelihood", "r2_val_log_likelihood"} <= set(dash.hidden_series)
    assert dash.smoothing == 0.0 and dash.control_fields == []
    with pytest.raises(TypeError, match="needs an hmm run"):
        gw.HMMDashboard(StubRun())


def test_snapshot_holds_heatmap_truth_emissions_and_leaderboard(casino_run, dash):
    count = casino_run.snapshot_count
    assert count >= 3
    wait_until(lambda: dash.hmm_count == count, 10, "snapshot count")
    steps = casino_run.snapshot_steps()
    assert dash.hmm_step == int(steps[-1]) and dash.hmm_index == count - 1 and dash.hmm_follow
    last = casino_run.get_snapshot(count - 1)
    record = dash.hmm_record
    trans = dash.transition_matrix()
    assert trans.shape == (2, 2) and np.allclose(trans.sum(1), 1, atol=1e-4)
    assert record["transmat"] == last["transmat"]
    # The true matrix, put in the order the heatmap shows the states: each true state where
    # the model state matched to it is shown.
    truth = np.asarray(record["truth_transmat"])
    assert sorted(np.diag(truth).round(2)) == [0.9, 0.95]
    assert record["has_truth"] and record["errors"]["transmat"] == last["errors"]["transmat"]
    assert "transitions" in dash.errors_text()
    assert len(record["top_symbols"]) == 2 and len(record["top_symbols"][0]) == 5
    assert all(str(sym) in "123456" for sym, _ in record["top_symbols"][0])
    lines = dash.emission_lines()
    assert len(lines) == 2 and lines[0].startswith("state 0")
    board = record["restarts"]
    assert [row["restart"] for row in board] and len(board) == 3
    values = [row["log_likelihood"] for row in board]
    assert values == sorted(values, reverse=True)
    assert dash.leaderboard_lines()[0].startswith("#1 restart")
    # The sample's die faces by their names, 1-6.
    assert set(record["symbols"]) <= set("123456") and len(record["symbols"]) > 10
    assert dash.sample_text()
    # The posterior ribbon over the start of the held-out rolls, with its Viterbi path, in
    # the heatmap's state order: the same numbers as predict_proba and decode give for them.
    passage = record["passage"]
    posterior = np.asarray(passage["posterior"])
    assert posterior.shape == (80, 2) and np.allclose(posterior.sum(1), 1, atol=0.02)
    held = casino_run.family.data.held.x[:80].numpy()
    assert passage["symbols"] == [str(s + 1) for s in held]
    order = record["order"]
    expected = casino_run.predict_proba(held.reshape(-1, 1))[:, order]
    assert np.abs(posterior - expected).max() <= 0.005 + 1e-9
    _, states = casino_run.decode(held.reshape(-1, 1))
    assert passage["viterbi"] == [order.index(int(s)) for s in states]
    # The static fallback draws the same ribbon: each column's strip in its Viterbi colour.
    image = draw_ribbon(passage, 2, width=8, height=40)
    assert image.size == (80 * 8, 50)
    strip = [image.getpixel((t * 8 + 4, 46)) for t in range(80)]
    assert strip == [state_color(s, 2) for s in passage["viterbi"]]


def test_scrubbing_changes_the_shown_snapshot(casino_run, dash):
    count = casino_run.snapshot_count
    wait_until(lambda: dash.hmm_count == count, 10, "snapshot count")
    steps = casino_run.snapshot_steps()
    latest = dash.hmm_record
    dash.hmm_follow = False
    dash.hmm_index = 0
    wait_until(lambda: dash.hmm_step == int(steps[0]), 10, "the first snapshot")
    assert dash.hmm_record["transmat"] == casino_run.get_snapshot(0)["transmat"]
    assert dash.hmm_record["transmat"] != latest["transmat"]
    dash.show_step(int(steps[1]))  # a click on the curves
    wait_until(lambda: dash.hmm_step == int(steps[1]), 10, "the clicked step")
    assert dash.hmm_index == 1 and not dash.hmm_follow
    dash.show_step(int(steps[-1]) + 100)  # past the newest: follows again
    wait_until(lambda: dash.hmm_follow and dash.hmm_index == count - 1, 10, "following again")


def test_static_png_and_mimebundle(casino_run, dash):
    png = dash.static_png()
    img = Image.open(io.BytesIO(png))
    assert img.width > 600 and len(img.convert("RGB").getcolors(1 << 20) or []) > 20
    data, _ = dash._repr_mimebundle_()
    assert data["image/png"] and "HMMDashboard" in data["text/plain"]


def test_aligned_truth_follows_the_shown_order():
    truth = {"transmat": [[0.9, 0.1], [0.2, 0.8]]}
    # model state 1 plays true state 0; the heatmap shows model state 1 first
    record = {"truth": truth, "errors": {"order": [1, 0]}, "order": [1, 0]}
    assert aligned_truth(record) == [[0.9, 0.1], [0.2, 0.8]]
    record["order"] = [0, 1]
    assert aligned_truth(record) == [[0.8, 0.2], [0.1, 0.9]]
    assert aligned_truth({"order": [0, 1]}) is None
    safe = hmm_record({"n_states": 1, "transmat": [[float("nan")]], "symbols": list(range(1000))})
    assert safe["transmat"] == [[None]] and len(safe["symbols"]) == 400
    assert safe["truth_transmat"] is None and not safe["has_truth"]
    named = hmm_record({"symbols": [0, 5, 2]}, alphabet=["1", "2", "3", "4", "5", "6"])
    assert named["symbols"] == ["1", "6", "3"]


def test_a_plain_record_travels_as_it_is_and_others_are_made_safe():
    # A record read back from the store is plain, finite JSON: sent as it is, not walked.
    posterior = [[0.25, 0.75]] * 80
    plain = hmm_record({"passage": {"posterior": posterior, "viterbi": [1] * 80}})
    assert plain["passage"]["posterior"] is posterior
    # numpy values and non-finite numbers, at any depth, are converted.
    mixed = hmm_record(
        {
            "transmat": np.array([[0.5, 0.5], [np.inf, 0.0]]),
            "occupancy": [np.float32(0.25), np.int64(3)],
            "passage": {"posterior": [[float("-inf"), 1.0]], "viterbi": [np.int64(1)]},
        }
    )
    assert mixed["transmat"] == [[0.5, 0.5], [None, 0.0]]
    assert mixed["occupancy"] == [0.25, 3] and type(mixed["occupancy"][1]) is int
    assert mixed["passage"] == {"posterior": [[None, 1.0]], "viterbi": [1]}


def test_gaussian_run_shows_means(tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, (200, 1)), rng.normal(3, 1, (200, 1))])
    run = gw.train_hmm(
        data=[x], n_states=2, emission="gaussian", max_iters=3, run_dir=tmp_path / "gaussian-dash"
    )
    run.wait(60)
    assert run.status == "finished", run.traceback_text
    d = run.dashboard()
    try:
        assert d.hmm_count >= 1
        record = d.hmm_record
        assert record["top_symbols"] is None and len(record["means"]) == 2
        assert all(line.split(": ", 1)[1].startswith("mean ") for line in d.emission_lines())
        # The data under the ellipses: evenly spaced training vectors, the same each snapshot.
        train = run.family.data.train.x.numpy()
        points = np.asarray(record["points"])
        assert points.shape == (min(300, len(train)), 1)
        assert np.allclose(points[0], train[0, :2], atol=1e-4)
        assert np.allclose(points[-1], train[-1, :2], atol=1e-4)
        assert d.static_png()
    finally:
        d.close()
