"""`TextDashboard`: controls, the bits-per-character curves with the baselines (unigram,
Kneser-Ney n-grams, lzma) and the step at which the model beat each, the live sample strip,
steering (Generate), the surprisal of a held-out passage, attention heatmaps and the
memorisation meter of one text run, in ONE widget with one bundle. `run.dashboard()` returns
it for a text run (`TextFamily.dashboard`)."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import traitlets as t
from PIL import Image, ImageDraw

from ...families.text.baselines import describe
from .. import static_png
from .._base import Panel, RunWidget, bundle
from ..controls import ControlsPanel
from ..flusher import Tick
from ..loss_curve import CurvePanel
from .strip import StripPanel
from .views import SteeringPanel, TextViewsPanel

#: Hidden until clicked in the legend: the curves are read in bits per character.
HIDDEN = ["loss", "val_loss", "lr", "tokens_per_s"]


def first_below(steps: Any, values: Any, threshold: float) -> int | None:
    """The first step whose (finite) value is below `threshold`, or None."""
    v = np.asarray(values, dtype=np.float64)
    below = np.flatnonzero(np.isfinite(v) & (v < threshold))
    return int(np.asarray(steps)[below[0]]) if below.size else None


class BaselinePanel(Panel):
    """Traits and flush logic of the reference lines on the curves."""

    baselines = t.Dict().tag(sync=True)
    """dict: baseline name -> held-out bits per character (unigram, kn3, kn5, kn7, lzma);
    {} until the background computation is done."""

    baseline_labels = t.Dict().tag(sync=True)
    """dict: baseline name -> its label ("character 5-gram, Kneser-Ney", ...)."""

    best_baseline = t.Unicode("").tag(sync=True)
    """str: the name of the best n-gram baseline ('' until known)."""

    baselines_beaten = t.Dict().tag(sync=True)
    """dict: baseline name -> the first step at which val_bpc went below it (absent: not yet)."""

    baselines_note = t.Unicode("").tag(sync=True)
    """str: why there are no baselines (their computation failed); '' otherwise."""

    def _init_panel(self, run: Any) -> None:
        self._base_lock = threading.Lock()
        self._base_cursor = 0
        self._base_steps: list[float] = []
        self._base_values: list[float] = []
        self._baselines_update(run)

    def _baselines_update(self, run: Any) -> None:
        self._base_cursor, rows = run.metrics_since(self._base_cursor)
        fresh = False
        if "val_bpc" in rows and len(rows.get("step", ())):
            values = np.asarray(rows["val_bpc"], dtype=np.float64)
            keep = np.isfinite(values)
            if keep.any():
                self._base_steps.extend(np.asarray(rows["step"], dtype=np.float64)[keep])
                self._base_values.extend(values[keep])
                fresh = True
        if not self.baselines:
            found = run.baselines() if callable(getattr(run, "baselines", None)) else {}
            if "error" in found and not self.baselines_note:
                self.baselines_note = f"no baselines: {found['error']}"
            lines = {
                k: float(v)
                for k, v in found.items()
                if k not in ("best_ngram", "error")
                and isinstance(v, (int, float))
                and math.isfinite(v)
            }
            if lines:
                labels = {}
                for k in lines:
                    try:
                        labels[k] = describe(k)
                    except ValueError:
                        labels[k] = k
                self.baseline_labels = labels
                self.best_baseline = str(found.get("best_ngram", ""))
                self.baselines = lines
                fresh = True
        if fresh and self.baselines:
            beaten = {}
            for name, value in self.baselines.items():
                step = first_below(self._base_steps, self._base_values, value)
                if step is not None:
                    beaten[name] = step
            if beaten != self.baselines_beaten:
                self.baselines_beaten = beaten

    def _flush_panel(self, tick: Tick) -> None:
        if tick.changed or not self.baselines:
            self._baselines_update(tick.run)

    def beaten_text(self) -> str:
        """ "beat unigram at step 40, kn3 at step 300" ('' before any)."""
        items = sorted(self.baselines_beaten.items(), key=lambda kv: kv[1])
        if not items:
            return ""
        return "beat " + ", ".join(f"{name} at step {step}" for name, step in items)


class TextDashboard(
    ControlsPanel,
    CurvePanel,
    BaselinePanel,
    StripPanel,
    SteeringPanel,
    TextViewsPanel,
    RunWidget,
):
    """Everything about a running character-level language model: `run.dashboard()` returns
    one for a text run.

    The curves are in bits per character (bpc, val_bpc; the loss in nats, the lr and tokens/s
    show on a legend click) with the baselines as dashed lines and a mark where the model beat
    each. The strip is scrubbable by step; Generate answers from the current weights while
    training goes on; the surprisal view colours the held-out passage by bits (hover: the top
    5 next characters and the true one's rank); the heatmap shows one layer and head."""

    _esm = bundle("text_dashboard")

    control_fields = t.List(t.Unicode(), default_value=["lr"]).tag(sync=True)
    """list[str]: the settings offered as fields (lr)."""

    hidden_series = t.List(t.Unicode(), default_value=list(HIDDEN)).tag(sync=True)
    """list[str]: series drawn only when clicked in the legend (loss, val_loss, lr,
    tokens_per_s)."""

    sparse_series = t.List(t.Unicode(), default_value=["val_loss", "val_bpc"]).tag(sync=True)
    """list[str]: series measured every eval_every steps only, drawn connecting their points
    and never smoothed."""

    smoothing = t.Float(0.3, min=0.0, max=0.999).tag(sync=True)
    """float: exponential-moving-average weight of the dense curves (default 0.3)."""

    def __init__(self, run: Any, **kwargs: Any) -> None:
        family = getattr(run, "family", None)
        if not callable(getattr(family, "surprisal", None)):
            raise TypeError(
                "TextDashboard needs a text run (gw.train_text); for other runs use run.dashboard()"
            )
        super().__init__(run, **kwargs)

    def close(self) -> None:
        """Close the widget (a Generate under way is dropped); training goes on."""
        self._gen_close()
        super().close()

    # -------------------------------------------------------------- static fallback
    def _text_curves(self, size: tuple[int, int] = (640, 300)) -> Image.Image:
        history = self.run.history
        lines = {name: value for name, value in self.baselines.items()}
        return static_png.draw_curves(
            history,
            size=size,
            hidden=self.hidden_series,
            smoothing=0.0,
            title=f"{self.run_name} | bits per character",
            hlines=lines,
            sparse=self.sparse_series,
            y_title="bits/char",
        )

    def _strip_image(self, width: int = 640) -> Image.Image:
        record = self.strip_record
        if not record:
            return static_png.text_line("sample strip: no sample yet", width, "#666")
        segments = [(str(record.get("prompt") or ""), "#1565c0"), (str(record.get("text")), "#222")]
        body = wrap_segments(segments, width - 8)
        note = f"sample at step {self.strip_step} (prompt in blue)"
        if record.get("novel_8grams") is not None:
            note += (
                f" | novel 8-grams {float(record['novel_8grams']):.0%}, longest shared "
                f"substring {record.get('longest')} chars"
            )
        return static_png.vstack([static_png.text_line(note, width), body], gap=2)

    def _surprisal_image(self, width: int = 640) -> Image.Image | None:
        s = self.surprisal
        if not s or not s.get("tokens"):
            return None
        scale = self.surprisal_scale
        segments = [
            (tok, "#222", surprisal_color(b, scale))
            for tok, b in zip(s["tokens"], s["bits"], strict=False)
        ]
        body = wrap_segments(segments, width - 8)
        note = (
            f"surprisal of the held-out passage at step {s.get('step')} "
            f"(white 0 bits -> dark red {scale:g} bits)"
        )
        return static_png.vstack([static_png.text_line(note, width), body], gap=2)

    def static_png(self) -> bytes:
        status, *notes = self._controls_images()
        rows: list[Any] = [status, self._text_curves()]
        beaten = self.beaten_text()
        if beaten:
            rows.append(static_png.text_line(beaten, 980, "#2e7d32"))
        rows.append(self._strip_image(980))
        rows.append(self._surprisal_image(980))
        if self.overfit_warning:
            rows.append(static_png.text_line(self.overfit_warning[:160], 980, "#b35c00"))
        return static_png.to_png(static_png.vstack([*rows, *notes]))


def surprisal_color(bits: float | None, scale: float) -> str:
    """The surprisal colour of `bits` on a white -> yellow -> red scale reaching its dark end at
    `scale` bits (as js/lib/surprisal_panel.ts); None (no prediction) is light grey."""
    if bits is None or not math.isfinite(bits):
        return "#eeeeee"
    x = min(1.0, max(0.0, bits / scale))
    # white (255,255,255) -> yellow (254,217,118) -> orange (253,141,60) -> dark red (189,0,38)
    stops = [(255, 255, 255), (254, 217, 118), (253, 141, 60), (189, 0, 38)]
    pos = x * (len(stops) - 1)
    i = min(len(stops) - 2, int(pos))
    f = pos - i
    a, b = stops[i], stops[i + 1]
    r, g, b_ = (round(a[k] + (b[k] - a[k]) * f) for k in range(3))
    return f"#{r:02x}{g:02x}{b_:02x}"


def wrap_segments(segments: list[tuple], width: int, line_height: int = 14) -> Image.Image:
    """Text pieces (text, colour[, background]) laid out character by character, wrapped at
    `width` pixels and at newlines (drawn as a visible mark), as a PIL image."""
    font = static_png._font()
    cells: list[tuple[str, str, str | None]] = []
    for seg in segments:
        text, color = seg[0], seg[1]
        background = seg[2] if len(seg) > 2 else None
        for ch in text:
            cells.append((ch, color, background))
    positions: list[tuple[int, int, str, str, str | None, int]] = []
    x, y = 4, 2
    for ch, color, background in cells:
        shown = "\u21b5" if ch == "\n" else ("\u2192" if ch == "\t" else ch)
        shown = shown if shown.isprintable() else "?"
        w = max(3, round(font.getlength(shown if shown.isascii() else "?")))
        if x + w > width:
            x, y = 4, y + line_height
        positions.append((x, y, shown if shown.isascii() else "?", color, background, w))
        x += w
        if ch == "\n":
            x, y = 4, y + line_height
    img = Image.new("RGB", (width, y + line_height + 4), "white")
    draw = ImageDraw.Draw(img)
    for x, y, shown, color, background, w in positions:
        if background is not None:
            draw.rectangle([x, y, x + w - 1, y + line_height - 1], fill=background)
        draw.text((x, y + 1), shown, fill=color, font=font)
    return img
