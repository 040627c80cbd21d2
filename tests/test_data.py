"""Tests for the data layer: every source kind, value ranges and shapes, deterministic and
resumable batches, and the error messages users see. All offline; the network is never used."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from genai_widgets.data import (
    IMAGE_DATASETS,
    TOY_DATASETS,
    BatchIterator,
    DatasetUnavailableError,
    DataSource,
    _named,
    get_dataset,
)


@pytest.fixture(scope="module")
def digits() -> DataSource:
    return get_dataset("digits")


def take(iterator: BatchIterator, n: int) -> list[torch.Tensor]:
    return [next(iterator) for _ in range(n)]


def assert_images(x: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert x.dtype == torch.float32
    assert x.device.type == "cpu"
    assert tuple(x.shape) == shape
    assert x.min() >= -1.0 and x.max() <= 1.0


# --- named image sets --------------------------------------------------------------------


def test_digits_default(digits: DataSource) -> None:
    assert digits.kind == "images" and digits.name == "digits"
    assert digits.sample_shape == (1, 32, 32)
    assert (digits.channels, digits.image_size) == (1, 32)
    assert len(digits) == 1797
    assert digits.tensor is not None and digits.loader is None
    assert_images(digits.tensor, (1797, 1, 32, 32))
    # The full range is used: background -1, full strokes +1.
    assert digits.tensor.min() == -1.0 and digits.tensor.max() == 1.0
    assert digits.labels is not None and digits.labels.dtype == torch.long
    assert sorted(digits.labels.unique().tolist()) == list(range(10))
    assert digits.num_classes == 10


def test_digits_native_size_matches_sklearn() -> None:
    from sklearn.datasets import load_digits

    src = get_dataset("digits", image_size=None)
    expected = torch.from_numpy(load_digits().images).float() / 8 - 1
    assert src.sample_shape == (1, 8, 8)
    torch.testing.assert_close(src.tensor[:, 0], expected)


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_digits_resize_and_channels(size: int, channels: int) -> None:
    src = get_dataset("digits", image_size=size, channels=channels)
    assert src.sample_shape == (channels, size, size)
    assert_images(src.tensor, (1797, channels, size, size))
    if channels == 3:  # grey repeated, not invented colour
        assert torch.equal(src.tensor[:, 0], src.tensor[:, 2])
    batch = next(src.batches(8, seed=0))
    assert_images(batch, (8, channels, size, size))


def test_name_normalisation_and_constants() -> None:
    assert IMAGE_DATASETS == ("digits", "mnist", "fashion-mnist", "cifar10")
    assert TOY_DATASETS == ("ring", "grid", "spiral", "moons")
    assert get_dataset(" Digits ", image_size=8).name == "digits"


# --- torchvision sets, offline -------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """Every name lookup fails as it does offline, and records the socket timeout in force."""
    seen: list[float | None] = []

    def offline(*args: object, **kwargs: object) -> None:
        seen.append(socket.getdefaulttimeout())
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    return seen


def assert_offline_message(message: str, name: str) -> None:
    assert repr(name) in message
    assert '"digits"' in message
    for choice in ('"ring"', '"grid"', "tensor", "folder of images"):
        assert choice in message
    assert "root=" in message


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_torchvision_missing_files_without_download(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetUnavailableError) as info:
        get_dataset(name, root=tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "download=False" in message and str(tmp_path) in message
    assert_offline_message(message, name)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_torchvision_download_fails_fast_offline(
    tmp_path: Path, no_network: list[float | None], name: str
) -> None:
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as info:
        get_dataset(name, root=tmp_path, download=True)
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "downloading" in message and "failed" in message
    assert_offline_message(message, name)
    # torchvision's urlopen has no timeout of its own; ours was in force, then removed.
    assert no_network and all(t == _named.DOWNLOAD_TIMEOUT_S for t in no_network)
    assert socket.getdefaulttimeout() is None


def write_idx(path: Path, array: np.ndarray) -> None:
    """MNIST's idx format: magic (0, 0, ubyte, ndim), big-endian dims, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_from_files_on_disk(tmp_path: Path, no_network: list[float | None]) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    labels = np.arange(20) % 10
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
    src = get_dataset("mnist", root=tmp_path, download=False, image_size=28)
    assert src.name == "mnist" and src.sample_shape == (1, 28, 28) and len(src) == 20
    torch.testing.assert_close(src.tensor[:, 0], torch.from_numpy(images).float() / 127.5 - 1)
    assert src.labels.tolist() == labels.tolist()
    assert src.classes is not None and len(src.classes) == 10
    assert get_dataset("mnist", root=tmp_path, image_size=32).sample_shape == (1, 32, 32)
    assert not no_network  # files present: nothing was downloaded


