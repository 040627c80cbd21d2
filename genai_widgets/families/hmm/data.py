"""What an HMM run trains on: sequences of symbols (characters of a text, or non-negative
integers) or of float vectors, cut into a training part and a held-out part.

- `"python-docs"` (CPython's help topics) or any `str`: the characters are the symbols, each
  line (with its newline) one sequence; the tail `val_fraction` of the text is held out.
- `"casino"`: Durbin et al.'s dishonest casino (ch. 3), 100 sessions of 300 rolls drawn from
  its known parameters (kept as `truth`, so a run shows how well it recovers them).
- a list of 1-D integer arrays (one per sequence), or one concatenated array with `lengths`
  (as hmmlearn takes them); a list of (T, d) float arrays, or one (T, d) array with
  `lengths`, for gaussian emissions. The last `val_fraction` of the sequences are held out
  (of a single sequence, its tail)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

ACCEPTED = (
    "'python-docs', 'casino', a str, a list of str, a list of 1-D integer sequences, a list "
    "of (T, d) float arrays, or one concatenated array with lengths="
)
#: The dishonest casino (Durbin, Eddy, Krogh and Mitchison, Biological Sequence Analysis,
#: ch. 3): a fair die, and a loaded one that shows a six half of the time.
CASINO = {
    "startprob": [0.5, 0.5],
    "transmat": [[0.95, 0.05], [0.10, 0.90]],
    "emissionprob": [[1 / 6] * 6, [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]],
}
CASINO_SESSIONS, CASINO_ROLLS = 100, 300


@dataclass
class Sequences:
    """Concatenated sequences: `x` (P,) long or (P, d) float64, cut by `lengths`."""

    x: Tensor
    lengths: list[int]

    @property
    def n_symbols(self) -> int:
        return int(sum(self.lengths))

    def __len__(self) -> int:
        return len(self.lengths)

    def split(self) -> list[Tensor]:
        return list(torch.split(self.x, self.lengths))


@dataclass
class HMMData:
    """The training and held-out sequences, and what the symbols are."""

    train: Sequences
    held: Sequences | None
    kind: str  # "text", "symbols" or "vectors"
    name: str
    alphabet: list[str] | None = None  # text: the character of each symbol
    n_symbols: int | None = None  # categorical: M
    truth: dict[str, Any] | None = None  # known generating parameters ("casino")
    notes: list[str] = field(default_factory=list)

    # The engine asks a data source for batches; one EM iteration reads all of it.
    def batches(self, batch_size: int, *, seed: int) -> Any:
        return _Whole(self.train.x)

    def steps_per_epoch(self, batch_size: int) -> int:
        return 1

    def encode(self, text: str) -> Tensor:
        assert self.alphabet is not None
        index = {ch: i for i, ch in enumerate(self.alphabet)}
        unknown = sorted({ch for ch in text if ch not in index})
        if unknown:
            raise ValueError(
                f"text has characters outside the model's {len(index)} symbols: "
                f"{''.join(unknown)[:40]!r}"
            )
        return torch.tensor([index[ch] for ch in text], dtype=torch.long)

    def decode(self, symbols: Tensor) -> str:
        assert self.alphabet is not None
        return "".join(self.alphabet[int(i)] for i in symbols)


class _Whole:
    def __init__(self, x: Tensor):
        self.x = x

    def __iter__(self) -> _Whole:
        return self

    def __next__(self) -> Tensor:
        return self.x


def read_data(data: Any, lengths: Any, emission: str, val_fraction: float, seed: int) -> HMMData:
    """`data=` (and `lengths=`) as training and held-out sequences; ValueError / TypeError
    naming what was given and what is accepted."""
    if isinstance(data, str) and data == "casino":
        if lengths is not None:
            raise ValueError("lengths= goes with one concatenated array, not data='casino'")
        _need(emission, "categorical", "data='casino' (die rolls 0-5)")
        return _casino(val_fraction, seed)
    if isinstance(data, str) or (
        isinstance(data, (list, tuple)) and data and all(isinstance(s, str) for s in data)
    ):
        _need(emission, "categorical", "text (its characters are the symbols)")
        if lengths is not None:
            raise ValueError("lengths= goes with one concatenated array, not with text")
        return _text(data, val_fraction)
    seqs = _arrays(data, lengths)
    floating = any(np.issubdtype(s.dtype, np.floating) for s in seqs)
    if emission == "categorical":
        if floating or any(s.ndim != 1 for s in seqs):
            shapes = sorted({(s.dtype.name, s.ndim) for s in seqs})
            raise ValueError(
                "emission='categorical' takes sequences of non-negative integer symbols; "
                f"data holds {', '.join(f'{n}-D {d}' for d, n in shapes)} values: for float "
                "vectors use emission='gaussian'"
            )
        for j, s in enumerate(seqs):
            if s.size and (s.min() < 0 or not np.issubdtype(s.dtype, np.integer)):
                bad = s[s < 0][:3].tolist()
                raise ValueError(f"symbols must be non-negative integers; sequence {j} holds {bad}")
        kind, dtype = "symbols", torch.long
    else:
        if not floating and all(s.ndim == 1 for s in seqs) and not _is_float_list(data):
            raise ValueError(
                "emission='gaussian' takes float sequences, each (T, d) or (T,); data holds "
                "integer symbols: for them use emission='categorical'"
            )
        seqs = [s.astype(np.float64).reshape(len(s), -1) for s in seqs]
        dims = {s.shape[1] for s in seqs}
        if len(dims) > 1:
            raise ValueError(f"every sequence needs the same dimension d; got {sorted(dims)}")
        for j, s in enumerate(seqs):
            if not np.isfinite(s).all():
                bad = "NaN" if np.isnan(s).any() else "inf"
                raise ValueError(
                    f"gaussian data must be finite; sequence {j} holds {bad} at row "
                    f"{int(np.argwhere(~np.isfinite(s))[0][0])}"
                )
        kind, dtype = "vectors", torch.float64
    for j, s in enumerate(seqs):
        if len(s) < 2:
            raise ValueError(
                f"every sequence needs at least 2 symbols (one transition); sequence {j} has "
                f"{len(s)}"
            )
    train, held = _hold_out([torch.as_tensor(s, dtype=dtype) for s in seqs], val_fraction)
    n_symbols = None
    if kind == "symbols":
        n_symbols = int(max(int(s.x.max()) for s in (train, held) if s is not None)) + 1
    return HMMData(train, held, kind, type(data).__name__, n_symbols=n_symbols)


def _need(emission: str, wanted: str, what: str) -> None:
    if emission != wanted:
        raise ValueError(f"emission={emission!r} does not fit {what}: use emission={wanted!r}")


def _is_float_list(data: Any) -> bool:
    return isinstance(data, (list, tuple)) and any(
        isinstance(v, float) for s in data[:3] for v in (s if isinstance(s, (list, tuple)) else [])
    )


def _arrays(data: Any, lengths: Any) -> list[np.ndarray]:
    if isinstance(data, Tensor):
        data = data.detach().cpu().numpy()
    if isinstance(data, np.ndarray):
        if data.ndim == 2 and data.shape[1] == 1 and np.issubdtype(data.dtype, np.integer):
            data = data[:, 0]  # hmmlearn's (n_samples, 1) symbols
        if data.ndim not in (1, 2):
            raise ValueError(f"an array given as data must be (T,) or (T, d); got {data.shape}")
        if lengths is None:
            return [data]
        lengths = [int(n) for n in np.asarray(lengths).ravel()]
        if any(n < 0 for n in lengths) or sum(lengths) != len(data):
            raise ValueError(
                f"lengths must sum to len(X) = {len(data)}; they sum to {sum(lengths)} "
                f"({len(lengths)} lengths)"
            )
        return list(np.split(data, np.cumsum(lengths)[:-1]))
    if lengths is not None:
        raise ValueError("lengths= goes with one concatenated array as data")
    if isinstance(data, (list, tuple)) and data:
        out = []
        for j, s in enumerate(data):
            if isinstance(s, Tensor):
                s = s.detach().cpu().numpy()
            try:
                arr = np.asarray(s)
            except Exception as exc:
                raise TypeError(f"sequence {j} of data is not an array: {exc}") from None
            if arr.dtype == object or arr.ndim not in (1, 2):
                raise ValueError(
                    f"sequence {j} of data must be 1-D symbols or (T, d) floats; got "
                    f"{arr.dtype} of shape {arr.shape}"
                )
            out.append(arr)
        return out
    raise TypeError(f"data takes {ACCEPTED}; got {type(data).__name__}")


def _hold_out(seqs: list[Tensor], val_fraction: float) -> tuple[Sequences, Sequences | None]:
    if not val_fraction:
        return _cat(seqs), None
    if len(seqs) == 1:
        s = seqs[0]
        cut = int(round(len(s) * (1 - val_fraction)))
        if cut < 2 or len(s) - cut < 2:
            raise ValueError(
                f"a sequence of {len(s)} symbols is too short to hold out val_fraction="
                f"{val_fraction:g} of it (each part needs 2); give more data or val_fraction=0"
            )
        return _cat([s[:cut]]), _cat([s[cut:]])
    n_held = max(1, int(math.ceil(len(seqs) * val_fraction)))
    if n_held >= len(seqs):
        raise ValueError(
            f"val_fraction={val_fraction:g} of {len(seqs)} sequences leaves none to train on"
        )
    return _cat(seqs[:-n_held]), _cat(seqs[-n_held:])


def _cat(seqs: Sequence[Tensor]) -> Sequences:
    return Sequences(torch.cat(list(seqs)), [len(s) for s in seqs])


def _lines(text: str) -> list[str]:
    """Each line with its newline; a line of a newline alone joins the one before."""
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        if len(line) < 2 and out:
            out[-1] += line
        else:
            out.append(line)
    if out and len(out[0]) < 2:
        out = out[1:]
    return out


def _text(data: Any, val_fraction: float) -> HMMData:
    if isinstance(data, str) and data == "python-docs":
        from ..text.data import python_docs

        text, name = python_docs(), "python-docs"
    elif isinstance(data, str):
        import os

        if "\n" not in data and len(data) < 4096 and os.path.isfile(data):
            with open(data, encoding="utf-8") as f:
                text, name = f.read(), os.path.basename(data)
        else:
            text, name = data, "str"
    else:
        text, name = "\n".join(data), "list of str"
    if len(text) < 4:
        raise ValueError(f"the text has {len(text)} characters; an HMM needs at least 4")
    cut = int(round(len(text) * (1 - val_fraction))) if val_fraction else len(text)
    if val_fraction:
        newline = text.rfind("\n", 0, cut)
        cut = newline + 1 if newline > len(text) // 2 else cut
    train_text, held_text = text[:cut], text[cut:]
    alphabet = sorted(set(train_text))
    index = {ch: i for i, ch in enumerate(alphabet)}
    notes = []
    dropped = sum(1 for ch in held_text if ch not in index)
    if dropped:
        notes.append(f"{dropped} held-out characters not in the training text were left out")
        held_text = "".join(ch for ch in held_text if ch in index)

    def sequences(part: str) -> Sequences | None:
        lines = _lines(part)
        if not lines:
            return None
        return _cat([torch.tensor([index[ch] for ch in line], dtype=torch.long) for line in lines])

    train = sequences(train_text)
    if train is None:
        raise ValueError("the training text has no line of 2 characters or more")
    held = sequences(held_text) if val_fraction else None
    return HMMData(train, held, "text", name, alphabet, len(alphabet), notes=notes)


def _casino(val_fraction: float, seed: int) -> HMMData:
    g = torch.Generator().manual_seed(10_000 + seed)
    start = torch.tensor(CASINO["startprob"], dtype=torch.float64)
    trans = torch.tensor(CASINO["transmat"], dtype=torch.float64)
    emit = torch.tensor(CASINO["emissionprob"], dtype=torch.float64)
    seqs = []
    for _ in range(CASINO_SESSIONS):
        s = int(torch.multinomial(start, 1, generator=g))
        states = []
        for _t in range(CASINO_ROLLS):
            states.append(s)
            s = int(torch.multinomial(trans[s], 1, generator=g))
        st = torch.tensor(states)
        seqs.append(torch.multinomial(emit[st], 1, generator=g).squeeze(1))
    train, held = _hold_out(seqs, val_fraction)
    alphabet = [str(i) for i in range(1, 7)]
    return HMMData(train, held, "symbols", "casino", alphabet, 6, truth=CASINO)
