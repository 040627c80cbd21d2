"""`HMMDashboard`: controls, the train and held-out log-likelihood per symbol, the transition
matrix as a heatmap (beside the true one and the matched errors when the parameters are known,
as on the casino), the emissions per state, the live sample and the restarts' leaderboard of
one HMM run, in ONE widget with one bundle; the snapshot panel is scrubbable by a step slider.
`run.dashboard()` returns it for an hmm run (`HMMFamily.dashboard`)."""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np
import traitlets as t
from PIL import Image, ImageDraw

from .. import static_png
from .._base import RunWidget, bundle
from ..controls import ControlsPanel
from ..loss_curve import CurvePanel
from .snapshots import HMMSnapshotPanel

#: The curves drawn at first; every other metric shows on a legend click.
SHOWN = ("log_likelihood", "val_log_likelihood")
#: Metrics of any hmm run that start hidden (the per-restart curves are added per run).
HIDDEN = ["gain", "best_restart", "lr"]


def hidden_for(run: Any) -> list[str]:
    """The series hidden until clicked: the gain, the best restart's index, the lr column and
    each restart's own curves (r<i>_log_likelihood, r<i>_val_log_likelihood)."""
    restarts = int(getattr(getattr(run, "config", None), "restarts", 1) or 1)
    per_restart = [
        f"r{r}_{name}" for r in range(restarts) for name in ("log_likelihood", "val_log_likelihood")
    ]
    found = [c for c in getattr(run, "history", {}) if c not in ("step", "time", *SHOWN)]
    return list(dict.fromkeys([*HIDDEN, *per_restart, *found]))


def heat_color(p: float) -> tuple[int, int, int]:
    """White (0) -> dark blue (1), as js/hmm_dashboard.ts `heatColor`."""
    x = min(1.0, max(0.0, float(p)))
    return (round(255 - 247 * x), round(255 - 207 * x), round(255 - 148 * x))


