"""A folder of image files, flat or one subfolder per class, read with PIL directly so any
layout works (torchvision's ImageFolder insists on class subfolders)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._source import DataSource
from ._tensor import tensor_source

IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
)
MAX_FOLDER_IMAGES = 200_000

_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F", "La"}


def folder_dataset(
    path: str | os.PathLike, *, image_size: int | None, channels: int | None
) -> DataSource:
    root = Path(path).expanduser()
    given = f"{os.fspath(path)!r}"
    if not root.exists():
        raise ValueError(
            f"data={given} is neither a known data set name nor an existing path "
            f"(resolved to {root.resolve()}). Pass the path of a folder of images."
        )
    if not root.is_dir():
        raise ValueError(
            f"data={given} is a file; pass the folder that contains the images "
            f"({', '.join(IMAGE_EXTENSIONS)}), flat or in one subfolder per class."
        )
    root = root.resolve()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        # Skip hidden folders: .ipynb_checkpoints and the like hold stale copies.
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.is_file()
    )
    if not files:
        raise ValueError(
            f"the folder {given} ({root}) holds no images: looked recursively for "
            f"{', '.join(IMAGE_EXTENSIONS)}."
        )
    if len(files) > MAX_FOLDER_IMAGES:
        raise ValueError(
            f"the folder {root} holds {len(files)} images, more than the {MAX_FOLDER_IMAGES} "
            "kept in memory; wrap it in a torch DataLoader and pass that instead."
        )

    size = image_size
    arrays: list[np.ndarray] = []
    any_colour = False
    for file in files:
        image = _read(file, channels)
        if size is None:
            width, height = image.size
            if width != height:
                raise ValueError(
                    f"{file} is {width} x {height} and image_size=None keeps the size of the "
                    "first image, but the models need square images: pass image_size=."
                )
            size = width
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        any_colour |= array.ndim == 3
        arrays.append(array)
    if any_colour:
        arrays = [a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2) for a in arrays]
        stacked = np.stack(arrays).transpose(0, 3, 1, 2)
    else:
        stacked = np.stack(arrays)

    classes, labels = _classes(files, root)
    return tensor_source(
        stacked,
        name=f"folder:{root}",
        what=f"the images in {root}",
        image_size=size,
        channels=channels,
        labels=labels,
        classes=classes,
    )


def _read(file: Path, channels: int | None) -> Image.Image:
    """The image as "L" or "RGB"; with channels=None, colour files whose three channels are
    equal (grey saved as RGB, common) count as grey."""
    try:
        with Image.open(file) as opened:
            if channels == 1 or (channels is None and opened.mode in _GREY_MODES):
                return opened.convert("L")
            rgb = opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"could not read {file} as an image: {error}") from error
    if channels is None:
        r, g, b = (np.asarray(band) for band in rgb.split())
        if np.array_equal(r, g) and np.array_equal(g, b):
            return rgb.convert("L")
    return rgb


def _classes(files: list[Path], root: Path) -> tuple[list[str] | None, list[int] | None]:
    """Class labels when every image sits in a direct subfolder (ImageFolder's layout)."""
    parents = [f.relative_to(root).parts for f in files]
    if not all(len(parts) == 2 for parts in parents):
        return None, None
    classes = sorted({parts[0] for parts in parents})
    index = {name: i for i, name in enumerate(classes)}
    return classes, [index[parts[0]] for parts in parents]
