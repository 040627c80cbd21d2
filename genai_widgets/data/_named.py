"""Named image sets: the offline default "digits" (shipped inside scikit-learn) and the
torchvision sets, which download when online and fail with the offline choices when not."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import torch

from ._source import DataSource
from ._tensor import tensor_source

IMAGE_DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "cifar10")

# torchvision's urlopen has no timeout: behind a firewall that drops packets it would hang
# for minutes. Each socket operation gets this long instead (a slow download still works).
DOWNLOAD_TIMEOUT_S = 15.0

OFFLINE_CHOICES = (
    'Offline you can use "digits" (the default, shipped with scikit-learn), a toy 2-D set '
    '("ring", "grid", "spiral", "moons"), a tensor or numpy array of images, '
    "or the path of a folder of images"
)


# What torchvision expects under root=, to tell users where files already on disk belong.
_LAYOUT = {
    "mnist": "MNIST/raw/",
    "fashion-mnist": "FashionMNIST/raw/",
    "cifar10": "cifar-10-batches-py/",
}


class DatasetUnavailableError(RuntimeError):
    """A named data set could not be loaded (no network, or files absent with download=False)."""


def default_root() -> Path:
    """Where torchvision sets live: $GENAI_WIDGETS_DATA, else ~/.cache/genai_widgets/data."""
    env = os.environ.get("GENAI_WIDGETS_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genai_widgets" / "data"


def digits_dataset(*, image_size: int | None, channels: int | None) -> DataSource:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # The UCI digits are 8x8 counts of set pixels in 4x4 blocks: values 0..16.
    images = torch.from_numpy(digits.images).float().div_(8.0).sub_(1.0)
    return tensor_source(
        images,
        name="digits",
        what='"digits"',
        image_size=image_size,
        channels=channels,
        labels=torch.from_numpy(digits.target),
        classes=[str(d) for d in range(10)],
    )


def torchvision_dataset(
    name: str,
    *,
    root: str | os.PathLike | None,
    download: bool,
    image_size: int | None,
    channels: int | None,
) -> DataSource:
    from torchvision import datasets

    cls = {
        "mnist": datasets.MNIST,
        "fashion-mnist": datasets.FashionMNIST,
        "cifar10": datasets.CIFAR10,
    }[name]
    where = Path(root).expanduser() if root is not None else default_root()
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            dataset = cls(str(where), train=True, download=download)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError, ...
        failed = (
            f"downloading {name!r} into {where} failed ({_one_line(error)})"
            if download
            else f"{name!r} was not found under {where} and download=False ({_one_line(error)})"
        )
        raise DatasetUnavailableError(
            f"{failed}. {OFFLINE_CHOICES}. If the files are already on disk, in the folder "
            f"FOLDER that holds {_LAYOUT[name]} (torchvision's layout), set the environment "
            f"variable GENAI_WIDGETS_DATA=FOLDER, or pass data=gw.get_dataset({name!r}, "
            "root=FOLDER) to gw.train_gan / gw.train_vae (in a magic, bind it to `data` in "
            "the cell body)."
        ) from error
    # The raw arrays, not dataset[i]: 60k PIL round trips would take seconds.
    return tensor_source(
        dataset.data,
        name=name,
        what=f"{name!r}",
        image_size=image_size,
        channels=channels,
        labels=torch.as_tensor(dataset.targets),
        classes=list(dataset.classes),
    )


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # Process-wide while it lasts; only set when no one chose a default already.
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        if previous is None:
            socket.setdefaulttimeout(None)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