def test_data_root_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GENAI_WIDGETS_DATA", str(tmp_path))
    assert _named.default_root() == tmp_path
    with pytest.raises(DatasetUnavailableError, match=str(tmp_path)):
        get_dataset("fashion-mnist", download=False)
    monkeypatch.delenv("GENAI_WIDGETS_DATA")
    assert _named.default_root() == Path.home() / ".cache" / "genai_widgets" / "data"


# --- toy 2-D distributions -------------------------------------------------------------------


def test_ring_modes_and_samples() -> None:
    src = get_dataset("ring", n_points=4000, seed=3)
    assert src.kind == "points" and src.sample_shape == (2,)
    assert src.channels is None and src.image_size is None
    assert len(src) == 4000
    assert src.modes.shape == (8, 2) and src.mode_std == 0.02
    torch.testing.assert_close(src.modes.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(src.modes[:, 1], src.modes[:, 0]).remainder(2 * torch.pi).sort().values
    torch.testing.assert_close(angles, torch.arange(8) * (torch.pi / 4), atol=1e-5, rtol=0)
    # Each point sits near the mode its label names, at about the stated std.
    residual = src.tensor - src.modes[src.labels]
    assert abs(residual.std().item() - 0.02) < 0.002
    assert src.labels.bincount(minlength=8).min() > 350  # all modes used, roughly evenly


def test_grid_modes() -> None:
    src = get_dataset("grid", n_points=5000)
    assert src.modes.shape == (25, 2) and src.mode_std == 0.05
    coords = {(round(x), round(y)) for x, y in src.modes.tolist()}
    assert coords == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    residual = src.tensor - src.modes[src.labels]
    assert abs(residual.std().item() - 0.05) < 0.005


def test_spiral_and_moons() -> None:
    spiral = get_dataset("spiral", n_points=1000)
    assert spiral.tensor.shape == (1000, 2) and spiral.modes is None
    assert torch.isfinite(spiral.tensor).all()
    moons = get_dataset("moons", n_points=1000)
    torch.testing.assert_close(moons.tensor.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(moons.tensor.std(0), torch.ones(2), atol=1e-4, rtol=0)
    assert sorted(moons.labels.unique().tolist()) == [0, 1]


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_seed_determinism(name: str) -> None:
    a = get_dataset(name, n_points=500, seed=1)
    b = get_dataset(name, n_points=500, seed=1, image_size=64)  # image_size: ignored for points
    c = get_dataset(name, n_points=500, seed=2)
    assert torch.equal(a.tensor, b.tensor)
    assert not torch.equal(a.tensor, c.tensor)
    assert_images(next(a.batches(100, seed=0)).clamp(-1, 1), (100, 2))


def test_toy_rejects_channels() -> None:
    with pytest.raises(ValueError, match=r"channels=3 .*'ring' is a set of 2-D points"):
        get_dataset("ring", channels=3)


# --- tensors and numpy arrays ----------------------------------------------------------------


def test_uint8_tensor_is_scaled() -> None:
    x = torch.tensor([0, 255, 51, 204], dtype=torch.uint8).reshape(1, 1, 2, 2).repeat(3, 1, 1, 1)
    src = get_dataset(x, image_size=None)
    assert src.name == "tensor" and src.sample_shape == (1, 2, 2)
    torch.testing.assert_close(src.tensor[0, 0].flatten(), torch.tensor([-1.0, 1.0, -0.6, 0.6]))


def test_unit_float_is_mapped_and_signed_is_kept() -> None:
    unit = torch.rand(10, 3, 8, 8)
    torch.testing.assert_close(get_dataset(unit, image_size=8).tensor, unit * 2 - 1)
    signed = torch.rand(10, 3, 8, 8) * 2 - 1
    src = get_dataset(signed, image_size=8)
    torch.testing.assert_close(src.tensor, signed)
    assert src.tensor.data_ptr() != signed.data_ptr()  # the user's tensor is never aliased


def test_numpy_layouts() -> None:
    rng = np.random.default_rng(0)
    nhw = rng.integers(0, 256, size=(6, 10, 10), dtype=np.uint8)
    src = get_dataset(nhw, image_size=16)
    assert src.name == "array" and src.sample_shape == (1, 16, 16)
    nhwc = rng.random((6, 12, 12, 3)).astype(np.float32)
    src = get_dataset(nhwc, image_size=None)
    assert src.sample_shape == (3, 12, 12)
    torch.testing.assert_close(src.tensor, torch.from_numpy(nhwc).permute(0, 3, 1, 2) * 2 - 1)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_tensor_resize(size: int) -> None:
    x = torch.rand(4, 3, 28, 28) * 2 - 1
    src = get_dataset(x, image_size=size)
    assert_images(src.tensor, (4, 3, size, size))
    # A constant image stays constant at any size (no ringing, no edge darkening).
    flat = get_dataset(torch.full((2, 1, 28, 28), 0.25), image_size=size).tensor
    torch.testing.assert_close(flat, torch.full((2, 1, size, size), -0.5))


def test_channel_conversion() -> None:
    rgb = torch.zeros(2, 3, 4, 4)
    rgb[:, 0] = 1.0  # pure red
    grey = get_dataset(rgb, image_size=None, channels=1).tensor
    assert grey.shape == (2, 1, 4, 4)
    torch.testing.assert_close(grey, torch.full_like(grey, 0.299 * 1 + 0.701 * -1))
    one = torch.rand(2, 1, 4, 4)
    three = get_dataset(one, image_size=None, channels=3).tensor
    assert three.shape == (2, 3, 4, 4) and torch.equal(three[:, 0], three[:, 1])
    with pytest.raises(ValueError, match=r"4 channels but channels=3 .*grey \(1\) -> RGB \(3\)"):
        get_dataset(torch.rand(2, 4, 8, 8), channels=3)
    assert get_dataset(torch.rand(2, 4, 8, 8), image_size=None).channels == 4


def test_points_tensor() -> None:
    points = torch.randn(100, 2) * 5  # points keep their own scale
    src = get_dataset(points)
    assert src.kind == "points" and torch.equal(src.tensor, points)
    with pytest.raises(ValueError, match="2-D points"):
        get_dataset(points, channels=1)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (torch.rand(2, 1, 1, 8, 8), r"shape 2 x 1 x 1 x 8 x 8; accepted shapes: N x C x H x W"),
        (torch.rand(10, 784), r"N x 2 points.*reshaped to N x C x H x W"),
        (torch.rand(0, 1, 8, 8), "is empty"),
        (
            torch.arange(2 * 64).reshape(2, 1, 8, 8) % 17,
            r"values in \[0, 16\].*convert them to uint8",
        ),
        (
            torch.full((2, 1, 8, 8), 3.5),
            r"values in \[3.5, 3.5\].*accepted: uint8 values in \[0, 255\]",
        ),
        (torch.full((2, 1, 8, 8), float("nan")), "NaN or infinite"),
    ],
)
def test_tensor_errors(data: torch.Tensor, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern) as info:
        get_dataset(data)
    if data.dim() and data.numel():
        assert "the tensor given" in str(info.value)


