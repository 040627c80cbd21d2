"""Image helpers shared by the store, the widgets and exports: tensors in [-1, 1] to uint8 grids,
PNG bytes and animated GIFs. Pure numpy + PIL so they run in any thread."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image


def to_uint8(images) -> np.ndarray:
    """NCHW float images in [-1, 1] (torch or numpy) -> NHWC uint8."""
    if hasattr(images, "detach"):
        images = images.detach().float().cpu().numpy()
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim != 4:
        raise ValueError(f"expected N x C x H x W images, got shape {arr.shape}")
    arr = np.clip(np.nan_to_num((arr + 1.0) * 127.5 + 0.5), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1))


def make_grid(images_nhwc: np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile NHWC uint8 images into one HWC image (grey images keep one channel)."""
    n, h, w, c = images_nhwc.shape
    if nrow is None:
        nrow = max(1, math.ceil(math.sqrt(n)))
    ncol = nrow
    nrows = math.ceil(n / ncol)
    grid = np.zeros(
        (nrows * (h + padding) + padding, ncol * (w + padding) + padding, c), dtype=np.uint8
    )
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = images_nhwc[i]
    return grid


def _pil(image_hwc: np.ndarray) -> Image.Image:
    if image_hwc.shape[2] == 1:
        return Image.fromarray(image_hwc[:, :, 0], mode="L")
    return Image.fromarray(image_hwc, mode="RGB")


def encode_png(image_hwc: np.ndarray, scale: int = 1) -> bytes:
    """HWC uint8 -> PNG bytes, optionally upscaled with nearest neighbour (crisp small digits)."""
    img = _pil(image_hwc)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def grid_png(images, nrow: int | None = None, scale: int = 1) -> bytes:
    """NCHW [-1, 1] images (or NHWC uint8) -> one PNG grid."""
    arr = (
        images if isinstance(images, np.ndarray) and images.dtype == np.uint8 else to_uint8(images)
    )
    return encode_png(make_grid(arr, nrow), scale=scale)


def save_gif(
    frames_hwc: Sequence[np.ndarray],
    path: str | os.PathLike,
    *,
    duration_ms: int = 120,
    loop: int = 0,
    scale: int = 1,
) -> str:
    """Write HWC uint8 frames as an animated GIF; returns the path written."""
    if not frames_hwc:
        raise ValueError("no frames to write: the run has no sample snapshots yet")
    pics = [_pil(f) for f in frames_hwc]
    if scale > 1:
        pics = [p.resize((p.width * scale, p.height * scale), Image.NEAREST) for p in pics]
    pics = [p.convert("P") if p.mode == "RGB" else p for p in pics]
    path = os.fspath(path)
    pics[0].save(
        path, save_all=True, append_images=pics[1:], duration=duration_ms, loop=loop, optimize=False
    )
    return path
