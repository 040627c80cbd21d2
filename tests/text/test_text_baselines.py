"""The text family's reference lines (bits per held-out character) and memorisation meter."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pydoc_data import topics

import numpy as np
import pytest

from genai_widgets.families.text import baselines
from genai_widgets.families.text.baselines import (
    KneserNey,
    cached_baselines,
    compute_baselines,
    describe,
    kneser_ney_bpc,
    lzma_bpc,
    unigram_bpc,
)
from genai_widgets.families.text.memorisation import (
    longest_shared_substring,
    memorisation,
    ngram_index,
    novel_ngram_share,
    overfitting_warning,
)

D = 0.75
UNSEEN = "\x00"  # a character outside every training text below


# ---------------------------------------------------------------- the real text, once


@pytest.fixture(scope="module")
def docs_split() -> tuple[str, str]:
    text = "\n\n".join(topics.topics[k] for k in sorted(topics.topics))
    cut = int(len(text) * 0.9)
    return text[:cut], text[cut:]


@pytest.fixture(scope="module")
def docs_baselines(docs_split: tuple[str, str]) -> dict[str, float | str]:
    return compute_baselines(*docs_split)


def test_python_docs_baselines_are_ordered_and_in_range(docs_baselines: dict) -> None:
    b = docs_baselines
    assert b["unigram"] > b["kn3"] > b["kn5"]
    for name in ("kn3", "kn5", "kn7"):
        assert 1.0 < b[name] < 5.0, (name, b[name])
    assert 1.0 < b["lzma"] < 4.0
    assert b["best_ngram"] == min(("kn3", "kn5", "kn7"), key=b.__getitem__)
    assert set(b) == {"unigram", "kn3", "kn5", "kn7", "lzma", "best_ngram"}


# ---------------------------------------------------------------- unigram and lzma


def test_unigram_matches_hand_computation() -> None:
    # alphabet {a, b, c} (c only held out): total = 3 + 3; p(a)=3/6, p(b)=2/6, p(c)=1/6
    expected = -(math.log2(3 / 6) + math.log2(2 / 6) + math.log2(1 / 6)) / 3
    assert unigram_bpc("aab", "abc") == pytest.approx(expected)


def test_lzma_repeated_text_costs_much_less_than_random_text() -> None:
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;"))
    train = "".join(rng.choice(letters, 6000))
    repeated = train[1000:3000]
    fresh = "".join(rng.choice(letters, 2000))
    assert lzma_bpc(train, repeated) < 0.5
    assert lzma_bpc(train, fresh) > 5.0  # about log2(66) = 6.04 bits of randomness a char


# ---------------------------------------------------------------- Kneser-Ney


def test_kneser_ney_bigram_by_hand() -> None:
    # "abracadabra" bigrams: ab br ra ab br ra (2 each), ac ca ad da (1 each).
    # Continuation counts N1+(.w): a <- {r, c, d} = 3; b, r, c, d = 1 each; total 7, 5 types.
    # Context "r" is followed only by "a", twice.
    model = KneserNey("abracadabra", order=2, discount=D)
    p1_a = (3 - D) / 7 + D * 5 / 7 * (1 / 6)  # uniform over 5 letters + 1 unseen
    assert model.prob("r", "a") == pytest.approx((2 - D) / 2 + D * 1 / 2 * p1_a)
    p1_unseen = D * 5 / 7 * (1 / 6)
    assert model.prob("r", "z") == pytest.approx(D * 1 / 2 * p1_unseen)
    # a context never seen passes the lower order through
    assert model.prob("z", "a") == pytest.approx(p1_a)


def test_kneser_ney_trigram_uses_continuation_counts_below_the_top() -> None:
    # trigrams: abr bra (2 each), rac aca cad ada dab (1 each); 7 distinct.
    # Level 2 continuation counts: each distinct trigram's suffix once -> "ra" has 1, and
    # context "r" has a single follower with total 1.
    model = KneserNey("abracadabra", order=3, discount=D)
    p1_a = (3 - D) / 7 + D * 5 / 7 * (1 / 6)
    p2_a = (1 - D) / 1 + D * 1 / 1 * p1_a
    assert model.prob("br", "a") == pytest.approx((2 - D) / 2 + D * 1 / 2 * p2_a)
    # only the last order-1 characters count
    assert model.prob("xxbr", "a") == pytest.approx(model.prob("br", "a"))


@pytest.mark.parametrize("order", [1, 2, 4])
def test_kneser_ney_sums_to_one_over_the_alphabet_and_unseen(order: int) -> None:
    train = topics.topics[sorted(topics.topics)[0]][:5000]
    model = KneserNey(train, order=order)
    contexts = ["", "e", "th", "the", " in", "zzz", UNSEEN * 3, train[100:120], "ion"]
    for context in contexts:
        total = sum(model.prob(context, c) for c in model.alphabet)
        total += model.prob(context, UNSEEN)
        assert total == pytest.approx(1.0, abs=1e-9), context


def test_kneser_ney_bpc_is_the_mean_cost_with_context_from_train() -> None:
    train, held = "the cat sat on the mat. " * 5, "the bat sat."
    model = KneserNey(train, order=3)
    full = train + held
    start = len(train)
    expected = -np.mean(
        [math.log2(model.prob(full[i - 2 : i], full[i])) for i in range(start, len(full))]
    )
    assert kneser_ney_bpc(train, held, 3) == pytest.approx(expected)
    # a held-out character never seen in training costs a finite amount
    assert math.isfinite(kneser_ney_bpc(train, "the dog!", 3))


def test_compute_baselines_and_describe() -> None:
    train, held = "the cat sat on the mat. " * 20, "the cat sat on the hat. "
    b = compute_baselines(train, held, orders=(2, 4))
    assert set(b) == {"unigram", "kn2", "kn4", "lzma", "best_ngram"}
    assert b["best_ngram"] == "kn4"
    assert describe("kn5") == "character 5-gram, Kneser-Ney"
    assert describe("lzma") == "lzma given the training text"
    assert describe("unigram") == "unigram entropy"
    with pytest.raises(ValueError, match="unknown baseline"):
        describe("bogus")


# ---------------------------------------------------------------- cache


def test_cache_reads_back_and_recomputes_a_corrupt_file(tmp_path, monkeypatch) -> None:
    train, held = "abcabcabd " * 30, "abcabd "
    first = cached_baselines(train, held, orders=(2, 3), cache_dir=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    assert json.loads(files[0].read_text()) == first

    def boom(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(baselines, "compute_baselines", boom)
    assert cached_baselines(train, held, orders=(2, 3), cache_dir=tmp_path) == first

    files[0].write_text("{not json")
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return {"unigram": 1.0, "kn2": 2.0, "kn3": 3.0, "lzma": 4.0, "best_ngram": "kn2"}

    monkeypatch.setattr(baselines, "compute_baselines", counting)
    again = cached_baselines(train, held, orders=(2, 3), cache_dir=tmp_path)
    assert calls and again["kn3"] == 3.0
    assert json.loads(files[0].read_text()) == again
    # other orders are another key
    cached_baselines(train, held, orders=(2,), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GENAI_WIDGETS_CACHE", str(tmp_path))
    assert baselines.default_cache_dir() == tmp_path / "text_baselines"
    cached_baselines("abab " * 10, "abab", orders=(2,))
    assert len(list((tmp_path / "text_baselines").glob("*.json"))) == 1


# ---------------------------------------------------------------- memorisation


def test_longest_shared_substring_hand_examples() -> None:
    assert longest_shared_substring("the cat sat", "a cat sat on the mat") == (8, " cat sat")
    assert longest_shared_substring("xxabcdyy", "zzabcdzz") == (4, "abcd")
    assert longest_shared_substring("xyz", "abc") == (0, "")
    assert longest_shared_substring("", "abc") == (0, "")
    assert longest_shared_substring("abcabc", "xxabcabcxx") == (6, "abcabc")


def test_longest_shared_substring_matches_brute_force() -> None:
    rng = random.Random(0)
    for _ in range(200):
        sample = "".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        train = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 15)))
        best = max(
            (
                j - i
                for i in range(len(sample))
                for j in range(i, len(sample) + 1)
                if sample[i:j] in train
            ),
            default=0,
        )
        length, text = longest_shared_substring(sample, train)
        assert length == best == len(text)
        assert text in train and text in sample


def test_novel_ngram_share_hand_examples() -> None:
    # abc, bcd occur; cde, def do not
    assert novel_ngram_share("abcdef", "xxabcdxx", n=3) == 0.5
    # positions count, repeats included
    assert novel_ngram_share("aaaa", "ab", n=2) == 1.0
    assert novel_ngram_share("aaaa", "xaax", n=2) == 0.0
    assert math.isnan(novel_ngram_share("abc", "abcdef", n=4))
    index = ngram_index("xxabcdxx", 3)
    assert index == {"xxa", "xab", "abc", "bcd", "cdx", "dxx"}
    assert novel_ngram_share("abcdef", "xxabcdxx", n=3, index=index) == 0.5


def test_memorisation_keys() -> None:
    m = memorisation("abcdef", "xxabcdxx", n=3)
    assert m == {"longest": 4, "longest_text": "abcd", "novel_3grams": 0.5}
    assert set(memorisation("abcdefghij", "abcdefgh")) == {
        "longest",
        "longest_text",
        "novel_8grams",
    }


def test_overfitting_warning() -> None:
    falling, rising = [0.9, 0.9, 0.8, 0.5, 0.4, 0.4], [1.0, 1.0, 1.1, 1.2, 1.3, 1.3]
    warning = overfitting_warning(falling, rising)
    assert isinstance(warning, str) and "overfitting" in warning and "\n" not in warning
    assert overfitting_warning(falling, rising[::-1]) is None  # loss falling: still learning
    assert overfitting_warning(falling[::-1], rising) is None  # novelty rising
    assert overfitting_warning(falling[:5], rising[:5]) is None  # too short for two windows
    assert overfitting_warning([0.9, 0.5], [1.0, 1.5], window=1) is not None
    assert overfitting_warning([math.nan] * 6, rising) is None


def test_modules_import_without_torch() -> None:
    code = (
        "import sys\n"
        "import genai_widgets.families.text.baselines\n"
        "import genai_widgets.families.text.memorisation\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
