"""`DataSource`: one data set, whatever it came from, and the resumable batch iterators the
engine draws from it. In-memory data is batched by index permutation, with no DataLoader."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

BatchConverter = Callable[[Any, int], torch.Tensor]


class LabelledBatch:
    """A batch of samples `x` with their class ids `y` (a LongTensor, one per sample): what the
    batches of `DataSource.labelled()` yield. Moves and slices like a tensor (`.to(device)`,
    `len`, `batch[a:b]`), so the engine and a torchrun job's rank slicing pass it through."""

    __slots__ = ("x", "y")

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def to(self, device: Any, non_blocking: bool = False) -> LabelledBatch:
        return LabelledBatch(
            self.x.to(device, non_blocking=non_blocking),
            self.y.to(device, non_blocking=non_blocking),
        )

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: Any) -> LabelledBatch:
        return LabelledBatch(self.x[index], self.y[index])

    @property
    def shape(self) -> torch.Size:
        return self.x.shape

    @property
    def device(self) -> torch.device:
        return self.x.device

    def clone(self) -> LabelledBatch:
        return LabelledBatch(self.x.clone(), self.y.clone())


class BatchIterator:
    """An endless, resumable stream of float32 CPU batches in [-1, 1].

    `epoch` counts completed passes over the data. `state_dict()` / `load_state_dict()`
    let a resumed run continue the same sequence; both hold only tensors, ints and
    strings, so they load with `torch.load(weights_only=True)`.
    """

    epoch: int

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _TensorBatches(BatchIterator):
    """Shuffled batches of an in-memory tensor; the last partial batch of each pass is dropped."""

    def __init__(
        self, data: torch.Tensor, batch_size: int, seed: int, labels: torch.Tensor | None = None
    ) -> None:
        self._data = data
        self._labels = labels  # given: batches are LabelledBatch, the same rows' labels
        self._batch_size = batch_size
        self._generator = torch.Generator().manual_seed(seed)
        self._permutation: torch.Tensor | None = None  # drawn lazily at the start of a pass
        self._position = 0
        self.epoch = 0

    def __next__(self) -> torch.Tensor:
        n, size = self._data.shape[0], self._batch_size
        if self._permutation is None:
            self._permutation = torch.randperm(n, generator=self._generator)
            self._position = 0
        index = self._permutation[self._position : self._position + size]
        self._position += size
        if self._position + size > n:
            # Count the pass as done as soon as its last full batch is out, so that after
            # steps_per_epoch batches `epoch` is 1 (the engine's `epochs=` stop rule).
            self.epoch += 1
            self._permutation = None
        # Row gather on a 2-D view: measured several times faster than on the 4-D tensor.
        rows = self._data.view(n, -1).index_select(0, index)
        x = rows.view(len(index), *self._data.shape[1:])
        if self._labels is not None:
            return LabelledBatch(x, self._labels.index_select(0, index))  # type: ignore[return-value]
        return x

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "tensor",
            "epoch": self.epoch,
            "position": self._position,
            "permutation": None if self._permutation is None else self._permutation.clone(),
            "generator": self._generator.get_state(),
            "batch_size": self._batch_size,
            "num_items": int(self._data.shape[0]),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, "tensor")
        for key, have in (("batch_size", self._batch_size), ("num_items", self._data.shape[0])):
            if state[key] != have:
                raise ValueError(
                    f"this batch state was saved with {key}={state[key]}, but the iterator has "
                    f"{key}={have}; a run resumes on the same data with the same batch size."
                )
        self._generator.set_state(state["generator"])
        perm = state["permutation"]
        self._permutation = None if perm is None else perm.clone()
        self._position = int(state["position"])
        self.epoch = int(state["epoch"])


class _LoaderBatches(BatchIterator):
    """The user's DataLoader, pass after pass, its batches converted as they come.

    Best effort on resume: the state is the epoch count only, and a resumed run starts a
    fresh pass; the order inside a pass is the loader's own (its sampler and generator).
    """

    def __init__(
        self,
        loader: DataLoader,
        convert: BatchConverter,
        labels: Callable[[Any, int], torch.Tensor] | None = None,
    ) -> None:
        self._loader = loader
        self._convert = convert
        self._labels = labels  # given: batches are LabelledBatch, with the batch's labels
        self._iterator: Iterator[Any] | None = None
        self._index = 0  # batches seen in the current pass
        self.epoch = 0

    def __next__(self) -> torch.Tensor:
        if self._iterator is None:
            self._iterator = iter(self._loader)
            self._index = 0
        try:
            batch = next(self._iterator)
        except StopIteration:
            if self._index == 0:
                raise RuntimeError("the DataLoader yielded no batches in a whole pass") from None
            self.epoch += 1
            self._iterator = iter(self._loader)
            self._index = 0
            batch = next(self._iterator)
        self._index += 1
        x = self._convert(batch, self._index - 1)
        if self._labels is not None:
            return LabelledBatch(x, self._labels(batch, self._index - 1))  # type: ignore[return-value]
        return x

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "loader", "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, "loader")
        self.epoch = int(state["epoch"])
        self._iterator = None


