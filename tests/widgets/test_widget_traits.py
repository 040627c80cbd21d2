"""Widget traits and messages with no frontend: the Python half of the wire protocol."""

from __future__ import annotations

import ast
import base64
import io
import pathlib
import threading
import time

import numpy as np
import pytest
from PIL import Image
from widget_helpers import Recorder, StubRun, wait_until

import genai_widgets as gw
from genai_widgets.widgets import Flusher, _base
from genai_widgets.widgets.controls import parse_field
from genai_widgets.widgets.loss_curve import (
    CURVE_ROWS_PER_S,
    decimate,
    decimate_by_time,
    pack_columns,
)

WIDGETS = [gw.LossCurve, gw.SampleGrid, gw.LatentExplorer, gw.Controls, gw.DataSpace, gw.Dashboard]
WIDGET_DIR = pathlib.Path(_base.__file__).parent


def unpack(buffer: bytes, columns: list[str]) -> dict[str, np.ndarray]:
    values = np.frombuffer(buffer, dtype=np.float32)
    rows = len(values) // len(columns)
    return {c: values[i * rows : (i + 1) * rows] for i, c in enumerate(columns)}


def close_all(*widgets) -> None:
    for w in widgets:
        w.close()


# ------------------------------------------------------------------ build and structure
def test_bundles_are_built_and_one_per_widget():
    sizes = {}
    for stem in (
        "loss_curve",
        "sample_grid",
        "latent_explorer",
        "controls",
        "data_space",
        "dashboard",
    ):
        path = _base.STATIC / f"{stem}.js"
        assert path.exists(), f"{path} missing: run `npm install && npm run build`"
        sizes[stem] = path.stat().st_size
    assert sizes["dashboard"] < 2_000_000  # plotly basic (~1.2 MB) once, all panels
    assert sizes["sample_grid"] < 50_000 and sizes["latent_explorer"] < 50_000
    assert sizes["controls"] < 50_000  # no plotly in the standalone controls
    assert sizes["data_space"] < 50_000  # canvas drawing, no plotly


@pytest.mark.parametrize("cls", WIDGETS)
def test_esm_is_the_built_bundle(cls, stub_run):
    w = cls(stub_run)
    try:
        assert "export" in w._esm and "genai_widgets: the front-end bundle" not in w._esm
    finally:
        w.close()


def test_every_synced_trait_has_a_docstring():
    missing = []
    for path in WIDGET_DIR.glob("*.py"):
        body = ast.parse(path.read_text()).body
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if not isinstance(node, ast.ClassDef):
                continue
            for i, stmt in enumerate(node.body):
                if isinstance(stmt, ast.Assign) and "sync=True" in ast.unparse(stmt.value):
                    nxt = node.body[i + 1] if i + 1 < len(node.body) else None
                    documented = isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    if not documented:
                        missing.append(f"{path.name}:{node.name}.{ast.unparse(stmt.targets[0])}")
    assert not missing, f"synced traits without a docstring: {missing}"


def test_unknown_keyword_is_a_type_error(stub_run):
    with pytest.raises(TypeError, match="smoothin.*valid: run"):
        gw.LossCurve(stub_run, smoothin=0.5)


def test_not_a_run_is_a_type_error():
    with pytest.raises(TypeError, match="needs a genai_widgets Run"):
        gw.Dashboard(object())


def test_dashboard_is_one_widget_with_every_panel(stub_run):
    d = gw.Dashboard(stub_run)
    try:
        names = set(d.traits(sync=True))
        for panel in (gw.LossCurve, gw.SampleGrid, gw.LatentExplorer):
            assert set(panel.class_trait_names(sync=True)) - {"cursor_step"} <= names
        curve = gw.LossCurve(stub_run)
        assert d._esm != curve._esm
        curve.close()
    finally:
        d.close()


# ------------------------------------------------------------------ loss curve
def test_decimate_keeps_ends_and_bounds_rows():
    h = {"step": np.arange(10_000.0), "loss_d": np.random.rand(10_000)}
    d = decimate(h, 500)
    assert len(d["step"]) <= 500 and d["step"][0] == 0 and d["step"][-1] == 9_999
    assert decimate(h, 20_000) is h


def test_pack_columns_is_column_major_float32_with_nan_for_missing():
    buf = pack_columns(
        {"step": np.array([1.0, 2.0]), "a": np.array([3.0, 4.0])}, ["step", "a", "b"]
    )
    out = unpack(buf, ["step", "a", "b"])
    assert out["step"].tolist() == [1, 2] and out["a"].tolist() == [3, 4]
    assert np.isnan(out["b"]).all()


