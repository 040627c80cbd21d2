"""User-built torch data: a map-style `Dataset` is read once into memory; a `DataLoader` is
kept as is and its batches are converted as they come (the user chose batch size and order)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

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
from ._source import DataSource, loader_labels
from ._tensor import tensor_source

# Above this many items a Dataset stays on disk: the user wraps it in a DataLoader.
MAX_IN_MEMORY_ITEMS = 200_000

_ITEM_TYPES = "tensors, numpy arrays or PIL images, or (image, label) tuples of them"


def dataset_source(dataset: Dataset, *, image_size: int | None, channels: int | None) -> DataSource:
    name = type(dataset).__name__
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"the {name} dataset has no len(), so it cannot be read into memory; pass "
            f"DataLoader(dataset, batch_size=64) instead and its batches are used as they come."
        ) from None
    if n == 0:
        raise ValueError(f"the {name} dataset is empty (len() is 0).")
    if n > MAX_IN_MEMORY_ITEMS:
        raise ValueError(
            f"the {name} dataset has {n} items, more than the {MAX_IN_MEMORY_ITEMS} read into "
            "memory; pass DataLoader(dataset, batch_size=64, shuffle=True) instead."
        )
    raw = _torchvision_arrays(dataset)
    if raw is not None:
        data, targets = raw
        return tensor_source(
            data,
            name=name,
            what=f"the {name} dataset",
            image_size=image_size,
            channels=channels,
            labels=targets,
            classes=list(getattr(dataset, "classes", [])) or None,
        )

    items: list[torch.Tensor] = []
    labels: list[int] | None = []
    for i in range(n):
        image, label = _split_item(dataset[i], f"item {i} of the {name} dataset")
        items.append(image)
        if labels is not None and label is not None:
            labels.append(label)
        else:
            labels = None
    stacked = _stack_items(items, name=name, image_size=image_size, channels=channels)
    return tensor_source(
        stacked,
        name=name,
        what=f"the {name} dataset",
        image_size=image_size,
        channels=channels,
        labels=labels,
    )


def loader_source(
    loader: DataLoader, *, image_size: int | None, channels: int | None
) -> DataSource:
    convert = _LoaderBatchConverter(image_size=image_size, channels=channels)
    try:
        first_batch = next(iter(loader))
    except StopIteration:
        raise ValueError("the DataLoader yielded no batches (is its dataset empty?)") from None
    # Validate now, before any training starts, with the same code every batch goes through.
    first = convert(first_batch, 0)
    classes = _loader_classes(loader)
    first_labels = None
    if classes is not None and isinstance(first_batch, (tuple, list)) and len(first_batch) > 1:
        # Kept for a class-conditional run (`DataSource.labelled`); checked when it is one.
        with contextlib.suppress(ValueError, TypeError):
            first_labels = loader_labels(first_batch, "the DataLoader's first batch")
    return DataSource(
        name="DataLoader",
        loader=loader,
        convert=convert,
        first=first,
        first_labels=first_labels,
        classes=classes,
    )


def _loader_classes(loader: DataLoader) -> list[str] | None:
    """The class names of a loader's dataset: its `.classes` (torchvision, ImageFolder), or
    0..max(`.targets`) as strings; None when it names neither."""
    dataset = loader.dataset
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, (list, tuple)) and classes:
        return [str(c) for c in classes]
    targets = getattr(dataset, "targets", None)
    if targets is None:
        return None
    try:
        t = torch.as_tensor(targets)
    except (TypeError, ValueError, RuntimeError):
        return None
    if t.dim() != 1 or not len(t) or t.dtype.is_floating_point or t.dtype == torch.bool:
        return None
    return [str(i) for i in range(int(t.max()) + 1)]


class _LoaderBatchConverter:
    """Brings each loader batch to float32 (B, *sample_shape) in [-1, 1]. The first batch fixes
    the rules (value range, size, images or points); later batches must follow them."""

    def __init__(self, *, image_size: int | None, channels: int | None) -> None:
        self.image_size = image_size
        self.channels = channels
        self._mode: str | None = None
        self._item_dim: int | None = None

    def __call__(self, batch: Any, index: int) -> torch.Tensor:
        what = f"batch {index} of the DataLoader"
        if isinstance(batch, (tuple, list)) and batch:
            batch = batch[0]
        if not isinstance(batch, (torch.Tensor, np.ndarray)):
            raise TypeError(
                f"{what} is a {type(batch).__name__}; a DataLoader must yield image tensors, "
                "or (images, labels) tuples / lists whose first element is the image tensor."
            )
        x = layout_nchw(to_tensor(batch), what=what)
        if self._item_dim is None:
            self._item_dim = x.dim()
        elif x.dim() != self._item_dim:
            raise ValueError(f"{what} has shape {tuple(x.shape)}, unlike the first batch.")
        if x.dim() == 2:
            if self.channels is not None:
                raise ValueError(
                    f"channels={self.channels} was given but the DataLoader yields 2-D points; "
                    "pass channels=None."
                )
            return check_points(x, what=what)
        if self._mode is None:
            self._mode = range_mode(x, what=what)
            if self.image_size is None:
                self.image_size = square_size(tuple(x.shape), what=what)
        x = to_signed(x, self._mode, what=what)
        x = convert_channels(x, self.channels, what=what)
        return resize(x, self.image_size)


def _split_item(item: Any, what: str) -> tuple[torch.Tensor, int | None]:
    label = None
    if isinstance(item, (tuple, list)):
        if not item:
            raise TypeError(f"{what} is an empty {type(item).__name__}; expected {_ITEM_TYPES}.")
        if len(item) > 1:
            label = _as_label(item[1])
        item = item[0]
    if isinstance(item, Image.Image):
        x = _pil_to_tensor(item)
    elif isinstance(item, (torch.Tensor, np.ndarray)):
        x = to_tensor(item)
    else:
        raise TypeError(f"{what} is a {type(item).__name__}; items must be {_ITEM_TYPES}.")
    return layout_nchw(x, what=what, batched=False), label


def _as_label(value: Any) -> int | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_floating_point:
        return int(value.item())
    return None


def _pil_to_tensor(image: Image.Image) -> torch.Tensor:
    if image.mode not in ("L", "RGB"):
        image = image.convert("L" if image.mode in ("1", "LA", "I", "I;16", "F") else "RGB")
    return torch.from_numpy(np.array(image, dtype=np.uint8))


def _stack_items(
    items: list[torch.Tensor], *, name: str, image_size: int | None, channels: int | None
) -> torch.Tensor:
    """One tensor from per-item tensors that may differ in size or channel count (PIL items)."""
    what = f"the {name} dataset"
    dims = {x.dim() for x in items}
    if len(dims) > 1:
        raise ValueError(f"{what} mixes 2-D points and images; items must all be of one kind.")
    if dims == {1}:
        return torch.stack(items)
    dtypes = {x.dtype == torch.uint8 for x in items}
    if len(dtypes) > 1:
        raise ValueError(f"{what} mixes uint8 and floating-point items; use one kind.")
    shapes = {tuple(x.shape) for x in items}
    if len(shapes) == 1:
        return torch.stack(items)
    # Items differ: bring each to the target channels and size, keeping the value scale.
    want_channels = channels or (3 if any(x.shape[0] == 3 for x in items) else items[0].shape[0])
    size = image_size if image_size is not None else square_size(tuple(items[0].shape), what=what)
    is_uint8 = items[0].dtype == torch.uint8
    out = []
    for x in items:
        x = convert_channels(x.unsqueeze(0).float(), want_channels, what=what)
        if tuple(x.shape[-2:]) != (size, size):
            shrinking = size < x.shape[-2] or size < x.shape[-1]
            x = torch.nn.functional.interpolate(
                x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking
            )
        out.append(x[0])
    stacked = torch.stack(out)
    return stacked.round_().clamp_(0, 255).to(torch.uint8) if is_uint8 else stacked


def _torchvision_arrays(dataset: Dataset) -> tuple[Any, Any] | None:
    """The raw (data, targets) arrays of an untransformed torchvision MNIST / CIFAR-style set:
    the same values dataset[i] would give, without one PIL round trip per item."""
    if "torchvision" not in sys.modules or not type(dataset).__module__.startswith("torchvision."):
        return None
    data = getattr(dataset, "data", None)
    targets = getattr(dataset, "targets", None)
    if getattr(dataset, "transform", None) is not None or getattr(
        dataset, "target_transform", None
    ):
        return None
    if getattr(dataset, "transforms", None) is not None:
        return None
    if not isinstance(data, (torch.Tensor, np.ndarray)) or targets is None:
        return None
    if len(data) != len(dataset) or len(targets) != len(dataset):  # type: ignore[arg-type]
        return None
    return data, targets
