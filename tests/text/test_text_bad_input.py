"""Each bad input to the text family is one line naming what was given and what is accepted,
raised before anything starts: no thread, no run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from text_helpers import TEXT, TINY, package_threads
from torch import nn

import genai_widgets as gw


@pytest.fixture(autouse=True)
def _baseline_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GENAI_WIDGETS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def refused(tmp_path: Path, error: type[Exception] = ValueError, **changes) -> str:
    """The one-line message of train_text(**TINY, **changes); checks that nothing started."""
    run_dir = tmp_path / "never"
    before = package_threads()
    with pytest.raises(error) as info:
        gw.train_text(**{**TINY, "run_dir": str(run_dir), **changes})
    message = str(info.value)
    assert "\n" not in message, message
    assert not run_dir.exists(), "a refused run wrote its run directory"
    assert package_threads() - before == set(), "a refused run started a thread"
    return message


class Positions8(nn.Module):
    """Learned positions for 8 places and a `block_size` attribute saying so."""

    block_size = 8

    def __init__(self, vocab: int = 100):
        super().__init__()
        self.emb, self.pos, self.out = (
            nn.Embedding(vocab, 8),
            nn.Embedding(8, 8),
            nn.Linear(8, vocab),
        )

    def forward(self, idx):
        return self.out(self.emb(idx) + self.pos(torch.arange(idx.shape[1])))


class Positions8Silent(Positions8):
    """The same model without the attribute: it fails on a longer input."""

    block_size = None


def test_empty_text(tmp_path):
    message = refused(tmp_path, data="")
    assert message.startswith("data is empty") and '"python-docs"' in message
    assert refused(tmp_path, data=[]).startswith("data is empty")
    assert refused(tmp_path, data=torch.tensor([], dtype=torch.long)).startswith("data is empty")


def test_text_shorter_than_a_window_in_either_split(tmp_path):
    held = refused(tmp_path, data="abcdefgh" * 20)  # 160 characters: 16 held out
    assert "the held-out split has 16 tokens" in held and "block_size + 1 = 17" in held
    assert "block_size (it is 16)" in held and "val_fraction (it is 0.1)" in held
    train = refused(tmp_path, data=TEXT[:200], val_fraction=0.95)
    assert train.startswith("the training split has 10 tokens")


def test_one_window_in_each_split_is_enough(tmp_path):
    """block_size + 1 tokens per split: one window (inputs and their next tokens) each."""
    text = "abcdefghijklmnopq" * 2  # 17 characters per half
    run = gw.train_text(
        **{
            **TINY,
            "data": text,
            "val_fraction": 0.5,
            "max_steps": 2,
            "run_dir": str(tmp_path / "r"),
        }
    )
    assert run.wait(60) == "finished", run.traceback_text
    assert (len(run.data_source), len(run.held_out)) == (17, 17)
    assert run.evaluate()["tokens"] == 16


def test_a_prompt_outside_the_char_vocabulary(tmp_path):
    run = gw.train_text(**{**TINY, "max_steps": 2, "run_dir": str(tmp_path / "r")})
    assert run.wait(60) == "finished"
    step = run.step
    for call in (
        lambda: run.generate("naïve ☃ ☃"),
        lambda: run.next_token_probs("☃ naïve"),
        lambda: run.bits_per_char("naïve ☃"),
    ):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message
        assert "'ï'" in message and "'☃'" in message and "2 character(s)" in message
        assert "tokenizer='byte'" in message
    assert run.step == step
    message = refused(tmp_path, sample_prompt="☃ snow")
    assert message.startswith("sample_prompt has 1 character(s)") and "'☃'" in message


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"temperature": 0}, "temperature must be a number > 0, got 0"),
        ({"temperature": -1.5}, "temperature must be a number > 0, got -1.5"),
        ({"temperature": float("nan")}, "temperature must be a number > 0, got nan"),
        ({"top_p": 0}, "top_p must be in (0, 1] (or None: off), got 0"),
        ({"top_p": 1.5}, "top_p must be in (0, 1] (or None: off), got 1.5"),
        ({"top_k": 0}, "top_k must be an integer >= 1 (or None: all tokens), got 0"),
        ({"top_k": 2.5}, "top_k must be an integer >= 1 (or None: all tokens), got 2.5"),
        ({"max_new_tokens": -1}, "max_new_tokens must be an integer >= 0, got -1"),
    ],
)
def test_sampling_options_outside_their_range(tmp_path, options, expected):
    run = gw.train_text(**{**TINY, "max_steps": 1, "run_dir": str(tmp_path / "r")})
    assert run.wait(60) == "finished"
    with pytest.raises(ValueError) as info:
        run.generate("def ", **options)
    assert str(info.value) == expected


def test_sample_temperature_outside_its_range(tmp_path):
    assert "sample_temperature" in refused(tmp_path, sample_temperature=0)


def test_n_embd_not_divisible_by_n_head(tmp_path):
    message = refused(tmp_path, n_embd=30, n_head=4)
    assert message == (
        "n_embd must be divisible by n_head: n_embd=30 and n_head=4 leave 2; e.g. n_embd=28"
    )


def test_other_config_mistakes(tmp_path):
    assert "tokenizer must be one of 'char', 'byte'; got 'bpe'" in refused(
        tmp_path, tokenizer="bpe"
    )
    assert "dropout must be in [0, 1), got 1.0" in refused(tmp_path, dropout=1.0)
    assert "val_fraction must be in (0, 1), got 0" in refused(tmp_path, val_fraction=0)
    assert refused(tmp_path, error=TypeError, model=42).startswith("model must be 'char-gpt'")
    assert "pass an instance" in refused(tmp_path, error=TypeError, model=Positions8)
    assert "takes" in refused(tmp_path, error=FileNotFoundError, data="no/such/file.txt")
    assert "list given as data must hold only str" in refused(
        tmp_path, error=TypeError, data=["text", 3]
    )
    assert "1-D token ids" in refused(tmp_path, data=torch.zeros(4, 4, dtype=torch.long))
    assert "a GAN model" in refused(tmp_path, model="dcgan")


def test_block_size_larger_than_a_user_model_accepts(tmp_path):
    message = refused(tmp_path, model=Positions8(), block_size=16)
    assert message == (
        "block_size=16 is larger than the model accepts: its block_size is 8; pass "
        "block_size=8 or less"
    )
    message = refused(tmp_path, model=Positions8Silent(), block_size=16)
    assert message.startswith(
        "the model failed on a batch of shape (2, block_size=16) of token ids: IndexError"
    )
    assert message.endswith("lower block_size")


def test_a_user_model_with_the_wrong_output(tmp_path):
    class Flat(nn.Module):
        def forward(self, idx):
            return torch.zeros(idx.shape[0], 5)

    class Narrow(nn.Module):
        def forward(self, idx):
            return torch.zeros(*idx.shape, 3)

    assert "for (2, 16) it gave (2, 5)" in refused(tmp_path, model=Flat())
    assert "gives 3 logits per position" in refused(tmp_path, model=Narrow())