def test_loss_curve_snapshot_then_appends_only_new_rows(live_run, monkeypatch):
    w = gw.LossCurve(live_run)
    rec = Recorder()
    monkeypatch.setattr(w, "send", rec)
    try:
        columns = list(w.curve_columns)
        assert columns[0] == "step" and {"loss_d", "loss_g", "d_real", "d_fake"} <= set(columns)
        # The penalties travel too, but are drawn only when asked for (legend click).
        assert "r1" in columns and {"lr", "r1", "gp"} <= set(w.hidden_series)
        snap = unpack(w.curve_snapshot, columns)
        assert len(snap["step"]) > 0 and np.all(np.diff(snap["step"]) > 0)
        wait_until(lambda: len(rec.of_type("curve_append")) >= 3, 20, "three appends")
        appended, losses = [], []
        for content, buffers in rec.of_type("curve_append"):
            assert len(buffers) == 1 and content["columns"] == columns
            block = unpack(buffers[0], content["columns"])
            assert len(block["step"]) == content["rows"]
            appended.extend(block["step"].tolist())
            losses.extend(block["loss_d"].tolist())
        # Exact rows (decimated by time at most), in order, never a resend of the series.
        assert appended == sorted(set(appended))
        assert appended[0] > snap["step"][0]
        history = live_run.history
        at = np.searchsorted(history["step"], appended)
        assert np.array_equal(history["step"][at], appended)
        assert np.allclose(history["loss_d"][at], losses, rtol=1e-6)  # float32 on the wire
    finally:
        w.close()


def test_hello_from_a_new_view_refreshes_the_snapshot(stub_run):
    w = gw.LossCurve(stub_run)
    try:
        stub_run.add_row(0.5)
        w._on_custom_message(w, {"type": "hello"}, [])
        wait_until(lambda: len(unpack(w.curve_snapshot, w.curve_columns)["step"]) == 4, 5, "resync")
    finally:
        w.close()


def test_flusher_writes_at_most_ten_times_a_second(stub_run, monkeypatch):
    w = gw.LossCurve(stub_run)
    rec = Recorder()
    monkeypatch.setattr(w, "send", rec)
    try:
        start = time.monotonic()
        while time.monotonic() - start < 1.5:  # the "trainer" adds rows far faster than 10 Hz
            stub_run.add_row(1.0)
            time.sleep(0.002)
        n = len(rec.of_type("curve_append"))
        elapsed = time.monotonic() - start
        # At most ten a second (one extra for the tick in flight); a loaded machine may give
        # fewer ticks, never more.
        assert 1 <= n <= 10 * elapsed + 1, (n, elapsed)
        last = stub_run.step

        def steps_sent() -> list[float]:
            return [
                s
                for c, b in rec.of_type("curve_append")
                for s in unpack(b[0], c["columns"])["step"]
            ]

        # Decimated by time, not by step count: at most CURVE_ROWS_PER_S rows a second
        # (and the first tick's one) reach the page; in order, never a resend, and the last
        # row always arrives.
        wait_until(lambda: steps_sent()[-1] == last, 20, "the last row")
        sent = steps_sent()
        assert sent == sorted(set(sent))
        assert len(sent) <= CURVE_ROWS_PER_S * (time.monotonic() - start) + 1, len(sent)
        assert last - 3 > 2 * len(sent)  # the stub's rows outnumber them (3 in the snapshot)
    finally:
        w.close()


def test_decimate_by_time_bounds_rows_and_keeps_the_last():
    rows = {"step": np.arange(1000.0), "loss": np.random.rand(1000)}
    out = decimate_by_time(rows, 0.1)
    assert len(out["step"]) == int(CURVE_ROWS_PER_S * 0.1) and out["step"][-1] == 999
    assert np.all(np.diff(out["step"]) > 0)
    assert decimate_by_time(rows, 0.0)["step"].tolist() == [999]
    few = {"step": np.arange(3.0)}
    assert decimate_by_time(few, 1.0) is few


