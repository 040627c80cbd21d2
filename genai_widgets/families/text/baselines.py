"""Reference lines for the text dashboard, in bits per character of the held-out text.

Each baseline is fitted on the training split and scored on the held-out split (the tail of
the text), so a model's ``val_bpc`` can be read against them:

- ``unigram``: the character unigram entropy of the training text (add-one smoothed);
- ``kn<order>``: an interpolated Kneser-Ney character n-gram model;
- ``lzma``: what lzma spends on the held-out text once it has seen the training text.

Pure Python and numpy; computed once per text and cached as JSON (`cached_baselines`).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import math
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Bumped when a baseline's definition changes, so old cache files are not read back.
CACHE_VERSION = 1
#: The default Kneser-Ney orders of the dashboard.
DEFAULT_ORDERS = (3, 5, 7)
_LZMA_PRESET = 9 | lzma.PRESET_EXTREME


def _mean_bits(probs: Sequence[float] | np.ndarray) -> float:
    """Mean of -log2 p over the characters scored."""
    p = np.asarray(probs, dtype=np.float64)
    if p.size == 0:
        return float("nan")
    return float(-np.log2(p).mean())


def unigram_bpc(train: str, held: str) -> float:
    """Cross-entropy (bits per character) of `held` under the character unigram of `train`.

    Add-one (Laplace) smoothing over the union alphabet of both splits:
    p(c) = (count_train(c) + 1) / (len(train) + |alphabet(train) | alphabet(held)|), so a
    held-out character never seen in training costs a finite number of bits.
    """
    counts = Counter(train)
    alphabet = set(counts) | set(held)
    total = len(train) + len(alphabet)
    held_counts = Counter(held)
    chars = list(held_counts)
    p = np.array([(counts.get(c, 0) + 1) / total for c in chars])
    weights = np.array([held_counts[c] for c in chars], dtype=np.float64)
    if weights.sum() == 0:
        return float("nan")
    return float(-(weights * np.log2(p)).sum() / weights.sum())


class KneserNey:
    """Interpolated Kneser-Ney character n-gram model (Chen & Goodman's recursive form).

    With absolute discount D, for a context h of length order-1 and a character w:

        P(w | h) = max(c(hw) - D, 0) / c(h.) + D * N1+(h.) / c(h.) * P_lower(w | h[1:])

    where c are raw counts at the highest order and, at every lower order, continuation
    counts N1+(.g) (the number of distinct characters seen before g) replace them;
    c(h.) is the sum over w and N1+(h.) the number of distinct w with a positive count. A
    context never seen at a level passes the lower level's probability through unchanged.
    The lowest level (empty context) is interpolated with the uniform distribution over the
    training alphabet plus one "unseen" symbol, which every character absent from the
    training text maps to, so such a character has a finite cost. Over the training
    alphabet plus that symbol, `prob` sums to 1 for every context.

    N-grams are dicts keyed by string slices; per-context totals and follower counts are
    precomputed, so scoring is a few dict look-ups per level and character.
    """

    def __init__(self, train: str, order: int, discount: float = 0.75) -> None:
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.order = int(order)
        self.discount = float(discount)
        self.alphabet = frozenset(train)
        self._uniform = 1.0 / (len(self.alphabet) + 1)
        n = len(train)
        # distinct[k]: the set of k-grams of the training text (k = 1..order)
        distinct: dict[int, set[str]] = {}
        # counts[k]: raw counts for k == order, continuation counts N1+(.g) below it
        counts: dict[int, dict[str, int]] = {}
        for k in range(self.order, 0, -1):
            grams = (train[i : i + k] for i in range(n - k + 1))
            if k == self.order:
                counts[k] = dict(Counter(grams))
                distinct[k] = set(counts[k])
            else:
                distinct[k] = set(grams)
        for k in range(1, self.order):
            counts[k] = dict(Counter(g[1:] for g in distinct[k + 1]))
        # per level: context -> (sum of counts over followers, number of distinct followers)
        self._levels: list[tuple[dict[str, int], dict[str, float], dict[str, int]]] = []
        for k in range(1, self.order + 1):
            totals: Counter[str] = Counter()
            types: Counter[str] = Counter()
            for gram, c in counts[k].items():
                h = gram[:-1]
                totals[h] += c
                types[h] += 1
            self._levels.append((counts[k], dict(totals), dict(types)))

    def prob(self, context: str, char: str) -> float:
        """P(char | the last order-1 characters of context); a shorter context uses the
        levels it reaches. A character outside the training alphabet gets the probability
        of the one unseen symbol."""
        d = self.discount
        p = self._uniform
        m = len(context)
        for k, (counts, totals, types) in enumerate(self._levels, start=1):
            if k - 1 > m:
                break
            h = context[m - (k - 1) :] if k > 1 else ""
            denom = totals.get(h)
            if not denom:
                continue
            p = (max(counts.get(h + char, 0) - d, 0.0) + d * types[h] * p) / denom
        return p

    def bpc(self, text: str, history: str = "") -> float:
        """Mean bits per character of `text`; the first characters' context comes from the
        end of `history` (for held-out text, the training text it follows)."""
        ctx = self.order - 1
        full = history[len(history) - ctx :] + text if ctx else text
        start = len(full) - len(text)
        prob = self.prob
        return _mean_bits(
            [prob(full[max(0, i - ctx) : i], full[i]) for i in range(start, len(full))]
        )


def kneser_ney_bpc(train: str, held: str, order: int, discount: float = 0.75) -> float:
    """Bits per character of `held` under an interpolated Kneser-Ney character `order`-gram
    model of `train` (see `KneserNey`); the first held-out characters take their context
    from the end of `train`, since the held-out split is the text's tail."""
    return KneserNey(train, order, discount).bpc(held, history=train)


def lzma_bpc(train: str, held: str) -> float:
    """Bits per held-out character that lzma spends once it has seen the training text:
    8 * (len(lzma(train + held)) - len(lzma(train))) / len(held), over UTF-8 bytes, preset
    9 | PRESET_EXTREME."""
    if not held:
        return float("nan")
    a = len(lzma.compress(train.encode("utf-8"), preset=_LZMA_PRESET))
    b = len(lzma.compress((train + held).encode("utf-8"), preset=_LZMA_PRESET))
    return 8.0 * (b - a) / len(held)


def compute_baselines(
    train: str, held: str, orders: Sequence[int] = DEFAULT_ORDERS
) -> dict[str, float | str]:
    """All baselines in bits per held-out character: ``unigram``, ``kn<order>`` for each
    order, ``lzma``, and ``best_ngram``, the name of the lowest Kneser-Ney entry."""
    out: dict[str, float | str] = {"unigram": unigram_bpc(train, held)}
    kn: dict[str, float] = {}
    for order in orders:
        kn[f"kn{int(order)}"] = kneser_ney_bpc(train, held, int(order))
    out.update(kn)
    out["lzma"] = lzma_bpc(train, held)
    finite = {k: v for k, v in kn.items() if math.isfinite(v)}
    if finite:
        out["best_ngram"] = min(finite, key=finite.__getitem__)
    return out


def describe(name: str) -> str:
    """A human label for a baseline name (``unigram``, ``kn5``, ``lzma``, ``best_ngram``)."""
    if name == "unigram":
        return "unigram entropy"
    if name == "lzma":
        return "lzma given the training text"
    if name == "best_ngram":
        return "best character n-gram, Kneser-Ney"
    if name.startswith("kn") and name[2:].isdigit():
        return f"character {int(name[2:])}-gram, Kneser-Ney"
    raise ValueError(f"unknown baseline {name!r}; expected unigram, kn<order>, lzma or best_ngram")


def default_cache_dir() -> Path:
    """Where baselines are cached: $GENAI_WIDGETS_CACHE/text_baselines, else
    ~/.cache/genai_widgets/text_baselines."""
    env = os.environ.get("GENAI_WIDGETS_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "genai_widgets"
    return root / "text_baselines"


def cache_key(train: str, held: str, orders: Sequence[int] = DEFAULT_ORDERS) -> str:
    """sha256 of train + NUL + held + NUL + the orders (and the cache version)."""
    h = hashlib.sha256()
    h.update(train.encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    h.update(held.encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    h.update(json.dumps([CACHE_VERSION, [int(o) for o in orders]]).encode())
    return h.hexdigest()


def _read_cache(path: Path, orders: Sequence[int]) -> dict[str, float | str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wanted = {"unigram", "lzma", *(f"kn{int(o)}" for o in orders)}
    if not isinstance(data, dict) or not wanted <= set(data):
        return None
    if not all(isinstance(data[k], (int, float)) for k in wanted):
        return None
    return {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in data.items()}


def _write_cache(path: Path, result: dict[str, float | str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(result, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass  # an unwritable cache only costs a recomputation next time


def cached_baselines(
    train: str,
    held: str,
    orders: Sequence[int] = DEFAULT_ORDERS,
    cache_dir: str | Path | None = None,
) -> dict[str, float | str]:
    """`compute_baselines`, cached as JSON in `cache_dir` (default `default_cache_dir()`),
    one file per `cache_key`. A missing or corrupt file is recomputed; writes are atomic
    (a temporary file, then os.replace); an unwritable directory only skips the write."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = directory / f"{cache_key(train, held, orders)}.json"
    found = _read_cache(path, orders)
    if found is not None:
        return found
    result = compute_baselines(train, held, orders)
    _write_cache(path, result)
    return result