def _check_state(state: dict[str, Any], kind: str) -> None:
    if not isinstance(state, dict) or state.get("kind") != kind:
        found = state.get("kind") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"expected a batch state of kind {kind!r}, got {found!r}")


class DataSource:
    """One data set, ready for training: images (C, H, W) or 2-D points, in [-1, 1].

    Build one with `get_dataset(...)`. Attributes:
      kind          "images" or "points"
      name          where it came from ("digits", "tensor", "folder:/path", "DataLoader", ...)
      sample_shape  (C, H, W) for images, (2,) for points
      channels, image_size   for images; None for points
      labels        LongTensor of class indices, or None
      classes       class names (folder subfolders, torchvision sets), or None
      tensor        the whole data set as one float32 CPU tensor, or None for a DataLoader
      modes, mode_std        mode centres (K x 2) and their std, for the "ring" and "grid" toys
      loader        the user's DataLoader, or None
    """

    def __init__(
        self,
        *,
        name: str,
        tensor: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        classes: list[str] | None = None,
        modes: torch.Tensor | None = None,
        mode_std: float | None = None,
        loader: DataLoader | None = None,
        convert: BatchConverter | None = None,
        first: torch.Tensor | None = None,
        first_labels: torch.Tensor | None = None,
    ) -> None:
        if (tensor is None) == (loader is None):
            raise TypeError("DataSource needs exactly one of tensor= or loader=; use get_dataset()")
        if loader is not None and (convert is None or first is None):
            raise TypeError("a DataLoader source needs convert= and first= (see get_dataset)")
        if tensor is not None:
            # Batching gathers rows of a flat view, which needs one contiguous block.
            tensor = tensor.to(torch.float32).contiguous()
        example = tensor if tensor is not None else first
        assert example is not None
        self.name = name
        self.tensor = tensor
        self.labels = labels
        self.classes = classes
        self.modes = modes
        self.mode_std = mode_std
        self.loader = loader
        self._convert = convert
        self._first = first
        self._first_labels = first_labels  # a DataLoader's first batch's labels, if it has any
        self.with_labels = False  # batches are LabelledBatch (`labelled()`)
        self.sample_shape: tuple[int, ...] = tuple(example.shape[1:])
        self.kind = "points" if len(self.sample_shape) == 1 else "images"
        self.channels: int | None = self.sample_shape[0] if self.kind == "images" else None
        self.image_size: int | None = self.sample_shape[-1] if self.kind == "images" else None
        lo, hi = torch.aminmax(example) if example.numel() else (torch.tensor(0), torch.tensor(0))
        self.value_range: tuple[float, float] = (float(lo), float(hi))

    @property
    def num_classes(self) -> int | None:
        """Number of classes when labels are known (for conditional models), else None."""
        if self.classes is not None:
            return len(self.classes)
        if self.labels is not None and len(self.labels):
            return int(self.labels.max()) + 1
        return None

    def labelled(self) -> DataSource:
        """This data set with batches that carry their class ids: `batches()` and
        `first_batch()` yield `LabelledBatch(x, y)` (for a class-conditional model), the same
        rows in the same order as the unlabelled batches. ValueError when there are no labels
        (the 2-D toys, a tensor given without labels, a DataLoader yielding images alone)."""
        n_classes = self.num_classes
        has = self.labels is not None or self._first_labels is not None
        if n_classes is None or not has or self.kind != "images":
            what = "2-D points" if self.kind == "points" else "images without labels"
            raise ValueError(
                f"conditional=True needs labelled images, but data {self.name!r} holds {what}; "
                'use "digits", "mnist", "fashion-mnist", "cifar10", a folder with one '
                "subfolder per class, a labelled Dataset, or a DataLoader yielding (images, "
                "labels) whose dataset has .classes or .targets"
            )
        if self.labels is not None and len(self.labels) and int(self.labels.min()) < 0:
            raise ValueError(
                f"the labels of {self.name!r} must be class ids 0..{n_classes - 1}, got "
                f"{int(self.labels.min())}"
            )
        out = copy.copy(self)
        out.with_labels = True
        return out

    def __len__(self) -> int:
        if self.tensor is not None:
            return int(self.tensor.shape[0])
        try:
            # The sampler, not the dataset: a loader may draw from a subset of its dataset.
            return len(self.loader.sampler)  # type: ignore[union-attr, arg-type]
        except TypeError:
            raise TypeError(
                f"the number of items of {self.name} is unknown (its dataset has no len())"
            ) from None

    def __bool__(self) -> bool:
        # Without this, `if source:` would call __len__, which may raise for a DataLoader.
        return True

    def steps_per_epoch(self, batch_size: int) -> int | None:
        """Batches in one pass: len // batch_size in memory (the partial batch is dropped);
        len(loader) for a DataLoader (its own batch size), or None when unknown."""
        if self.loader is not None:
            try:
                return len(self.loader)
            except TypeError:
                return None
        _check_batch_size(batch_size, len(self))
        return len(self) // batch_size

    def batches(self, batch_size: int, *, seed: int) -> BatchIterator:
        """An endless iterator of (batch_size, *sample_shape) float32 CPU tensors in [-1, 1],
        reshuffled every pass by a generator seeded with `seed`.

        For a DataLoader source the loader decides batch size and order; `batch_size` and
        `seed` are unused.
        """
        if self.loader is not None:
            assert self._convert is not None
            labels = _LoaderLabels(self.num_classes or 0) if self.with_labels else None
            return _LoaderBatches(self.loader, self._convert, labels)
        assert self.tensor is not None
        _check_batch_size(batch_size, len(self))
        labels = self.labels if self.with_labels else None
        return _TensorBatches(self.tensor, batch_size, seed, labels)

    def split(self, fraction: float, *, seed: int) -> tuple[DataSource, DataSource | None]:
        """(training part, held-out part): `fraction` of the items, drawn with `seed`, are held
        out (labels and classes follow them). A DataLoader source, or `fraction` 0, holds
        nothing out: (self, None)."""
        if self.tensor is None or fraction <= 0:
            return self, None
        n = len(self)
        held = min(n - 1, max(1, round(n * fraction)))
        if held < 1:
            raise ValueError(f"{self.name} has {n} item(s): too few to hold any out")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        parts = []
        for index, name in ((order[held:], self.name), (order[:held], f"{self.name} (held out)")):
            index = index.sort().values
            parts.append(
                DataSource(
                    name=name,
                    tensor=self.tensor[index],
                    labels=None if self.labels is None else self.labels[index],
                    classes=self.classes,
                    modes=self.modes,
                    mode_std=self.mode_std,
                )
            )
        return parts[0], parts[1]

    def first_batch(self, batch_size: int, *, seed: int = 0) -> torch.Tensor:
        """The first batch `batches(batch_size, seed=seed)` yields, without advancing any
        iterator (for a DataLoader: its first batch, read when the source was built)."""
        if self._first is not None:
            if self.with_labels:
                assert self._first_labels is not None
                return LabelledBatch(self._first.clone(), self._first_labels.clone())  # type: ignore[return-value]
            return self._first.clone()
        return next(self.batches(batch_size, seed=seed))

    def __repr__(self) -> str:
        lo, hi = self.value_range
        if self.kind == "points":
            shape = "2-D points"
        else:
            c, h, w = self.sample_shape
            shape = f"images {c}x{h}x{w}"
        try:
            count = f"{len(self)} "
        except TypeError:
            count = "? "
        parts = [f"{count}{shape}"]
        if self.loader is not None:
            steps = self.steps_per_epoch(1)
            per = f"{steps} batches of {self.loader.batch_size}" if steps else "batches"
            parts.append(f"{per} from the loader, first batch in [{lo:.2f}, {hi:.2f}]")
        else:
            parts.append(f"values in [{lo:.2f}, {hi:.2f}]")
        if self.modes is not None:
            parts.append(f"{len(self.modes)} modes, std {self.mode_std:g}")
        elif self.num_classes is not None:
            parts.append(f"{self.num_classes} classes")
        return f"DataSource({self.name!r}: {', '.join(parts)})"