# ------------------------------------------------------------------ sample grid
def test_sample_grid_follows_latest_then_scrubs(live_run):
    g = gw.SampleGrid(live_run)
    try:
        wait_until(lambda: g.snapshot_count >= 2, 20, "snapshots")
        wait_until(lambda: g.snapshot_index == g.snapshot_count - 1, 5, "follow latest")
        assert g.grid_png.startswith(b"\x89PNG")
        # The slider moves back (as the frontend does): follow_latest clears, snapshot 0 shows.
        g.set_state({"snapshot_index": 0, "follow_latest": False})
        wait_until(lambda: g.snapshot_step == int(live_run.snapshot_steps()[0]), 5, "scrub")
        assert g.grid_png == live_run.snapshot_png(0)
        count = g.snapshot_count
        wait_until(lambda: g.snapshot_count > count, 20, "new snapshot")
        assert g.snapshot_index == 0  # not following: stays put
        g.set_state({"follow_latest": True})
        wait_until(lambda: g.snapshot_index == g.snapshot_count - 1, 5, "follow again")
    finally:
        g.close()


def test_click_on_the_chart_seeks_the_grid(live_run):
    d = gw.Dashboard(live_run)
    try:
        wait_until(lambda: d.snapshot_count >= 2, 20, "snapshots")
        target = int(live_run.snapshot_steps()[1])
        d._on_custom_message(d, {"type": "seek_step", "step": target + 1}, [])
        wait_until(lambda: d.snapshot_step == target, 5, "seek")
        assert d.follow_latest is False
    finally:
        d.close()


# ------------------------------------------------------------------ latent explorer
def test_latent_explorer_frames_from_current_weights(live_run):
    e = gw.LatentExplorer(live_run, frames=5, candidate_count=6, candidate_columns=3)
    try:
        wait_until(lambda: e.frame_count == 5, 20, f"frames ({e.widget_error!r})")
        strip = Image.open(io.BytesIO(e.frames_png))
        assert strip.width == 5 * (16 + 2) + 2 and strip.height == 16 + 4
        cands = Image.open(io.BytesIO(e.candidates_png))
        assert cands.size == (3 * 18 + 2, 2 * 18 + 2)
        assert e.explorer_step >= 0 and e.latent_dim == 16
        first_step, first = e.explorer_step, e.frames_png
        e.set_state({"method": "lerp", "frames": 7})
        wait_until(lambda: e.frame_count == 7, 20, "recompute")
        e.set_state({"dimension": 3, "dimension_value": 2.5})
        wait_until(lambda: e.traverse_png and not e.explorer_busy, 10, "traverse")
        assert e.explorer_step >= first_step and e.frames_png != first
        assert live_run.status == "running"  # never paused for it
    finally:
        e.close()


def test_latent_explorer_follows_training_unless_frozen(live_run):
    e = gw.LatentExplorer(live_run, frames=3, candidate_count=4)
    try:
        assert e.explorer_auto is True  # not stuck at "weights at step 0" until Refresh
        wait_until(lambda: e.explorer_step >= 0, 20, f"first frames ({e.widget_error!r})")
        first = e.explorer_step
        wait_until(lambda: e.explorer_step > first, 30, "frames from newer weights, unasked")
        e.set_state({"explorer_auto": False})  # the "follow training" checkbox, unchecked
        time.sleep(3 / 10)  # a tick already computing finishes
        wait_until(lambda: not e.explorer_busy, 10, "idle")
        frozen, snapshots = e.explorer_step, live_run.snapshot_count
        wait_until(lambda: live_run.snapshot_count >= snapshots + 2, 30, "two more snapshots")
        time.sleep(3 / 10)
        assert e.explorer_step == frozen
    finally:
        e.close()


# ------------------------------------------------------------------ controls
@pytest.mark.parametrize(
    ("field", "text", "needle"),
    [
        ("lr", "abc", "lr must be a number"),
        ("lr", "-1", "lr must be a finite number > 0"),
        ("lr", "nan", "finite"),
        ("n_critic", "0", "whole number >= 1"),
        ("n_critic", "2.5", "whole number"),
        ("n_critic", "x", "whole number"),
    ],
)
def test_bad_values_are_refused_with_a_message(stub_run, field, text, needle):
    d = gw.Dashboard(stub_run)
    try:
        before = dict(stub_run.settings)
        d._on_custom_message(d, {"type": "set", "field": field, "value": text}, [])
        wait_until(lambda: d.control_feedback.get("id"), 5, "feedback")
        assert d.control_feedback["ok"] is False
        assert needle in d.control_feedback["text"] and "keeps" in d.control_feedback["text"]
        assert stub_run.settings == before and stub_run.set_calls == []
    finally:
        d.close()


