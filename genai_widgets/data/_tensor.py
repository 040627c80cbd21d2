"""Turns a stack of images (any accepted layout, dtype and range) or 2-D points into an
in-memory `DataSource`. Every other in-memory source (digits, torchvision, folders) ends here."""

from __future__ import annotations

from typing import Any

import torch

from ._convert import (
    check_points,
    convert_channels,
    layout_nchw,
    range_mode,
    resize,
    square_size,
    to_signed,
    to_tensor,
)
from ._source import DataSource

# Converting in chunks keeps peak memory near one copy of the result, not three
# (raw, float, resized), which matters for CIFAR-10 at 64 x 64.
_CHUNK = 8192


def tensor_source(
    data: Any,
    *,
    name: str,
    what: str,
    image_size: int | None,
    channels: int | None,
    labels: Any = None,
    classes: list[str] | None = None,
) -> DataSource:
    x = to_tensor(data)
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError(f"{what} is empty (shape {tuple(x.shape)}); it needs at least one item.")
    if x.dtype == torch.bool:
        x = x.to(torch.float32)
    x = layout_nchw(x, what=what)
    label_tensor = _labels(labels, len(x), what=what)
    if x.dim() == 2:
        if channels is not None:
            raise ValueError(
                f"channels={channels} was given but {what} holds 2-D points (shape "
                f"{tuple(x.shape)}), which have no channels; pass channels=None."
            )
        return DataSource(name=name, tensor=check_points(x, what=what), labels=label_tensor)
    mode = range_mode(x, what=what)
    size = image_size if image_size is not None else square_size(tuple(x.shape), what=what)
    n = x.shape[0]
    out_channels = channels if channels is not None else x.shape[1]
    out = torch.empty((n, out_channels, size, size), dtype=torch.float32)
    for start in range(0, n, _CHUNK):
        chunk = to_signed(x[start : start + _CHUNK], mode, what=what)
        chunk = convert_channels(chunk, channels, what=what)
        out[start : start + _CHUNK] = resize(chunk, size)
    return DataSource(name=name, tensor=out, labels=label_tensor, classes=classes)


def _labels(labels: Any, n: int, *, what: str) -> torch.Tensor | None:
    if labels is None:
        return None
    out = torch.as_tensor(labels).detach().cpu()
    if out.dim() != 1 or len(out) != n or out.dtype.is_floating_point or out.dtype == torch.bool:
        raise ValueError(
            f"labels for {what} must be {n} integer class indices, got shape "
            f"{tuple(out.shape)} ({out.dtype})"
        )
    return out.long()