class _LoaderLabels:
    """The class ids of a DataLoader batch (its second element), checked against the classes
    the loader's dataset names."""

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes

    def __call__(self, batch: Any, index: int) -> torch.Tensor:
        return loader_labels(batch, f"batch {index} of the DataLoader", self.n_classes)


def loader_labels(batch: Any, what: str, n_classes: int | None = None) -> torch.Tensor:
    """The labels of a DataLoader batch `(images, labels, ...)` as a LongTensor; ValueError
    naming `what` when there are none, or when one lies outside 0..n_classes-1."""
    labels = batch[1] if isinstance(batch, (tuple, list)) and len(batch) > 1 else None
    y = torch.as_tensor(labels) if labels is not None else None
    if y is None or y.dim() != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        got = "no labels" if y is None else f"labels of shape {tuple(y.shape)} ({y.dtype})"
        raise ValueError(
            f"{what} has {got}; a class-conditional run needs a DataLoader yielding (images, "
            "labels) with one integer class id per image"
        )
    y = y.long()
    if n_classes and len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        bad = sorted({int(v) for v in y if not 0 <= int(v) < n_classes})
        raise ValueError(
            f"{what} has labels {bad} outside the classes 0..{n_classes - 1} its dataset names"
        )
    return y


def _check_batch_size(batch_size: int, n: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if batch_size > n:
        raise ValueError(
            f"batch_size={batch_size} is larger than the data set ({n} items); partial batches "
            "are dropped, so no batch could be drawn. Use a smaller batch_size or more data."
        )
