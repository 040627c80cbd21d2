"""The TextDashboard with no frontend, on a real tiny text run: `run.dashboard()` picks it, the
strip trait holds the record at the slider's step, the baselines and the step each was beaten
at, the surprisal and attention payloads from the current weights, the Generate action (an
answer, and the one-line error for a character outside the vocabulary), and the static PNG."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from widget_helpers import StubRun, wait_until

import genai_widgets as gw
from genai_widgets.widgets import _base
from genai_widgets.widgets.text.dashboard import first_below, surprisal_color
from genai_widgets.widgets.text.strip import strip_record
from genai_widgets.widgets.text.views import parse_generate

TEXT = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")[:6000]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A tiny char-gpt on a few kB of the README, trained for 30 steps."""
    run = gw.train_text(
        data=TEXT,
        n_layer=1,
        n_head=2,
        n_embd=32,
        block_size=32,
        batch_size=8,
        max_steps=30,
        eval_every=10,
        sample_every=10,
        sample_tokens=60,
        run_dir=tmp_path_factory.mktemp("text"),
    )
    run.wait(60)
    assert run.status == "finished", run.traceback_text
    run.baselines(wait=True, timeout=60)
    yield run


@pytest.fixture
def dash(text_run: Any) -> Iterator[Any]:
    d = text_run.dashboard()
    yield d
    d.close()


def test_bundle_is_built_and_run_dashboard_picks_it(text_run, dash):
    path = _base.STATIC / "text_dashboard.js"
    assert path.exists(), f"{path} missing: run `npm install && npm run build`"
    assert isinstance(dash, gw.TextDashboard)
    assert "export" in dash._esm and "the front-end bundle" not in dash._esm
    assert {"bpc", "val_bpc", "loss", "val_loss", "lr", "tokens_per_s"} <= set(dash.curve_columns)
    assert set(dash.hidden_series) == {"loss", "val_loss", "lr", "tokens_per_s"}
    assert dash.sparse_series == ["val_loss", "val_bpc"] and dash.control_fields == ["lr"]
    with pytest.raises(TypeError, match="needs a text run"):
        gw.TextDashboard(StubRun())


def test_strip_holds_the_record_at_the_slider(text_run, dash):
    steps = text_run.snapshot_steps()
    count = text_run.snapshot_count
    assert count >= 3
    wait_until(lambda: dash.strip_count == count, 10, "strip count")
    last = text_run.get_snapshot(count - 1)
    assert dash.strip_step == int(steps[-1]) and dash.strip_index == count - 1
    assert dash.strip_record["text"] == last["text"]
    assert dash.strip_record["prompt"] == last["prompt"]
    assert dash.strip_record["novel_8grams"] == last["novel_8grams"]
    assert dash.strip_record["longest"] == last["longest"]
    at = dash.strip_record["longest_at"]
    assert last["text"][at : at + len(last["longest_text"])] == last["longest_text"]

    # The slider moved back: that record alone, and following stops.
    dash.strip_follow = False
    dash.strip_index = 0
    wait_until(lambda: dash.strip_step == int(steps[0]), 10, "strip at the first record")
    assert dash.strip_record["text"] == text_run.get_snapshot(0)["text"]
    # A click on the curves at a step shows the record at or before it.
    dash._on_custom_message(dash, {"type": "seek_step", "step": int(steps[1]) + 1}, [])
    wait_until(lambda: dash.strip_step == int(steps[1]), 10, "strip after seek_step")

    # The memorisation meter: every record's numbers, and the held-out points.
    assert [row[0] for row in dash.novelty_series] == [int(s) for s in steps]
    assert [row[1] for row in dash.novelty_series] == [
        text_run.get_snapshot(i)["novel_8grams"] for i in range(count)
    ]
    val = text_run.history["val_loss"]
    assert len(dash.val_series) == int(np.isfinite(val).sum()) == 3
    assert dash.overfit_warning == ""


def test_strip_record_is_json_safe():
    out = strip_record(
        {"prompt": "ab", "text": "cdefg", "longest_text": "ef", "novel_8grams": math.nan}
    )
    assert out["longest_at"] == 2 and out["novel_8grams"] is None
    assert strip_record("plain")["text"] == "plain"


def test_baselines_and_the_step_each_was_beaten(text_run, dash):
    found = text_run.baselines()
    assert {"unigram", "kn3", "kn5", "kn7", "lzma"} <= set(found)
    wait_until(lambda: dash.baselines, 10, "baselines")
    assert dash.baselines == {k: v for k, v in found.items() if k not in ("best_ngram", "error")}
    assert dash.best_baseline == found["best_ngram"]
    assert dash.baseline_labels["kn5"] == "character 5-gram, Kneser-Ney"
    h = text_run.history
    for name, value in dash.baselines.items():
        assert dash.baselines_beaten.get(name) == first_below(h["step"], h["val_bpc"], value)
    assert first_below([10, 20, 30], [math.nan, 3.0, 1.0], 2.0) == 30
    assert first_below([10, 20], [5.0, 4.0], 2.0) is None