def test_parse_field_accepts_good_values():
    assert parse_field("lr", " 1e-3 ") == 1e-3
    assert parse_field("n_critic", "5") == 5 and parse_field("max_steps", "none") is None


def test_real_run_keeps_its_lr_when_refused_and_takes_a_good_one(live_run):
    d = gw.Dashboard(live_run)
    try:
        old = live_run.settings["lr"]
        d.set_value("lr", "-0.5")
        wait_until(lambda: d.control_feedback.get("id") == 1, 5, "refusal")
        assert d.control_feedback["ok"] is False and live_run.settings["lr"] == old
        d.set_value("n_critic", "0")
        wait_until(lambda: d.control_feedback.get("id") == 2, 5, "refusal")
        assert live_run.settings["n_critic"] == 1
        d.set_value("lr", "1e-4")
        wait_until(lambda: d.lr == 1e-4, 5, "lr shown")
        assert d.control_feedback["ok"] is True and live_run.settings["lr"] == 1e-4
        d.set_value("lr", str(old))
    finally:
        d.close()


def test_buttons_pause_and_resume_a_training_run(live_run):
    d = gw.Dashboard(live_run)
    try:
        d._on_custom_message(d, {"type": "command", "action": "pause"}, [])
        assert live_run.status == "paused"
        wait_until(lambda: d.status == "paused", 5, "paused status")
        step = live_run.step
        time.sleep(0.5)
        assert live_run.step <= step + 1
        d._on_custom_message(d, {"type": "command", "action": "resume"}, [])
        wait_until(lambda: live_run.step > step + 2, 20, "steps after resume")
        wait_until(lambda: d.status == "running" and d.step > step, 5, "running status")
    finally:
        d.close()


def test_standalone_controls_pause_resume_and_refuse_bad_values(live_run):
    c = gw.Controls(live_run)
    try:
        assert not any(isinstance(c, p) for p in (gw.LossCurve, gw.SampleGrid))
        c._on_custom_message(c, {"type": "command", "action": "pause"}, [])
        assert live_run.status == "paused"
        wait_until(lambda: c.status == "paused", 5, "paused status")
        old = live_run.settings["lr"]
        c.set_value("lr", "-1")
        wait_until(lambda: "refused" in c.control_feedback.get("text", ""), 5, "refusal")
        assert live_run.settings["lr"] == old
        c._on_custom_message(c, {"type": "command", "action": "resume"}, [])
        wait_until(lambda: c.status == "running", 5, "running status")
    finally:
        c.close()


def test_a_paused_run_shows_no_rate_and_no_eta(tmp_path):
    run = gw.train_gan(
        data="digits", image_size=16, width=8, batch_size=16, latent_dim=8, device="cpu",
        max_steps=100_000, run_dir=tmp_path / "r",
    )  # fmt: skip
    c = gw.Controls(run)
    try:
        wait_until(lambda: c.steps_per_second > 0 and c.eta_seconds is not None, 30, "a rate")
        run.pause()
        wait_until(lambda: c.status == "paused", 5, "paused status")
        assert run.steps_per_second == 0.0 and run.eta_seconds is None
        assert c.steps_per_second == 0.0 and c.eta_seconds is None
        run.resume()
        wait_until(lambda: c.steps_per_second > 0 and c.eta_seconds is not None, 30, "rate again")
    finally:
        c.close()
        run.stop()
        run.wait(30)


def test_status_progress_message_and_traceback_are_shown(stub_run):
    d = gw.Dashboard(stub_run)
    try:
        assert d.step == 3 and d.max_steps == 100 and d.steps_per_second == 12.3
        stub_run.status, stub_run.message = (
            "paused",
            "paused at step 3: loss_d is nan (non-finite loss)",
        )
        stub_run.version += 1
        wait_until(lambda: "non-finite" in d.message, 5, "message")
        stub_run.status, stub_run.traceback_text = "failed", "Traceback ...\nRuntimeError: boom"
        stub_run.version += 1
        wait_until(lambda: "RuntimeError: boom" in d.error_text, 5, "traceback")
        assert d.status == "failed"
        png = Image.open(io.BytesIO(d.static_png()))
        assert png.width > 600
    finally:
        d.close()