def test_non_square_needs_image_size() -> None:
    with pytest.raises(ValueError, match=r"10 x 12 images .*pass image_size="):
        get_dataset(torch.rand(2, 1, 10, 12), image_size=None)
    assert get_dataset(torch.rand(2, 1, 10, 12), image_size=16).sample_shape == (1, 16, 16)


# --- batches: determinism, epochs, resuming --------------------------------------------------


def test_batches_shape_and_range(digits: DataSource) -> None:
    for batch in take(digits.batches(64, seed=0), 30):  # crosses an epoch boundary
        assert_images(batch, (64, 1, 32, 32))
    assert digits.steps_per_epoch(64) == 1797 // 64


def test_batches_deterministic_per_seed(digits: DataSource) -> None:
    a = torch.stack(take(digits.batches(32, seed=7), 5))
    b = torch.stack(take(digits.batches(32, seed=7), 5))
    c = torch.stack(take(digits.batches(32, seed=8), 5))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_each_epoch_is_a_permutation_without_the_partial_batch() -> None:
    data = torch.linspace(-1, 1, 10).reshape(10, 1, 1, 1)
    src = get_dataset(data, image_size=None)
    it = src.batches(3, seed=0)
    assert src.steps_per_epoch(3) == 3
    seen = []
    for _ in range(3):
        assert it.epoch == 0
        seen.append(next(it))
    assert it.epoch == 1  # counted as soon as the last full batch of the pass is out
    first_pass = torch.cat(seen).flatten()
    assert len(first_pass.unique()) == 9  # 9 distinct of 10: one item dropped, none repeated
    second_pass = torch.cat(take(it, 3)).flatten()
    assert it.epoch == 2
    assert not torch.equal(first_pass, second_pass)  # reshuffled each pass