def test_surprisal_and_attention_come_from_the_current_weights(text_run, dash):
    wait_until(lambda: dash.surprisal and dash.attention_weights, 30, f"views ({dash.views_error})")
    s = dash.surprisal
    passage = text_run.family.passage()
    assert "".join(s["tokens"]) == passage
    assert s["step"] == text_run.step == dash.attention_step
    n = len(s["tokens"])
    assert len(s["bits"]) == len(s["top"]) == len(s["rank"]) == n
    assert s["bits"][0] is None and s["top"][0] == [] and s["rank"][0] == 0
    assert all(b >= 0 for b in s["bits"][1:]) and all(len(t) == 5 for t in s["top"][1:])
    assert all(1 <= r <= text_run.family.vocab_size for r in s["rank"][1:])
    direct = text_run.surprisal()
    assert np.allclose(s["bits"][1:], direct["bits"][1:], atol=1e-3)
    assert dash.surprisal_scale == math.ceil(math.log2(text_run.family.vocab_size))

    assert dash.attention_shape == [1, 2]
    m = dash.attention_matrix()
    assert m.shape == (min(64, n), min(64, n)) == (len(dash.attention_tokens),) * 2
    assert np.allclose(m.sum(axis=1), 1.0, atol=1e-4)
    assert np.allclose(np.triu(m, 1), 0.0)  # no attention to the future
    head0 = dash.attention_weights
    dash.attention_head = 1
    wait_until(lambda: dash.attention_weights != head0, 10, "head 1")
    full = text_run.attention("".join(s["tokens"]))
    assert np.allclose(dash.attention_matrix(), full[0, 1].numpy(), atol=1e-5)


def test_generate_answers_and_bad_input_shows_one_line(text_run, dash):
    dash.generate("The ", max_new_tokens=30, temperature=0.8, seed=1)
    wait_until(lambda: dash.gen_result.get("text"), 30, f"an answer ({dash.gen_result})")
    r = dash.gen_result
    assert r["error"] == "" and r["step"] == text_run.step
    assert r["text"] == text_run.generate("The ", 30, temperature=0.8, seed=1)
    assert r["text"].startswith("The ") and len(r["text"]) == 34
    wait_until(lambda: not dash.gen_busy, 10, "not busy")

    first = r["id"]
    dash.generate("caf\u00e9 \u4e2d", max_new_tokens=10)
    wait_until(lambda: dash.gen_result.get("id") != first, 30, "the error")
    error = dash.gen_result["error"]
    assert "\u4e2d" in error and "tokenizer='byte'" in error and "\n" not in error
    assert dash.gen_result["text"] == ""

    dash._on_custom_message(
        dash, {"type": "generate", "id": 99, "prompt": "a", "temperature": 0}, []
    )
    wait_until(lambda: dash.gen_result.get("id") == 99, 10, "refused temperature")
    assert "temperature must be a number > 0" in dash.gen_result["error"]


def test_parse_generate():
    assert parse_generate(
        {"prompt": "x", "temperature": "0.5", "top_k": "", "max_new_tokens": "20"}
    ) == {
        "prompt": "x",
        "max_new_tokens": 20,
        "temperature": 0.5,
        "top_k": None,
        "seed": None,
    }
    assert parse_generate({"top_k": "3"})["top_k"] == 3
    for bad, match in (
        ({"temperature": -1}, "temperature"),
        ({"top_k": "1.5"}, "top-k"),
        ({"max_new_tokens": 0}, "length"),
        ({"max_new_tokens": "many"}, "length"),
    ):
        with pytest.raises(ValueError, match=match):
            parse_generate(bad)


def test_static_png_shows_curves_sample_and_surprisal(text_run, dash):
    wait_until(lambda: dash.surprisal and dash.baselines, 30, "views and baselines")
    png = dash.static_png()
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width >= 640 and img.height > 400
    data, _ = dash._repr_mimebundle_()
    assert data["image/png"] and "TextDashboard" in data["text/plain"]
    # The surprisal colours run from white (0 bits) to dark red (the scale's end).
    assert surprisal_color(0.0, 8) == "#ffffff" and surprisal_color(8.0, 8) == "#bd0026"
    assert surprisal_color(None, 8) == "#eeeeee"
