"""`get_dataset`: the one entry point. Decides what kind of source it was given, checks the
options, and hands over to the module that builds that kind."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ._folder import folder_dataset
from ._named import IMAGE_DATASETS, digits_dataset, torchvision_dataset
from ._source import DataSource
from ._tensor import tensor_source
from ._torch import dataset_source, loader_source
from ._toy import TOY_DATASETS, toy_dataset

_ALIASES = {
    "fashionmnist": "fashion-mnist",
    "fashion mnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar 10": "cifar10",
    "two-moons": "moons",
}

# What image_size="auto" gives the named image sets: today's size for each (the 8 x 8 digits
# are upsampled to it). Everything the user brings keeps its own size.
NAMED_IMAGE_SIZE = 32

ACCEPTED = (
    f"a data set name ({', '.join(repr(n) for n in IMAGE_DATASETS + TOY_DATASETS)}), "
    "the path of a folder of images, a torch Dataset, a DataLoader yielding (images, labels) "
    "or images, or a tensor / numpy array (N x C x H x W or N x H x W images, N x 2 points)"
)


def get_dataset(
    source: Any = "digits",
    *,
    image_size: int | Literal["auto"] | None = "auto",
    channels: int | None = None,
    root: str | os.PathLike | None = None,
    download: bool = True,
    n_points: int = 20000,
    seed: int = 0,
) -> DataSource:
    """A `DataSource` from a name, folder path, Dataset, DataLoader, tensor or numpy array.

    Images come out as float32 in [-1, 1], resized to image_size x image_size with `channels`
    channels (None keeps the data's own; grey <-> RGB converts). image_size None keeps the
    native size; "auto" (the default) keeps it for data you bring (Dataset, DataLoader,
    tensor, folder) and gives the named image sets NAMED_IMAGE_SIZE (32). For 2-D points
    image_size is ignored and channels must be None.

    source:     "digits" (offline, scikit-learn's 8x8 UCI digits), "mnist", "fashion-mnist",
                "cifar10" (torchvision, downloaded into `root`), "ring", "grid", "spiral",
                "moons" (2-D toys with `n_points` samples drawn with `seed`), a folder path,
                a torch Dataset, a DataLoader, or a tensor / numpy array. A string that is a
                known name is that data set even when a folder of the same name exists; write
                "./digits" for the folder.
    root:       where torchvision sets live; default $GENAI_WIDGETS_DATA, else
                ~/.cache/genai_widgets/data.
    download:   let torchvision download a missing set (raises DatasetUnavailableError
                when it cannot).
    """
    _check_options(image_size=image_size, channels=channels, n_points=n_points, seed=seed)
    auto = isinstance(image_size, str)  # "auto": named sets at NAMED_IMAGE_SIZE, others native
    # numpy ints pass the check; plain ints keep them out of shapes and reprs.
    image_size = None if image_size is None or auto else int(image_size)
    named_size = NAMED_IMAGE_SIZE if auto else image_size
    channels = None if channels is None else int(channels)
    n_points, seed = int(n_points), int(seed)
    if isinstance(source, DataSource):
        return _reuse(source, image_size=image_size, channels=channels)
    if isinstance(source, DataLoader):
        return loader_source(source, image_size=image_size, channels=channels)
    if isinstance(source, (torch.Tensor, np.ndarray)):
        name = "tensor" if isinstance(source, torch.Tensor) else "array"
        return tensor_source(
            source,
            name=name,
            what=f"the {name} given (shape {tuple(source.shape)})",
            image_size=image_size,
            channels=channels,
        )
    if isinstance(source, str):
        name = _ALIASES.get(source.strip().lower(), source.strip().lower().replace("_", "-"))
        if name in TOY_DATASETS:
            _no_channels_for_points(name, channels)
            return toy_dataset(name, n_points=n_points, seed=seed)
        if name == "digits":
            return digits_dataset(image_size=named_size, channels=channels)
        if name in IMAGE_DATASETS:
            return torchvision_dataset(
                name, root=root, download=download, image_size=named_size, channels=channels
            )
        if _looks_like_path(source):
            return folder_dataset(source, image_size=image_size, channels=channels)
        known = IMAGE_DATASETS + TOY_DATASETS
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown data source {source!r} (not a known name, and no such path).{hint} "
            f"Accepted: {ACCEPTED}."
        )
    if isinstance(source, os.PathLike):
        return folder_dataset(source, image_size=image_size, channels=channels)
    if isinstance(source, IterableDataset):
        raise TypeError(
            f"an IterableDataset ({type(source).__name__}) cannot be shuffled or read into "
            "memory; pass DataLoader(dataset, batch_size=64) instead."
        )
    if isinstance(source, Dataset):
        return dataset_source(source, image_size=image_size, channels=channels)
    hint = ""
    if isinstance(source, (list, tuple)):
        hint = " For a list of image tensors, pass torch.stack(the_list)."
    raise TypeError(
        f"data of type {type(source).__name__} ({_short_repr(source)}) is not accepted.{hint} "
        f"Accepted: {ACCEPTED}."
    )


def _check_options(*, image_size: Any, channels: Any, n_points: Any, seed: Any) -> None:
    if image_size == "auto":
        image_size = None
    for key, value, allow_none in (
        ("image_size", image_size, True),
        ("channels", channels, True),
        ("n_points", n_points, False),
    ):
        if value is None and allow_none:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            none = {"image_size": ', None or "auto"', "channels": " or None"}.get(key, "")
            raise ValueError(f"{key} must be a positive int{none}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")


def _no_channels_for_points(name: str, channels: int | None) -> None:
    if channels is not None:
        raise ValueError(
            f"channels={channels} was given but {name!r} is a set of 2-D points, which has no "
            "channels; pass channels=None."
        )


def _reuse(source: DataSource, *, image_size: int | None, channels: int | None) -> DataSource:
    """A ready DataSource passes through when it already has the asked size and channels."""
    if source.kind == "points":
        _no_channels_for_points(source.name, channels)
        return source
    for key, want, have in (
        ("image_size", image_size, source.image_size),
        ("channels", channels, source.channels),
    ):
        if want is not None and want != have:
            raise ValueError(
                f"the DataSource {source.name!r} was built with {key}={have} but {key}={want} was "
                f"asked; build it again with get_dataset(..., {key}={want}), or ask for {have}."
            )
    return source


def _looks_like_path(text: str) -> bool:
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(s in text for s in seps) or text.startswith(("~", ".")) or Path(text).exists()


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