def test_state_dict_round_trip_continues_exactly(digits: DataSource, tmp_path: Path) -> None:
    it = digits.batches(100, seed=5)
    take(it, 12)  # 17 steps per epoch; stop mid-epoch
    state = it.state_dict()
    expected = take(it, 20)  # runs across the next epoch boundary
    path = tmp_path / "state.pt"
    torch.save(state, path)
    resumed = digits.batches(100, seed=999)  # the seed is overridden by the saved state
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert resumed.epoch == 0
    for want, got in zip(expected, take(resumed, 20), strict=True):
        assert torch.equal(want, got)
    assert resumed.epoch == it.epoch == 1


def test_state_dict_at_epoch_boundary_and_mismatch(digits: DataSource) -> None:
    it = digits.batches(100, seed=1)
    take(it, 17)  # exactly one epoch
    state = it.state_dict()
    assert state["epoch"] == 1 and state["permutation"] is None
    expected = next(it)
    resumed = digits.batches(100, seed=2)
    resumed.load_state_dict(state)
    assert torch.equal(next(resumed), expected)
    with pytest.raises(ValueError, match="batch_size=100.*batch_size=50"):
        digits.batches(50, seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match="kind 'tensor', got 'loader'"):
        digits.batches(50, seed=1).load_state_dict({"kind": "loader", "epoch": 0})


def test_first_batch_does_not_advance(digits: DataSource) -> None:
    it = digits.batches(16, seed=3)
    first = digits.first_batch(16, seed=3)
    assert torch.equal(first, digits.first_batch(16, seed=3))
    assert torch.equal(first, next(it))


def test_batch_size_validation(digits: DataSource) -> None:
    with pytest.raises(ValueError, match=r"batch_size=5000 is larger than the data set \(1797"):
        digits.batches(5000, seed=0)
    with pytest.raises(ValueError, match="positive int"):
        digits.steps_per_epoch(0)


# --- image folders ---------------------------------------------------------------------------


