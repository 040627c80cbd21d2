"""The text a text run trains on: `data=` read into one string (or taken as token ids), the
tokenizer made from it, the held-out tail split off (`val_fraction`), and random windows of
`block_size + 1` tokens drawn from the training part, seeded and resumable.

Accepted `data=`: "python-docs" (CPython's own `pydoc_data.topics`, offline), a string (the
text itself), a path to a .txt file or a folder of them, a list of strings (documents, joined
by blank lines), or a 1-D tensor of token ids."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...data import DatasetUnavailableError
from .tokenizer import Tokenizer, make_tokenizer

NAMED = ("python-docs",)

ACCEPTED = (
    '"python-docs", a str (the text), a path to a .txt file or a folder of them, a list of '
    "str, or a 1-D tensor of token ids"
)


def python_docs() -> str:
    """The text of CPython's `pydoc_data.topics` (the help() topics, ~465k characters), its
    topics in sorted order separated by blank lines."""
    try:
        from pydoc_data import topics
    except ImportError:
        raise DatasetUnavailableError(
            "data='python-docs' reads CPython's pydoc_data.topics, which this Python does not "
            "have (some distributions strip it); pass your own text instead: data='a string', "
            "data='path/to/file.txt', a folder of .txt files, or a list of strings"
        ) from None
    return "\n\n".join(topics.topics[key].strip("\n") for key in sorted(topics.topics))


def read_text(data: Any) -> str | Tensor:
    """`data=` as one string (or a 1-D LongTensor of token ids); ValueError / TypeError /
    FileNotFoundError naming what was given and what is accepted."""
    if isinstance(data, Tensor):
        if data.dim() != 1 or data.dtype not in (
            torch.int64,
            torch.int32,
            torch.int16,
            torch.uint8,
        ):
            raise ValueError(
                f"a tensor given as data must be 1-D token ids (integers); got a "
                f"{data.dim()}-D {data.dtype} tensor of shape {tuple(data.shape)}"
            )
        if data.numel() and int(data.min()) < 0:
            raise ValueError("token ids must be >= 0")
        return data.to(torch.long).cpu()
    if isinstance(data, os.PathLike):
        return _read_path(Path(data))
    if isinstance(data, str):
        if data in NAMED:
            return python_docs()
        if data and "\n" not in data and len(data) < 4096:
            path = Path(data).expanduser()
            try:
                exists = path.exists()
            except OSError:  # too long for a file name, or not one: the text itself
                exists = False
            if exists:
                return _read_path(path)
            if data.endswith(".txt") or data.endswith(os.sep):
                raise FileNotFoundError(
                    f"data={data!r} looks like a path but there is no such file or folder; "
                    f"data takes {ACCEPTED}"
                )
        return data
    if isinstance(data, (list, tuple)):
        if not all(isinstance(d, str) for d in data):
            kinds = sorted({type(d).__name__ for d in data if not isinstance(d, str)})
            raise TypeError(f"a list given as data must hold only str; it holds {', '.join(kinds)}")
        return "\n\n".join(data)
    raise TypeError(f"data must be {ACCEPTED}; got {type(data).__name__}")


def _read_path(path: Path) -> str:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise FileNotFoundError(f"the folder {path} holds no .txt files")
        return "\n\n".join(p.read_text(encoding="utf-8") for p in files)
    return path.read_text(encoding="utf-8")


class IdTokenizer:
    """For data given as token ids: tokens are shown (and prompts written) as their numbers,
    separated by spaces."""

    kind = "ids"

    def __init__(self, vocab_size: int):
        self.vocab_size = int(vocab_size)

    def unknown(self, text: str) -> list[str]:
        return []

    def encode(self, text: str, *, what: str = "the text") -> list[int]:
        try:
            ids = [int(t) for t in text.split()]
        except ValueError:
            raise ValueError(
                f"{what} must be token ids separated by spaces (the run trains on ids); got "
                f"{text[:40]!r}"
            ) from None
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"{what} has ids outside [0, {self.vocab_size}): {bad[:10]}")
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(str(int(i)) for i in ids)

    def token_text(self, token: int) -> str:
        return str(int(token))

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab_size": self.vocab_size}

    def chars_per_token(self, text: str) -> float:
        return 1.0


class WindowBatches:
    """Random windows of `block + 1` tokens from `ids` (nanoGPT's `get_batch`): (B, block + 1)
    LongTensors; inputs are `[:, :-1]`, targets `[:, 1:]`. Seeded; `state_dict` resumes it."""

    def __init__(self, ids: Tensor, batch_size: int, block: int, seed: int):
        self.ids = ids
        self.batch_size = batch_size
        self.block = block
        self.generator = torch.Generator()
        self.generator.manual_seed(seed)
        self.offsets = torch.arange(block + 1)
        self.drawn = 0

    def __iter__(self) -> WindowBatches:
        return self

    def __next__(self) -> Tensor:
        high = len(self.ids) - self.block
        starts = torch.randint(high, (self.batch_size,), generator=self.generator)
        self.drawn += 1
        return self.ids[starts[:, None] + self.offsets]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.generator.get_state(), "drawn": self.drawn}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["rng"])
        self.drawn = int(state.get("drawn", 0))


class TextSource:
    """One split of the text: its token ids, its text (None for id data) and the tokenizer.
    What the Run draws batches from (`batches`) and `epochs=` counts (`steps_per_epoch`)."""

    kind = "text"

    def __init__(self, ids: Tensor, text: str | None, tokenizer: Any, block: int, name: str):
        self.ids = ids
        self.text = text
        self.tokenizer = tokenizer
        self.block = block
        self.name = name
        self.chars_per_token = tokenizer.chars_per_token(text) if text is not None else 1.0

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, batch_size: int, *, seed: int) -> WindowBatches:
        return WindowBatches(self.ids, batch_size, self.block, seed)

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, math.ceil(len(self.ids) / (batch_size * self.block)))

    def windows(self, max_tokens: int | None = None) -> Tensor:
        """Non-overlapping windows of `block + 1` tokens (sharing their edge token), evenly
        spread over the split: at most `max_tokens` scored tokens (None: all of it)."""
        n = (len(self.ids) - 1) // self.block
        starts = torch.arange(n) * self.block
        if max_tokens is not None and n * self.block > max_tokens:
            keep = max(1, max_tokens // self.block)
            starts = starts[torch.linspace(0, n - 1, keep).round().long()]
        return self.ids[starts[:, None] + torch.arange(self.block + 1)]


def split_text(
    data: Any, tokenizer_kind: str, block: int, val_fraction: float, tokenizer: Any = None
) -> tuple[TextSource, TextSource, Any]:
    """(train, held-out, tokenizer): the tail `val_fraction` of the text is held out. Each
    split must have at least `block + 1` tokens (one window: block tokens and the next one).
    `tokenizer`: the run's own (a reload)."""
    raw = read_text(data)
    name = data if isinstance(data, str) and data in NAMED else type(data).__name__
    if isinstance(raw, Tensor):
        if not len(raw):
            raise ValueError("data is empty: the tensor of token ids has no elements")
        if tokenizer is None:
            tokenizer = IdTokenizer(int(raw.max()) + 1)
        cut = int(round(len(raw) * (1 - val_fraction)))
        parts: list[tuple[Tensor, str | None]] = [(raw[:cut], None), (raw[cut:], None)]
    else:
        if not raw:
            raise ValueError(f"data is empty: the text has no characters (data takes {ACCEPTED})")
        cut = int(round(len(raw) * (1 - val_fraction)))
        train_text, held_text = raw[:cut], raw[cut:]
        if tokenizer is None:
            tokenizer = make_tokenizer(tokenizer_kind, train_text)
        held_ids, held_text = _encode_held(tokenizer, held_text)
        parts = [(torch.tensor(tokenizer.encode(train_text), dtype=torch.long), train_text)]
        parts.append((held_ids, held_text))
    sources = []
    for (ids, text), split in zip(parts, ("training", "held-out"), strict=True):
        if len(ids) < block + 1:
            raise ValueError(
                f"the {split} split has {len(ids)} tokens, fewer than block_size + 1 = "
                f"{block + 1} (one window: block_size tokens and the next one); give more "
                f"text, lower block_size (it is {block}), or change val_fraction (it is "
                f"{val_fraction})"
            )
        sources.append(TextSource(ids, text, tokenizer, block, name))
    return sources[0], sources[1], tokenizer


def _encode_held(tokenizer: Tokenizer, text: str) -> tuple[Tensor, str]:
    """Held-out ids and text; characters the training text never had (char tokenizer) are
    dropped rather than failing the run: they cannot be predicted, and the baselines see the
    same text."""
    missing = set(tokenizer.unknown(text))
    if missing:
        text = "".join(c for c in text if c not in missing)
    return torch.tensor(tokenizer.encode(text), dtype=torch.long), text


__all__ = [
    "IdTokenizer",
    "NAMED",
    "TextSource",
    "WindowBatches",
    "python_docs",
    "read_text",
    "split_text",
]
