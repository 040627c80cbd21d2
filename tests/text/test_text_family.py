"""The text family's engine: char-gpt's shapes and causal mask, the KV cache, save / load /
resume bit for bit, the tokenizers (Chinese with "byte"), every accepted `data=` form and the
held-out tail, the learning-rate schedule, user models, and the scoring methods of a run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from text_helpers import CHINESE, TEXT, TINY, tiny_run_dir
from torch import nn

import genai_widgets as gw
from genai_widgets.families.text.config import lr_at
from genai_widgets.families.text.data import WindowBatches, split_text
from genai_widgets.families.text.generation import generate_ids, token_logits
from genai_widgets.families.text.tokenizer import (
    ByteTokenizer,
    CharTokenizer,
    make_tokenizer,
    tokenizer_from_state,
)
from genai_widgets.models.char_gpt import CharGPT


@pytest.fixture(autouse=True)
def _baseline_cache(tmp_path_factory, monkeypatch):
    """Baselines cached in a temporary folder, not the user's ~/.cache."""
    monkeypatch.setenv("GENAI_WIDGETS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def tiny(tmp_path):
    """Keyword arguments of a tiny text run in its own run directory."""
    new_dir = tiny_run_dir(tmp_path)
    return lambda **kw: {**TINY, "run_dir": new_dir(), **kw}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished tiny run (20 steps) shared by the read-only tests."""
    run = gw.train_text(
        **{**TINY, "max_steps": 20, "run_dir": str(tmp_path_factory.mktemp("trained") / "r")}
    )
    assert run.wait(120) == "finished", run.traceback_text
    return run


def finished(run, timeout: float = 120) -> None:
    assert run.wait(timeout) == "finished", run.traceback_text


def tiny_gpt(vocab: int = 11, n_layer: int = 2, block: int = 16) -> CharGPT:
    torch.manual_seed(0)
    return CharGPT(vocab, block_size=block, n_layer=n_layer, n_head=2, n_embd=32).eval()


# ---------------------------------------------------------------- shapes and the causal mask


def test_logits_are_batch_by_time_by_vocab():
    model = tiny_gpt(vocab=11)
    idx = torch.randint(11, (3, 10))
    assert model(idx).shape == (3, 10, 11)
    logits, cache = model.forward_cached(idx)
    assert logits.shape == (3, 10, 11)
    assert len(cache) == 2 and cache[0][0].shape == (3, 2, 10, 16)  # (B, heads, T, head_dim)


def test_a_sequence_longer_than_block_size_is_refused():
    with pytest.raises(ValueError, match="longer than block_size=16"):
        tiny_gpt(block=16)(torch.zeros(1, 17, dtype=torch.long))


def test_attention_rows_sum_to_one_and_never_look_ahead(trained):
    text = "def f(x): x"
    weights = trained.attention(text)
    t = len(text)
    assert weights.shape == (1, 2, t, t)  # (n_layer, n_head, T, T)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 2, t), atol=1e-5)
    assert torch.count_nonzero(torch.triu(weights, diagonal=1)) == 0
    model = tiny_gpt(vocab=11, n_layer=2)
    assert model.attention_weights(torch.randint(11, (3, 7))).shape == (2, 3, 2, 7, 7)


def test_attention_keeps_the_last_block_size_tokens(trained):
    weights = trained.attention("x" * 40)
    assert weights.shape == (1, 2, 16, 16)


@pytest.mark.parametrize("position", [0, 5, 9])
def test_a_future_token_never_changes_earlier_logits(position):
    model = tiny_gpt(vocab=11)
    a = torch.randint(11, (2, 10))
    b = a.clone()
    b[:, position] = (a[:, position] + 1) % 11
    la, lb = model(a), model(b)
    assert torch.allclose(la[:, :position], lb[:, :position], atol=1e-6)
    assert not torch.allclose(la[:, position:], lb[:, position:])
    # The explicit-softmax pass and the cache agree with the mask too.
    wa, wb = model.attention_weights(a), model.attention_weights(b)
    assert torch.allclose(wa[:, :, :, :position], wb[:, :, :, :position], atol=1e-6)
    ca, _ = model.forward_cached(a)
    assert torch.allclose(ca, la, atol=1e-5)


def test_the_run_predicts_a_position_from_the_past_alone(trained):
    """next_token_probs after a prefix equals the full text's prediction at that position,
    whatever follows; surprisal before a changed character is unchanged."""
    text = "for i in it:\n x"
    vocab = trained.family.vocab_size
    for cut in (3, 10, len(text) - 1):
        alone = dict(trained.next_token_probs(text[:cut], k=vocab))
        scored = trained.surprisal(text)
        true = text[cut]
        assert scored["bits"][cut] == pytest.approx(-math.log2(alone[true]), rel=1e-4)
    changed = text[:-1] + ("x" if text[-1] != "x" else "y")
    a, b = trained.surprisal(text), trained.surprisal(changed)
    assert np.allclose(a["bits"][1:-1], b["bits"][1:-1])
    assert a["top"][:-1] == b["top"][:-1]


# ---------------------------------------------------------------- the KV cache


def test_cached_steps_equal_the_full_forward():
    model = tiny_gpt(vocab=11)
    idx = torch.randint(11, (2, 12))
    full = model(idx)
    logits, cache = model.forward_cached(idx[:, :5])
    parts = [logits]
    for i in range(5, 12):
        logits, cache = model.forward_cached(idx[:, i : i + 1], cache)
        parts.append(logits)
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)
    with pytest.raises(ValueError, match="longer than block_size"):
        model.forward_cached(idx[:, :5], cache)  # 12 cached + 5 > 16


def test_cached_generation_equals_uncached_within_block_size(trained):
    for seed in (0, 1, 2):
        kw = dict(max_new_tokens=10, temperature=1.0, seed=seed)
        cached = trained.generate("def ", use_cache=True, **kw)
        plain = trained.generate("def ", use_cache=False, **kw)
        assert cached == plain
        assert cached.startswith("def ") and len(cached) == 4 + 10
    model = tiny_gpt(vocab=11)
    draws = []
    for use_cache in (True, False):
        g = torch.Generator().manual_seed(3)
        draws.append(generate_ids(model, [1, 2, 3], 12, 16, generator=g, use_cache=use_cache))
    assert draws[0] == draws[1] and len(draws[0]) == 12


def test_generation_runs_past_block_size(trained):
    for use_cache in (True, False):
        out = trained.generate("class ", max_new_tokens=50, seed=0, use_cache=use_cache)
        assert out.startswith("class ") and len(out) == len("class ") + 50
    long_prompt = TEXT[:40]  # longer than block_size: its last 16 tokens are the context
    assert len(trained.generate(long_prompt, max_new_tokens=5, seed=0)) == 45


def test_the_same_seed_gives_the_same_text_and_top_k_one_is_greedy(trained):
    assert trained.generate("if ", 20, seed=5) == trained.generate("if ", 20, seed=5)
    greedy = [trained.generate("if ", 15, top_k=1, seed=s) for s in range(3)]
    assert len(set(greedy)) == 1
    assert trained.generate("if ", 15, top_p=1e-6, seed=9) == greedy[0]  # top-p keeps one
    samples = trained.sample(3, prompt="if ", max_new_tokens=8, seed=0)
    assert len(samples) == 3 and all(s.startswith("if ") and len(s) == 11 for s in samples)
    assert samples[0] == trained.generate("if ", 8, seed=0)


# ---------------------------------------------------------------- save / load / resume


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_resume_continues_bit_for_bit(tiny, dropout):
    """Run A trains 2N steps; run B trains N, is saved, loaded and resumed to 2N: the same
    losses and the same weights (the data position, AdamW state and, for dropout, the torch
    RNG restored)."""
    n = 8
    # The cosine runs to lr_decay_steps (by default max_steps, which differs between A and B).
    kw = dict(dropout=dropout, seed=3, eval_every=4, sample_every=4, warmup_steps=4)
    kw.update(lr_decay_steps=100)
    a = gw.train_text(**tiny(max_steps=2 * n, **kw))
    b = gw.train_text(**tiny(max_steps=n, **kw))
    finished(a)
    finished(b)
    loaded = gw.load_run(b.save(), data=TEXT)  # a long str is not kept in config.json
    assert loaded.step == n and loaded.family.name == "text"
    loaded.set(max_steps=2 * n)
    loaded.resume()
    finished(loaded)
    for col in ("loss", "bpc", "val_loss", "lr"):
        assert np.array_equal(loaded.history[col], a.history[col], equal_nan=True), col
    wa, wl = a.family.model.state_dict(), loaded.family.model.state_dict()
    assert wa.keys() == wl.keys()
    for key in wa:
        assert torch.equal(wa[key], wl[key]), key
    assert loaded.snapshot_count == a.snapshot_count
    assert (
        loaded.get_snapshot(loaded.snapshot_count - 1)["text"]
        == a.get_snapshot(a.snapshot_count - 1)["text"]
    )


def test_dropout_draws_from_the_runs_own_seeded_stream(tiny):
    """Two runs with the same seed and dropout train alike side by side, and neither touches
    torch's global generator (what the notebook's own code draws from)."""
    torch.manual_seed(123)
    before = torch.get_rng_state()
    runs = [gw.train_text(**tiny(dropout=0.2, max_steps=6, sample_every=3)) for _ in range(2)]
    for run in runs:
        finished(run)
    assert np.array_equal(runs[0].history["loss"], runs[1].history["loss"])
    assert torch.equal(torch.get_rng_state(), before)
    other = gw.train_text(**tiny(dropout=0.2, max_steps=6, seed=1))
    finished(other)
    assert not np.array_equal(other.history["loss"], runs[0].history["loss"])


def test_a_txt_path_is_restored_from_the_config(tiny, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    run = gw.train_text(**tiny(data=str(path), max_steps=4))
    finished(run)
    loaded = gw.load_run(run.save())  # no data=: the path in config.json
    loaded.set(max_steps=6)
    loaded.resume()
    finished(loaded)
    assert loaded.step == 6 and loaded.evaluate()["tokens"] > 0


def test_the_char_tokenizer_is_saved_with_the_run(tiny):
    run = gw.train_text(**tiny(data=TEXT + "§", max_steps=3))  # "§" is in the vocabulary
    finished(run)
    loaded = gw.load_run(run.save())  # without its text: the tokenizer is the checkpoint's
    assert loaded.family.tokenizer.chars == run.family.tokenizer.chars
    assert loaded.family.vocab_size == run.family.vocab_size
    assert loaded.generate("def ", 10, seed=1) == run.generate("def ", 10, seed=1)
    with pytest.raises(RuntimeError, match="pass data= to gw.load_run"):
        loaded.evaluate()


# ---------------------------------------------------------------- tokenizers


@pytest.mark.parametrize(
    "text", ["def f(x):\n\treturn x", "naïve café", CHINESE[:30], "emoji 🙂 mixed 中文 text"]
)
def test_tokenizers_round_trip(text):
    char = make_tokenizer("char", text)
    assert char.decode(char.encode(text)) == text
    assert char.vocab_size == len(set(text))
    byte = make_tokenizer("byte", text)
    assert byte.vocab_size == 256 and byte.decode(byte.encode(text)) == text
    for tok in (char, byte):
        again = tokenizer_from_state(tok.state())
        assert type(again) is type(tok) and again.encode(text) == tok.encode(text)


def test_byte_tokenizer_counts_characters_per_byte():
    tok = ByteTokenizer()
    assert tok.encode("中") == [0xE4, 0xB8, 0xAD]
    assert tok.chars_per_token("中文") == pytest.approx(1 / 3)
    assert tok.decode([0xE4, 0xB8]) == "\ufffd"  # a cut through a character: U+FFFD


def test_char_tokenizer_names_unknown_characters():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError) as info:
        tok.encode("abz€")
    message = str(info.value)
    assert "'z'" in message and "'€'" in message and "tokenizer='byte'" in message


def test_chinese_text_trains_and_generates_with_byte_tokens(tiny):
    run = gw.train_text(**tiny(data=CHINESE, tokenizer="byte", max_steps=6, sample_every=3))
    finished(run)
    assert run.family.vocab_size == 256
    out = run.generate("明月", max_new_tokens=30, seed=0)
    assert isinstance(out, str) and out.startswith("明月")
    bpc = run.bits_per_char("举头望明月，低头思故乡。")
    assert math.isfinite(bpc) and bpc > 0
    # Bits per character count characters, not bytes: three bytes per character here.
    assert run.history["bpc"][-1] == pytest.approx(
        run.history["loss"][-1] / math.log(2) * 3, rel=1e-4
    )
    assert run.get_snapshot(0)["text"]  # the strip decodes its bytes


def test_chinese_text_with_the_char_tokenizer(tiny):
    run = gw.train_text(**tiny(data=CHINESE, max_steps=3))
    finished(run)
    assert run.generate("明", 5, seed=0).startswith("明")
    with pytest.raises(ValueError, match="tokenizer='byte'"):
        run.generate("東京", 5)


# ---------------------------------------------------------------- data forms and the held-out tail


@pytest.fixture
def data_forms(tmp_path):
    """Every accepted `data=` form, built from TEXT."""
    file = tmp_path / "one.txt"
    file.write_text(TEXT, encoding="utf-8")
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(TEXT[:10000], encoding="utf-8")
    (folder / "sub" / "b.txt").write_text(TEXT[10000:], encoding="utf-8")
    (folder / "notes.md").write_text("not read", encoding="utf-8")
    return {
        "python-docs": "python-docs",
        "str": TEXT,
        "txt path": str(file),
        "pathlib path": file,
        "folder": str(folder),
        "list of str": [TEXT[:10000], TEXT[10000:]],
        "tensor of ids": torch.tensor(CharTokenizer.from_text(TEXT).encode(TEXT)),
    }


@pytest.mark.parametrize(
    "form",
    ["python-docs", "str", "txt path", "pathlib path", "folder", "list of str", "tensor of ids"],
)
def test_every_data_form_trains(tiny, data_forms, form):
    data = data_forms[form]
    run = gw.train_text(**tiny(data=data, max_steps=3, sample_every=None))
    finished(run)
    assert np.isfinite(run.history["loss"]).all()
    train, held = run.data_source, run.held_out
    if form == "tensor of ids":
        assert train.text is None and run.family.tokenizer.kind == "ids"
        assert run.generate("1 2 3", 4, seed=0).split()[:3] == ["1", "2", "3"]
        assert torch.equal(torch.cat([train.ids, held.ids]), data)
        return
    if form == "python-docs":
        assert len(train.text) + len(held.text) > 400_000
    elif form in ("folder", "list of str"):
        joined = TEXT[:10000] + "\n\n" + TEXT[10000:]  # documents joined by a blank line
        assert train.text + held.text == joined and "not read" not in train.text
    else:
        assert train.text + held.text == TEXT
    assert run.generate("The ", 5, seed=0).startswith("The ")


def test_the_held_out_split_is_the_tail():
    train, held, tok = split_text(TEXT, "char", 16, 0.1)
    cut = round(len(TEXT) * 0.9)
    assert (train.text, held.text) == (TEXT[:cut], TEXT[cut:])
    assert tok.decode(train.ids.tolist()) == train.text
    train, held, tok = split_text(TEXT, "char", 16, 0.25)
    cut = round(len(TEXT) * 0.75)
    assert train.text == TEXT[:cut]
    # Characters the training part never had cannot be predicted: dropped from the tail.
    unseen = set(TEXT[cut:]) - set(TEXT[:cut])
    assert unseen and held.text == "".join(c for c in TEXT[cut:] if c not in unseen)


def test_training_never_sees_the_held_out_tail(tiny, monkeypatch):
    marker = "@@HELD-OUT-ONLY@@"
    body = TEXT.replace("@", "")
    text = body[:19000] + marker + body[19000:]  # the marker in the last tenth only
    seen: list[torch.Tensor] = []
    original = WindowBatches.__next__

    def recording(self):
        batch = original(self)
        seen.append(batch.clone())
        return batch

    monkeypatch.setattr(WindowBatches, "__next__", recording)
    run = gw.train_text(**tiny(data=text, tokenizer="byte", max_steps=40, batch_size=8))
    finished(run)
    assert marker in run.held_out.text and marker not in run.data_source.text
    train_text = run.data_source.text
    assert len(seen) >= 40
    tok = run.family.tokenizer
    limit = len(run.data_source.ids)
    for batch in seen:
        for window in batch:
            piece = bytes(window.tolist())
            assert b"@" not in piece
            assert piece in train_text.encode("utf-8")
    assert all(int(b.max()) < tok.vocab_size for b in seen) and limit < len(text.encode())


def test_data_given_as_an_empty_string_is_refused_not_read_as_the_cwd(tmp_path, monkeypatch):
    """data="" once read every .txt file under the working directory (Path("") is ".")."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stray.txt").write_text(TEXT, encoding="utf-8")
    with pytest.raises(ValueError, match="data is empty"):
        split_text("", "char", 16, 0.1)