def save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_flat_grey_folder(tmp_path: Path) -> None:
    for i in range(5):
        save(tmp_path / f"img{i}.png", np.full((20, 20), i * 60, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    save(tmp_path / ".ipynb_checkpoints" / "img0-checkpoint.png", np.zeros((3, 3), np.uint8))
    src = get_dataset(tmp_path, image_size=16)
    assert src.name == f"folder:{tmp_path.resolve()}"
    assert src.sample_shape == (1, 16, 16) and len(src) == 5
    assert src.labels is None and src.classes is None
    means = src.tensor.mean(dim=(1, 2, 3))
    torch.testing.assert_close(means, torch.tensor([0, 60, 120, 180, 240]) / 127.5 - 1)


def test_class_folders_with_colour(tmp_path: Path) -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    save(tmp_path / "cats" / "a.png", red)
    save(tmp_path / "cats" / "b.jpg", red)
    save(tmp_path / "dogs" / "c.png", np.full((8, 8), 128, np.uint8))  # grey among colour
    src = get_dataset(str(tmp_path), image_size=8)
    assert src.sample_shape == (3, 8, 8)
    assert src.classes == ["cats", "dogs"] and src.labels.tolist() == [0, 0, 1]
    assert src.tensor[0, 0].min() > 0.9 and src.tensor[0, 1].max() < -0.9
    assert torch.equal(src.tensor[2, 0], src.tensor[2, 2])  # grey repeated to RGB
    grey = get_dataset(tmp_path, image_size=8, channels=1)
    assert grey.sample_shape == (1, 8, 8)


def test_grey_saved_as_rgb_is_one_channel(tmp_path: Path) -> None:
    save(tmp_path / "a.png", np.full((6, 6, 3), 77, np.uint8))
    src = get_dataset(tmp_path, image_size=None)
    assert src.sample_shape == (1, 6, 6)
    assert get_dataset(tmp_path, image_size=None, channels=3).sample_shape == (3, 6, 6)


def test_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"holds no images: looked recursively for \.png"):
        get_dataset(empty)
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=r"data='.*nowhere' is neither a known data set name"):
        get_dataset(str(missing))
    save(tmp_path / "wide" / "w.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(ValueError, match=r"is 6 x 4 .*pass image_size="):
        get_dataset(tmp_path / "wide", image_size=None)
    with pytest.raises(ValueError, match="is a file; pass the folder"):
        get_dataset(tmp_path / "wide" / "w.png")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"could not read .*broken\.png as an image"):
        get_dataset(tmp_path / "bad")


# --- torch Datasets --------------------------------------------------------------------------


