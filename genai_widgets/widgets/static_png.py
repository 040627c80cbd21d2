"""Static pictures of widget state, drawn with PIL (matplotlib is not a dependency). They go
into each widget's mimebundle as `image/png`; displayed in a notebook, a widget shows it as an
output of its own (see `_base.py`), so nbconvert, GitHub and nbviewer show the curves and the
latest samples when no kernel is there."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
SKIP = ("step", "time")
# Class colours of the latent scatter (matplotlib's tab10, as in js/lib/scatter_panel.ts).
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


def _ema(values: np.ndarray, weight: float) -> np.ndarray:
    if weight <= 0:
        return values
    out = np.empty_like(values)
    last, count = 0.0, 0
    for i, v in enumerate(values):
        if not math.isfinite(v):
            out[i] = v
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out[i] = last / (1 - weight**count)
    return out


def draw_curves(
    history: dict[str, np.ndarray],
    *,
    size: tuple[int, int] = (640, 300),
    hidden: Sequence[str] = (),
    smoothing: float = 0.0,
    log_scale: bool = False,
    title: str = "",
    cursor_step: float | None = None,
    hlines: dict[str, float] | None = None,
    sparse: Sequence[str] = (),
    y_title: str = "",
) -> Image.Image:
    """The loss chart as a PIL image. `hlines`: label -> value, drawn as dashed horizontal
    lines with their labels (a text run's baselines); `sparse`: series measured at a few
    steps only (NaN elsewhere), drawn connecting their points; `y_title` heads the y axis."""
    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = _font()
    left, right, top, bottom = 56, width - 10, 22 if title else 10, height - 40
    if title:
        draw.text((left, 4), title, fill="#222", font=font)
    if y_title:
        draw.text((max(left + 4, width - 8 - 6 * len(y_title)), 4), y_title, fill="#444", font=font)
    steps = np.asarray(history.get("step", np.zeros(0)), dtype=np.float64)
    names = [n for n in history if n not in SKIP and n not in hidden]
    series = {n: _ema(np.asarray(history[n], dtype=np.float64), smoothing) for n in names}
    if log_scale:
        series = {
            n: np.where(v > 0, np.log10(np.where(v > 0, v, 1)), np.nan) for n, v in series.items()
        }
    draw.rectangle([left, top, right, bottom], outline="#999")
    finite = [v[np.isfinite(v)] for v in series.values()]
    finite = [v for v in finite if v.size]
    lines = {k: float(v) for k, v in (hlines or {}).items() if math.isfinite(float(v))}
    if finite and lines:
        finite.append(np.array(list(lines.values())))
    if len(steps) < 1 or not finite:
        draw.text((left + 10, top + 10), "no metrics yet", fill="#666", font=font)
        return img
    lo = float(min(v.min() for v in finite))
    hi = float(max(v.max() for v in finite))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    x0, x1 = float(steps.min()), float(steps.max())
    if x1 - x0 < 1e-12:
        x1 = x0 + 1

    def px(s: np.ndarray) -> np.ndarray:
        return left + (s - x0) / (x1 - x0) * (right - left)

    def py(v: np.ndarray) -> np.ndarray:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = float(py(np.array(v)))
        draw.line([left, y, right, y], fill="#eee")
        label = _fmt(10**v) if log_scale else _fmt(v)
        draw.text((4, y - 6), label, fill="#444", font=font)
    for k in range(5):
        s = x0 + (x1 - x0) * k / 4
        draw.text((float(px(np.array(s))) - 10, bottom + 4), f"{s:.0f}", fill="#444", font=font)
    if cursor_step is not None and cursor_step >= 0 and x0 <= cursor_step <= x1:
        x = float(px(np.array(cursor_step)))
        draw.line([x, top, x, bottom], fill="#888", width=1)
    xs = px(steps)
    for k, (label, value) in enumerate(lines.items()):
        y = float(py(np.array(value)))
        for x in range(left, right, 8):
            draw.line([x, y, min(x + 4, right), y], fill="#777", width=1)
        text = f"{label} {_fmt(value)}"
        x = right - 4 - 6 * len(text) - (k % 3) * 90  # close lines: labels side by side
        draw.text((x, y - 12 if k % 2 else y + 1), text, fill="#555", font=font)
    for i, name in enumerate(names):
        ys = py(series[name])
        color = PALETTE[i % len(PALETTE)]
        if name in sparse:
            keep = np.isfinite(ys)
            points = [(float(x), float(y)) for x, y in zip(xs[keep], ys[keep], strict=True)]
            _polyline(draw, points, color)
            for x, y in points:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
            continue
        run: list[tuple[float, float]] = []
        for x, y in zip(xs, ys, strict=False):
            if math.isfinite(y):
                run.append((float(x), float(y)))
            elif run:
                _polyline(draw, run, color)
                run = []
        _polyline(draw, run, color)
    lx = left
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        draw.line([lx, height - 14, lx + 16, height - 14], fill=color, width=2)
        draw.text((lx + 20, height - 20), name, fill="#222", font=font)
        lx += 30 + 7 * len(name)
    return img


def _polyline(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], color: str) -> None:
    if len(points) == 1:
        x, y = points[0]
        draw.ellipse([x - 1, y - 1, x + 1, y + 1], fill=color)
    elif points:
        draw.line(points, fill=color, width=2)


def png_image(data: bytes | None, width: int | None = None) -> Image.Image | None:
    """Decode PNG bytes, scaled (nearest neighbour) to `width` pixels."""
    if not data:
        return None
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if width and img.width != width:
        img = img.resize((width, max(1, round(img.height * width / img.width))), Image.NEAREST)
    return img


def caption(img: Image.Image, text: str) -> Image.Image:
    out = Image.new("RGB", (img.width, img.height + 18), "white")
    out.paste(img, (0, 18))
    ImageDraw.Draw(out).text((2, 3), text, fill="#222", font=_font())
    return out


def hstack(images: Sequence[Image.Image | None], gap: int = 10) -> Image.Image:
    pics = [i for i in images if i is not None]
    if not pics:
        return Image.new("RGB", (320, 40), "white")
    width = sum(p.width for p in pics) + gap * (len(pics) - 1)
    out = Image.new("RGB", (width, max(p.height for p in pics)), "white")
    x = 0
    for p in pics:
        out.paste(p, (x, 0))
        x += p.width + gap
    return out


def vstack(images: Sequence[Image.Image | None], gap: int = 8) -> Image.Image:
    pics = [i for i in images if i is not None]
    if not pics:
        return Image.new("RGB", (320, 40), "white")
    out = Image.new(
        "RGB",
        (max(p.width for p in pics), sum(p.height for p in pics) + gap * (len(pics) - 1)),
        "white",
    )
    y = 0
    for p in pics:
        out.paste(p, (0, y))
        y += p.height + gap
    return out


def text_line(text: str, width: int, color: str = "#222") -> Image.Image:
    img = Image.new("RGB", (width, 18), "white")
    ImageDraw.Draw(img).text((2, 3), text, fill=color, font=_font())
    return img


def to_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def draw_scatter(
    xy: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    size: tuple[int, int] = (360, 300),
    title: str = "",
    axes: Sequence[str] = ("", ""),
) -> Image.Image:
    """Points (N, 2) coloured by integer label, as a PIL image (the latent scatter)."""
    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = _font()
    left, right, top, bottom = 10, width - 10, 22 if title else 10, height - 22
    if title:
        draw.text((left, 4), title, fill="#222", font=font)
    draw.rectangle([left, top, right, bottom], outline="#999")
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    keep = np.isfinite(xy).all(axis=1)
    if not keep.any():
        draw.text((left + 10, top + 10), "no points yet", fill="#666", font=font)
        return img
    pts = xy[keep]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi - lo < 1e-12, 1.0, hi - lo)
    px = left + 4 + (pts[:, 0] - lo[0]) / span[0] * (right - left - 8)
    py = bottom - 4 - (pts[:, 1] - lo[1]) / span[1] * (bottom - top - 8)
    lab = None if labels is None else np.asarray(labels)[keep]
    for i, (x, y) in enumerate(zip(px, py, strict=True)):
        color = CLASS_COLORS[int(lab[i]) % len(CLASS_COLORS)] if lab is not None else "#1f77b4"
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
    draw.text((left, bottom + 6), " / ".join(a for a in axes if a), fill="#444", font=font)
    return img