# ---------------------------------------------------------------- the learning-rate schedule


def test_lr_warms_up_then_decays_by_cosine_to_min_lr(tiny):
    run = gw.train_text(
        **tiny(max_steps=20, warmup_steps=5, lr=1e-3, min_lr=1e-4, sample_every=None)
    )
    finished(run)
    lr = run.history["lr"]
    assert len(lr) == 20
    settings = dict(lr=1e-3, min_lr=1e-4, warmup_steps=5, lr_decay_steps=None, max_steps=20)
    expected = np.array([lr_at(s, settings) for s in range(1, 21)])
    assert np.allclose(lr, expected, rtol=1e-6)
    assert np.allclose(lr[:5], np.arange(1, 6) * 2e-4)  # linear warm-up to the peak
    assert lr[4] == pytest.approx(1e-3)
    assert (np.diff(lr[4:]) < 0).all()  # then decreasing
    assert lr[-1] == pytest.approx(1e-4)  # reaching min_lr at max_steps
    mid = 5 + (20 - 5) / 2  # half-way through the decay: half-way between the two
    assert lr_at(round(mid * 2) / 2, settings) == pytest.approx(5.5e-4, rel=0.05)


def test_lr_schedule_past_the_decay_and_without_warm_up():
    s = dict(lr=1e-3, min_lr=1e-4, warmup_steps=0, lr_decay_steps=100, max_steps=None)
    assert lr_at(1, s) == pytest.approx(1e-3, rel=1e-3)
    assert lr_at(100, s) == lr_at(5000, s) == pytest.approx(1e-4)
    assert lr_at(50, s) == pytest.approx(1e-4 + 0.5 * (1 + math.cos(math.pi * 0.5)) * 9e-4)