class ListDataset(Dataset):
    def __init__(self, items: list[object]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> object:
        return self.items[i]


def test_tensor_dataset_with_labels() -> None:
    images = torch.rand(12, 1, 28, 28)
    labels = torch.arange(12) % 3
    src = get_dataset(TensorDataset(images, labels), image_size=32)
    assert src.name == "TensorDataset" and src.sample_shape == (1, 32, 32)
    assert src.labels.tolist() == labels.tolist()
    assert_images(next(src.batches(4, seed=0)), (4, 1, 32, 32))


def test_dataset_of_bare_tensors_and_pil_images() -> None:
    bare = ListDataset([torch.rand(3, 8, 8) * 2 - 1 for _ in range(4)])
    src = get_dataset(bare, image_size=None)
    assert src.sample_shape == (3, 8, 8) and src.labels is None
    pil = ListDataset(
        [(Image.fromarray(np.full((10, 10), 255, np.uint8)), 1), (Image.new("RGB", (14, 14)), 0)]
    )
    src = get_dataset(pil, image_size=16)
    assert src.sample_shape == (3, 16, 16) and src.labels.tolist() == [1, 0]
    torch.testing.assert_close(src.tensor[0], torch.ones(3, 16, 16))
    torch.testing.assert_close(src.tensor[1], -torch.ones(3, 16, 16))


def test_dataset_of_points() -> None:
    src = get_dataset(ListDataset([torch.tensor([float(i), -i]) for i in range(5)]))
    assert src.kind == "points" and src.tensor.shape == (5, 2)


def test_dataset_errors() -> None:
    with pytest.raises(
        TypeError, match=r"item 0 of the ListDataset dataset is a str; items must be tensors"
    ):
        get_dataset(ListDataset(["a.png", "b.png"]))
    with pytest.raises(ValueError, match="dataset is empty"):
        get_dataset(ListDataset([]))

    class Stream(IterableDataset):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield torch.zeros(1, 8, 8)

    with pytest.raises(TypeError, match=r"IterableDataset \(Stream\).*DataLoader\(dataset"):
        get_dataset(Stream())


# --- DataLoaders -----------------------------------------------------------------------------


def test_loader_with_labels_resizes_and_scales() -> None:
    images = torch.rand(50, 1, 28, 28)  # [0, 1], as after ToTensor()
    loader = DataLoader(TensorDataset(images, torch.zeros(50)), batch_size=16)
    src = get_dataset(loader, image_size=32)
    assert src.name == "DataLoader" and src.loader is loader and src.tensor is None
    assert src.sample_shape == (1, 32, 32) and len(src) == 50
    assert src.steps_per_epoch(999) == 4  # the loader's own batch size decides
    it = src.batches(999, seed=0)
    batches = take(it, 4)
    assert [len(b) for b in batches] == [16, 16, 16, 2]  # as they come, partial included
    for b in batches:
        assert_images(b, (len(b), 1, 32, 32))
    assert it.epoch == 0
    next(it)
    assert it.epoch == 1
    expected = torch.nn.functional.interpolate(images[:16] * 2 - 1, size=32, mode="bilinear")
    torch.testing.assert_close(src.first_batch(8), expected)


def test_loader_of_bare_images_and_state() -> None:
    images = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8)
    loader = DataLoader(images, batch_size=4)
    src = get_dataset(loader, image_size=16)
    assert src.sample_shape == (3, 16, 16)
    it = src.batches(4, seed=0)
    torch.testing.assert_close(next(it), images[:4].float() / 127.5 - 1)
    take(it, 3)
    state = it.state_dict()
    assert state == {"kind": "loader", "epoch": 1}
    resumed = src.batches(4, seed=0)
    resumed.load_state_dict(state)
    assert resumed.epoch == 1
    assert torch.equal(next(resumed), next(src.batches(4, seed=0)))  # a fresh pass


def test_loader_errors() -> None:
    dicts = DataLoader(ListDataset([{"image": torch.zeros(1, 8, 8)}] * 4), batch_size=2)
    with pytest.raises(
        TypeError, match=r"batch 0 of the DataLoader is a dict; .*\(images, labels\)"
    ):
        get_dataset(dicts)
    with pytest.raises(ValueError, match="yielded no batches"):
        get_dataset(DataLoader(TensorDataset(torch.zeros(0, 1, 8, 8)), batch_size=2))
    # The first batch fixes the range rule ([0, 1]); a later batch that breaks it is refused.
    mixed = torch.cat([torch.rand(4, 1, 8, 8), torch.full((4, 1, 8, 8), 7.0)])
    src = get_dataset(DataLoader(mixed, batch_size=4), image_size=8)
    it = src.batches(4, seed=0)
    next(it)
    with pytest.raises(ValueError, match=r"batch 1 of the DataLoader .*\[0, 1\]"):
        next(it)


def test_loader_of_unknown_length() -> None:
    class Stream(IterableDataset):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(torch.rand(6, 2).unbind())

    src = get_dataset(DataLoader(Stream(), batch_size=3))
    assert src.kind == "points"
    assert src.steps_per_epoch(3) is None
    assert bool(src)  # truthiness must not call the failing __len__
    with pytest.raises(TypeError, match="number of items of DataLoader is unknown"):
        len(src)
    assert "DataLoader" in repr(src)