def test_unknown_command_is_reported(stub_run):
    d = gw.Dashboard(stub_run)
    try:
        d._on_custom_message(d, {"type": "command", "action": "explode"}, [])
        wait_until(lambda: d.control_feedback.get("id"), 5, "feedback")
        assert "unknown command" in d.control_feedback["text"] and stub_run.commands == []
    finally:
        d.close()


# ------------------------------------------------------------------ threads, lifecycle
def test_one_flusher_per_run_and_two_views_stay_in_sync(live_run):
    a, b = gw.Dashboard(live_run), gw.Dashboard(live_run)
    try:
        assert a._flusher is b._flusher and a._flusher.widget_count >= 2
        name = f"genai-widgets-flusher-{live_run.name}"
        threads = [t for t in threading.enumerate() if t.name == name]
        assert len(threads) == 1
        a._on_custom_message(a, {"type": "command", "action": "pause"}, [])
        wait_until(lambda: a.status == b.status == "paused", 5, "both paused")
        wait_until(lambda: a.step == b.step == live_run.step, 5, "same step")
        b._on_custom_message(b, {"type": "command", "action": "resume"}, [])
        wait_until(lambda: a.status == b.status == "running", 5, "both running")
    finally:
        close_all(a, b)


def test_closing_widgets_never_stops_training(live_run):
    widgets = [cls(live_run) for cls in WIDGETS]
    flusher = widgets[0]._flusher
    close_all(*widgets)
    wait_until(lambda: not flusher.alive, 5, "flusher ends")
    step = live_run.step
    wait_until(lambda: live_run.step > step + 2, 20, "training goes on")
    assert live_run.status == "running"
    w = gw.LossCurve(live_run)  # a new display starts a new flusher
    try:
        wait_until(lambda: w._flusher.alive, 5, "flusher restarted")
    finally:
        w.close()


def test_a_broken_update_shows_in_the_widget_and_spares_the_others(stub_run):
    good, bad = gw.LossCurve(stub_run), gw.SampleGrid(stub_run)

    def broken(i: int) -> bytes:
        raise OSError("disk gone")

    bad.run = StubRun()
    bad.run.snapshot_png = broken
    bad._grid_shown = (-1, -1)
    bad._grid_request()
    try:
        wait_until(lambda: "disk gone" in bad.widget_error, 5, "error shown")
        stub_run.add_row(0.1)
        wait_until(
            lambda: len(unpack(good.curve_snapshot, good.curve_columns)["step"]) >= 3, 5, "good"
        )
    finally:
        close_all(good, bad)


# ------------------------------------------------------------------ static fallback
@pytest.mark.parametrize("cls", WIDGETS)
def test_mimebundle_carries_a_static_png_next_to_the_view(cls, live_run):
    w = cls(live_run)
    try:
        data, _ = w._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in data
        assert live_run.name in data["text/plain"]
        img = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
        assert img.format == "PNG" and img.width >= 300
    finally:
        w.close()


def test_displayed_widget_is_two_outputs_the_view_then_its_picture(stub_run):
    # nbconvert renders one mimetype per output and prefers the widget view when the widget
    # state was saved: the picture must be an output of its own, marked for the live view to
    # hide, and refreshed under its own display id.
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    w = gw.LossCurve(stub_run)
    try:
        with capture_output() as captured:
            w._ipython_display_()
            w._refresh_static_display()
        widget, picture, widget_again, picture_again = captured.outputs
        assert set(widget.data) == {"application/vnd.jupyter.widget-view+json", "text/plain"}
        assert set(picture.data) == {"text/html", "image/png"}
        assert f'class="gw-static gw-static-{w.static_id}"' in picture.data["text/html"]
        assert f"data:image/png;base64,{picture.data['image/png']}" in picture.data["text/html"]
        assert base64.b64decode(picture.data["image/png"]).startswith(b"\x89PNG")
        ids = [o.transient["display_id"] for o in captured.outputs]
        assert ids == [w.static_id, f"{w.static_id}-static"] * 2
        assert [o.update for o in captured.outputs] == [False, False, True, True]
    finally:
        w.close()


def test_export_gif_writes_the_fixed_noise_evolution(live_run, tmp_path):
    path = live_run.export_gif(tmp_path / "evolution.gif")
    gif = Image.open(path)
    assert gif.format == "GIF" and gif.n_frames >= 2


def test_no_flusher_threads_left():
    wait_until(lambda: not Flusher.active(), 5, f"flushers to end: {Flusher.active()}")