# ---------------------------------------------------------------- user models


class Bigram(nn.Module):
    """An embedding + linear bigram model: each position sees its own token alone."""

    def __init__(self, vocab: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, 32)
        self.out = nn.Linear(32, vocab)

    def forward(self, idx):
        return self.out(self.emb(idx))


class TinyGRU(nn.Module):
    """A GRU language model returning (logits, None), nanoGPT's (logits, loss) shape."""

    def __init__(self, vocab: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, 32)
        self.gru = nn.GRU(32, 32, batch_first=True)
        self.out = nn.Linear(32, vocab + 3)  # more outputs than tokens is fine

    def forward(self, idx):
        h, _ = self.gru(self.emb(idx))
        return self.out(h), None


class ShortContext(nn.Module):
    """A model with its own `block_size` of 8 (learned positions for 8 places)."""

    block_size = 8

    def __init__(self, vocab: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, 16)
        self.pos = nn.Embedding(8, 16)
        self.out = nn.Linear(16, vocab)

    def forward(self, idx):
        return self.out(self.emb(idx) + self.pos(torch.arange(idx.shape[1])))


VOCAB = len(set(TEXT[: round(len(TEXT) * 0.9)]))


@pytest.mark.parametrize("make", [Bigram, TinyGRU], ids=["bigram", "gru"])
def test_a_user_model_drops_in(tiny, make):
    model = make(VOCAB)
    run = gw.train_text(**tiny(model=model, max_steps=12, lr=1e-2, warmup_steps=0))
    finished(run)
    assert run.model is model
    loss = run.history["loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]
    out = run.generate("def ", max_new_tokens=30, seed=0)  # no KV cache: the context re-run
    assert out.startswith("def ") and len(out) == 34
    assert run.generate("def ", 30, seed=0) == out
    assert math.isfinite(run.bits_per_char("return value"))
    probs = run.next_token_probs("de", k=5)
    assert len(probs) == 5 and all(tok in run.family.tokenizer.chars for tok, _ in probs)
    assert math.isfinite(run.evaluate()["val_bpc"])
    with pytest.raises(TypeError, match="attention_weights") as info:
        run.attention("some text")
    assert type(model).__name__ in str(info.value) and "\n" not in str(info.value)


def test_a_user_model_with_a_short_block_size_trains_at_its_size(tiny):
    run = gw.train_text(**tiny(model=ShortContext(VOCAB), block_size=8, max_steps=3))
    finished(run)
    assert len(run.generate("ab", 20, seed=0)) == 22  # generation past its context of 8


# ---------------------------------------------------------------- scoring a run


def test_evaluate_scores_the_whole_held_out_split(trained):
    result = trained.evaluate()
    assert {"val_loss", "val_bpc", "tokens", "step"} <= set(result)
    assert result["step"] == 20
    assert result["val_bpc"] == pytest.approx(result["val_loss"] / math.log(2))
    held = trained.held_out
    assert result["tokens"] == ((len(held.ids) - 1) // 16) * 16
    assert 0 < result["val_loss"] < math.log(trained.family.vocab_size) + 1


def test_bits_per_char_matches_the_surprisal(trained):
    text = "the value of x"
    bpc = trained.bits_per_char(text)
    bits = trained.surprisal(text)["bits"]
    assert bpc == pytest.approx(np.mean(bits[1:]), rel=1e-5)
    assert 0 < bpc < 10
    long = TEXT[1000:1100]  # longer than block_size: scored in overlapping windows
    assert math.isfinite(trained.bits_per_char(long))
    with pytest.raises(ValueError, match="at least 2 tokens"):
        trained.bits_per_char("a")


def test_next_token_probs_are_sorted_probabilities(trained):
    probs = trained.next_token_probs("def fo", k=10)
    assert len(probs) == 10
    values = [p for _, p in probs]
    assert values == sorted(values, reverse=True)
    assert all(0 <= p <= 1 for p in values) and sum(values) <= 1 + 1e-6
    tokens = [t for t, _ in probs]
    assert len(set(tokens)) == 10 and set(tokens) <= set(trained.family.tokenizer.chars)
    everything = trained.next_token_probs("def fo", k=10_000)  # k past the vocabulary
    assert len(everything) == trained.family.vocab_size
    assert sum(p for _, p in everything) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        trained.next_token_probs("def", k=0)


def test_surprisal_has_one_entry_per_token(trained):
    text = "import os\nos.sep"
    s = trained.surprisal(text, k=5)
    n = len(text)
    assert s["tokens"] == list(text)
    assert len(s["bits"]) == len(s["top"]) == len(s["rank"]) == n
    assert math.isnan(s["bits"][0]) and s["top"][0] == [] and s["rank"][0] == 0
    vocab = trained.family.vocab_size
    for i in range(1, n):
        assert len(s["top"][i]) == 5 and 1 <= s["rank"][i] <= vocab and s["bits"][i] > 0
        ps = [p for _, p in s["top"][i]]
        assert ps == sorted(ps, reverse=True)
        if s["rank"][i] == 1:
            assert s["bits"][i] == pytest.approx(-math.log2(ps[0]), rel=1e-4)
    passage = trained.surprisal()  # default: the held-out passage
    assert 2 <= len(passage["tokens"]) <= 16 and "".join(passage["tokens"]) in trained.held_out.text


def test_token_logits_cover_every_position_with_windows():
    model = tiny_gpt(vocab=11, block=16)
    ids = torch.randint(11, (50,))
    logits = token_logits(model, ids.tolist(), 16)
    assert logits.shape == (49, 11)
    assert torch.allclose(logits[:16], model(ids[None, :16])[0], atol=1e-5)


def test_the_sample_strip_is_a_record_per_sample_every(trained):
    assert trained.snapshot_count == 5  # the first step, then every 5
    assert list(trained.snapshot_steps()) == [1, 5, 10, 15, 20]
    record = trained.get_snapshot(0)
    assert {"prompt", "text", "seed", "longest", "novel_8grams"} <= set(record)
    assert len(record["text"]) == 20
    assert trained.get_snapshot(4)["prompt"] == record["prompt"]


def test_history_has_the_text_columns(trained):
    h = trained.history
    for col in ("loss", "bpc", "val_loss", "val_bpc", "lr", "tokens_per_s"):
        assert len(h[col]) == 20, col
    assert np.isfinite(h["val_loss"][[4, 9, 14, 19]]).all()  # every eval_every = 5 steps
    assert np.isnan(h["val_loss"][[0, 1, 2, 3]]).all()
    assert np.allclose(h["bpc"], h["loss"] / math.log(2), rtol=1e-5)
    assert (h["tokens_per_s"] > 0).all()