def draw_heatmap(matrix: Any, title: str, cell: int | None = None) -> Image.Image:
    """A (K, K) matrix of probabilities as a PIL heatmap with a title (values in the cells
    when they fit)."""
    m = np.asarray(matrix, dtype=np.float64)
    k = m.shape[0]
    cell = cell or max(6, min(48, 240 // max(1, k)))
    font = static_png._font()
    top, left = 18, 4
    img = Image.new("RGB", (max(left + k * cell + 4, 200), top + k * cell + 4), "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 2), title, fill="#222", font=font)
    for i in range(k):
        for j in range(k):
            v = m[i, j]
            color = heat_color(v) if np.isfinite(v) else (238, 238, 238)
            x0, y0 = left + j * cell, top + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=color)
            if cell >= 32 and np.isfinite(v):
                draw.text(
                    (x0 + 3, y0 + cell // 2 - 5),
                    f"{v:.2f}",
                    fill="white" if v > 0.5 else "#222",
                    font=font,
                )
    return img


def state_color(position: int, k: int) -> tuple[int, int, int]:
    """A state's colour by its display position, as js/lib/hmm_panels.ts `stateColor`."""
    hue = round(360 * position / max(1, k)) % 360
    light = 0.38 if k > 12 and position % 2 else 0.52
    r, g, b = colorsys.hls_to_rgb(hue / 360, light, 0.65)
    return (round(r * 255), round(g * 255), round(b * 255))


def draw_ribbon(passage: dict[str, Any], k: int, width: int = 8, height: int = 40) -> Image.Image:
    """The held-out passage as the dashboard draws it: each symbol a column of its stacked
    state posteriors (bottom up, in display order) over a strip of its Viterbi state."""
    posterior = np.asarray(passage["posterior"], dtype=np.float64)
    path = list(passage["viterbi"])
    img = Image.new("RGB", (max(1, len(posterior)) * width, height + 10), "white")
    draw = ImageDraw.Draw(img)
    for col, row in enumerate(posterior):
        y = float(height)
        for s, p in enumerate(row):
            dy = max(0.0, float(p)) * height
            if dy >= 0.5:
                draw.rectangle([col * width, round(y - dy), (col + 1) * width - 1, round(y) - 1],
                               fill=state_color(s, k))  # fmt: skip
            y -= dy
        draw.rectangle([col * width, height + 3, (col + 1) * width - 1, height + 9],
                       fill=state_color(int(path[col]), k))  # fmt: skip
    return img


def ascii_line(text: str) -> str:
    """`text` as the static picture's font draws it: non-ASCII or unprintable characters as ?."""
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in text)


class HMMDashboard(ControlsPanel, CurvePanel, HMMSnapshotPanel, RunWidget):
    """Everything about a hidden Markov model fitted by Baum-Welch: `run.dashboard()` returns
    one for an hmm run.

    The curves are the train and held-out log-likelihood per symbol (nats; the gain and each
    restart's curves show on a legend click; a click moves the snapshot panel to that step).
    The snapshot panel shows, at the step slider, the transition matrix as a heatmap (its
    states kept in one order between iterations), the true matrix beside it with the largest
    errors after matching when the parameters are known (the casino), each state's emissions
    (top symbols, or means), the sample from a fixed seed and the restarts' leaderboard. The
    health warnings (likelihood decreased, dead states, variance collapse) show under the
    controls."""

    _esm = bundle("hmm_dashboard")

    control_fields = t.List(t.Unicode(), default_value=[]).tag(sync=True)
    """list[str]: the settings offered as fields (none: EM has no learning rate; pause, step,
    stop and slow motion act between iterations)."""

    hidden_series = t.List(t.Unicode(), default_value=list(HIDDEN)).tag(sync=True)
    """list[str]: series drawn only when clicked in the legend (gain, best_restart, lr and
    each restart's curves)."""

    sparse_series = t.List(t.Unicode(), default_value=["val_log_likelihood"]).tag(sync=True)
    """list[str]: series drawn connecting their points and never smoothed."""

    smoothing = t.Float(0.0, min=0.0, max=0.999).tag(sync=True)
    """float: exponential-moving-average weight of the curves (default 0: EM's curves are
    exact, one point per iteration)."""

    def __init__(self, run: Any, **kwargs: Any) -> None:
        family = getattr(run, "family", None)
        if not callable(getattr(family, "matched_errors", None)):
            raise TypeError(
                "HMMDashboard needs an hmm run (gw.train_hmm); for other runs use run.dashboard()"
            )
        kwargs.setdefault("hidden_series", hidden_for(run))
        super().__init__(run, **kwargs)

    # -------------------------------------------------------------- static fallback
    def _hmm_curves(self, size: tuple[int, int] = (640, 300)) -> Image.Image:
        return static_png.draw_curves(
            self.run.history,
            size=size,
            hidden=self.hidden_series,
            smoothing=0.0,
            title=f"{self.run_name} | log-likelihood per symbol",
            cursor_step=self.hmm_step if self.hmm_step >= 0 else None,
            y_title="nats/symbol",
        )

    def _heatmaps_image(self) -> Image.Image | None:
        record = self.hmm_record
        if not record:
            return static_png.text_line("transition matrix: no snapshot yet", 400, "#666")
        if record.get("transmat") is None:
            k = record.get("n_states")
            return static_png.text_line(f"transition matrix: {k} states, too many to draw", 400)
        maps = [draw_heatmap(record["transmat"], f"transitions at step {self.hmm_step}")]
        if record.get("truth_transmat") is not None:
            maps.append(draw_heatmap(record["truth_transmat"], "true transitions"))
        return static_png.hstack(maps)

    def emission_lines(self) -> list[str]:
        """One line per state: its occupancy and top symbols (or mean), as the panel shows."""
        record = self.hmm_record
        occupancy = record.get("occupancy") or []
        lines = []
        top = record.get("top_symbols")
        means = record.get("means")
        for s in range(int(record.get("n_states") or 0)):
            head = f"state {s}"
            if s < len(occupancy) and occupancy[s] is not None:
                head += f" ({occupancy[s]:.0%})"
            if top is not None and s < len(top):
                body = "  ".join(f"{sym!r} {p:.2f}" for sym, p in top[s])
            elif means is not None and s < len(means):
                mean = np.atleast_1d(np.asarray(means[s], dtype=np.float64))
                body = "mean " + ", ".join(f"{v:.3g}" for v in mean[:6])
            else:
                body = ""
            lines.append(f"{head}: {body}")
        return lines

    def errors_text(self) -> str:
        """'matched errors: transitions 0.031, emissions 0.042' ('' without truth)."""
        errors = self.hmm_record.get("errors") or {}
        parts = [
            f"{label} {errors[key]:.3f}"
            for key, label in (
                ("transmat", "transitions"),
                ("emissionprob", "emissions"),
                ("means", "means"),
            )
            if isinstance(errors.get(key), (int, float))
        ]
        return f"largest error after matching: {', '.join(parts)}" if parts else ""

    def leaderboard_lines(self) -> list[str]:
        """'#1 restart 3: -1.7534 nats/symbol' per restart, best first ([] for one restart)."""
        rows = self.hmm_record.get("restarts") or []
        return [
            f"#{i + 1} restart {row['restart']}: {row['log_likelihood']:.4f} nats/symbol"
            for i, row in enumerate(rows)
            if row.get("log_likelihood") is not None
        ]

    def sample_text(self, limit: int = 400) -> str:
        record = self.hmm_record
        if record.get("text") is not None:
            text = str(record["text"])[:limit]
        elif record.get("symbols") is not None:
            text = " ".join(str(s) for s in record["symbols"])[:limit]
        else:
            return ""
        return ascii_line(text.replace("\n", " / ").replace("\t", " "))

    def static_png(self) -> bytes:
        status, *notes = self._controls_images()
        width = 980
        rows: list[Any] = [status]
        rows.extend(static_png.text_line(w[:160], width, "#b35c00") for w in self.warnings)
        rows.append(static_png.hstack([self._hmm_curves(), self._heatmaps_image()]))
        if self.errors_text():
            rows.append(static_png.text_line(self.errors_text(), width, "#2e7d32"))
        rows.extend(
            static_png.text_line(ascii_line(line[:160]), width) for line in self.emission_lines()
        )
        sample = self.sample_text(160)
        if sample:
            rows.append(static_png.text_line(f"sample: {sample}", width, "#1565c0"))
        passage = self.hmm_record.get("passage")
        if passage and passage.get("posterior"):
            k = int(self.hmm_record["n_states"])
            rows.append(static_png.text_line("held-out passage: posteriors, Viterbi path", width))
            rows.append(draw_ribbon(passage, k))
        board = self.leaderboard_lines()
        if board:
            rows.append(static_png.text_line("restarts: " + " | ".join(board[:5]), width))
        return static_png.to_png(static_png.vstack([*rows, *notes]))