# --- anything else ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error", "pattern"),
    [
        (42, TypeError, r"data of type int \(42\) is not accepted"),
        ({"images": 1}, TypeError, r"data of type dict"),
        ([torch.zeros(1, 8, 8)], TypeError, r"torch\.stack\(the_list\)"),
        ("minst", ValueError, r"unknown data source 'minst' .*Did you mean 'mnist'\?"),
        ("cifar", ValueError, r"Did you mean 'cifar10'\?"),
        ("imagenet", ValueError, r"unknown data source 'imagenet'"),
    ],
)
def test_unaccepted_sources(data: object, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern) as info:
        get_dataset(data)
    message = str(info.value)
    for accepted in ("'digits'", "'ring'", "folder of images", "DataLoader", "N x 2 points"):
        assert accepted in message


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"image_size": 0}, 'image_size must be a positive int, None or "auto", got 0'),
        ({"channels": 2.5}, "channels must be a positive int or None, got 2.5"),
        ({"n_points": -1}, "n_points must be a positive int, got -1"),
    ],
)
def test_option_validation(options: dict[str, object], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        get_dataset("digits", **options)


def test_datasource_passes_through(digits: DataSource) -> None:
    assert get_dataset(digits) is digits
    assert get_dataset(digits, image_size=32, channels=1) is digits
    with pytest.raises(ValueError, match="built with image_size=32 but image_size=64"):
        get_dataset(digits, image_size=64)


def test_repr_is_informative(digits: DataSource) -> None:
    text = repr(digits)
    assert text.startswith("DataSource('digits'")
    for part in ("1797", "1x32x32", "[-1.00, 1.00]", "10 classes"):
        assert part in text
    ring = repr(get_dataset("ring", n_points=100))
    assert "100 2-D points" in ring and "8 modes, std 0.02" in ring


# --- image_size="auto" (the default) ---------------------------------------------------------


def test_auto_size_keeps_what_the_user_brings_and_sizes_the_named_sets(tmp_path: Path) -> None:
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    for i in range(3):
        save(tmp_path / "folder" / f"{i}.png", np.full((28, 28), 9 * i, np.uint8))
    brought = {
        "tensor": images,
        "array": images.numpy(),
        "Dataset": TensorDataset(images, torch.zeros(8)),
        "DataLoader": DataLoader(TensorDataset(images, torch.zeros(8)), batch_size=4),
        "folder": tmp_path / "folder",
    }
    for kind, source in brought.items():
        assert get_dataset(source).sample_shape == (1, 28, 28), kind
        assert get_dataset(source, image_size="auto").sample_shape == (1, 28, 28), kind
        assert get_dataset(source, image_size=32).sample_shape == (1, 32, 32), kind
    assert get_dataset("digits").sample_shape == (1, 32, 32)  # the named sets: as before
    assert get_dataset("digits", image_size=None).sample_shape == (1, 8, 8)  # None: native
    with pytest.raises(ValueError, match='image_size must be a positive int, None or "auto"'):
        get_dataset(images, image_size="native")


def test_the_offline_error_of_train_gan_suggests_what_train_gan_accepts(
    tmp_path: Path, no_network: list[float | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    import genai_widgets as gw

    monkeypatch.setenv("GENAI_WIDGETS_DATA", str(tmp_path / "empty"))
    with pytest.raises(DatasetUnavailableError) as info:
        gw.train_gan(data="mnist", run_dir=tmp_path / "refused")
    message = str(info.value)
    assert "data=gw.get_dataset('mnist', root=FOLDER)" in message
    assert "GENAI_WIDGETS_DATA=FOLDER" in message
    # Doing what it says works: MNIST's files under FOLDER, then the suggested call.
    folder = tmp_path / "data"
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, size=(32, 28, 28), dtype=np.uint8)
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(32) % 10)
    tiny = dict(max_steps=1, image_size=16, width=8, batch_size=8, latent_dim=8, device="cpu")
    data = gw.get_dataset("mnist", root=folder, image_size=16)
    run = gw.train_gan(data=data, run_dir=tmp_path / "r", **tiny)
    assert run.wait(120) == "finished" and run.step == 1
