"""`%%text_train` / `%text_train`: one flag per TextConfig field (the same as `train_text`),
the body's `model` and `data` / `text`, one-line UsageErrors that start nothing, and defaults
from `%config TEXTTrainMagics` and `$GENAI_WIDGETS_TEXT_<FIELD>`."""

from __future__ import annotations

import dataclasses
import inspect
import threading
from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from magic_helpers import FakeRun, threads_started_since

import genai_widgets as gw
import genai_widgets.magics as magics
from genai_widgets.families.gan.config import GANConfig
from genai_widgets.families.text.config import TextConfig
from genai_widgets.families.vae.config import VAEConfig
from genai_widgets.magics.trainers import TEXT

TINY_TEXT = (
    "--block-size 16 --n-layer 1 --n-head 2 --n-embd 32 --batch-size 4 --eval-every 5 "
    "--sample-every 5 --sample-tokens 10 --eval-tokens 128 --device cpu"
)
FIELDS = [f.name for f in dataclasses.fields(TextConfig)]
SAMPLES = {
    "tokenizer": ("byte", "byte"),
    "block_size": ("64", 64),
    "n_layer": ("2", 2),
    "n_head": ("8", 8),
    "n_embd": ("64", 64),
    "dropout": ("0.1", 0.1),
    "lr": ("3e-4", 3e-4),
    "min_lr": ("1e-5", 1e-5),
    "warmup_steps": ("10", 10),
    "lr_decay_steps": ("500", 500),
    "val_fraction": ("0.2", 0.2),
    "sample_every": ("none", None),
    "sample_prompt": ("def", "def"),
    "max_steps": ("30", 30),
}
BODY_TEXT = "The quick brown fox jumps over the lazy dog. " * 20


@pytest.fixture
def text_shell(shell) -> Iterator:
    yield shell
    text_magics = shell.magics_manager.registry["TEXTTrainMagics"]
    for config in (shell.config, text_magics.config):
        config.pop("TEXTTrainMagics", None)
    for spec in magics.flag_specs(TEXT).values():
        setattr(text_magics, spec.field, spec.default)
    text_magics._assigned.clear()


@pytest.fixture(autouse=True)
def _baseline_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GENAI_WIDGETS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def usage_error(shell, line: str, cell: str | None = None) -> str:
    with pytest.raises(UsageError) as info:
        if cell is None:
            shell.run_line_magic("text_train", line)
        else:
            shell.run_cell_magic("text_train", line, cell)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_text_field_is_a_flag_and_train_text_takes_the_same():
    specs = magics.flag_specs(TEXT)
    assert list(specs) == FIELDS
    for spec in specs.values():
        assert spec.help, f"{spec.field} has no comment in config.py"
        assert spec.env_var in (None, f"GENAI_WIDGETS_TEXT_{spec.field.upper()}")
    assert specs["tokenizer"].choices() == ("char", "byte")
    named = [p for p in inspect.signature(gw.train_text).parameters if p != "options"]
    assert set(named) <= set(FIELDS)  # the rest reach train_text as **options


@pytest.mark.parametrize(
    ("train", "config"),
    [("train_text", TextConfig), ("train_gan", GANConfig), ("train_vae", VAEConfig)],
)
def test_train_functions_default_to_their_configs_defaults(train, config):
    # gw.train_text(...) and %%text_train (the config's) must start the same run: a default
    # changed in one place only once left train_text at batch 32 while the config said 8.
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    signature = inspect.signature(getattr(gw, train)).parameters
    compared = [
        name
        for name, parameter in signature.items()
        if parameter.default is not inspect.Parameter.empty and name in defaults
    ]
    assert len(compared) >= 5, compared
    for name in compared:
        assert signature[name].default == defaults[name], (train, name)


@pytest.mark.parametrize("field", sorted(SAMPLES))
def test_text_flags_map_to_their_fields(text_shell, built, field):
    flag, value = SAMPLES[field]
    text_shell.run_line_magic("text_train", f"--{field.replace('_', '-')} {flag}")
    (config,) = built
    assert isinstance(config, TextConfig) and getattr(config, field) == value
    assert isinstance(text_shell.user_ns["run"], FakeRun)


def test_text_mistakes_are_one_line_usage_errors_that_start_nothing(text_shell, tmp_path):
    before = set(threading.enumerate())
    assert usage_error(text_shell, "--tokenizer bpe").startswith(
        "--tokenizer expects one of char, byte; got 'bpe'"
    )
    assert usage_error(text_shell, "--n-embd 30 --n-head 4").startswith(
        "--n-embd must be divisible by n_head: n_embd=30 and n_head=4"
    )
    assert usage_error(text_shell, "--block-size many").startswith(
        "--block-size expects an integer"
    )
    assert usage_error(text_shell, f"{TINY_TEXT}", "text = ''\n").startswith("data is empty")
    message = usage_error(text_shell, f"{TINY_TEXT}", "text = 'abcdefgh' * 20\n")
    assert "the held-out split has 16 tokens" in message
    message = usage_error(text_shell, f"{TINY_TEXT} --sample-prompt ☃")
    assert "'☃'" in message and "tokenizer='byte'" in message
    assert usage_error(text_shell, "--n-critic 2").startswith("unknown flag --n-critic;")
    assert usage_error(text_shell, "--model dcgan").startswith("model 'dcgan' is a GAN model")
    assert threads_started_since(before) == set()
    assert not (tmp_path / "runs").exists()
    assert "run" not in text_shell.user_ns


def test_a_body_model_that_accepts_fewer_positions_is_a_usage_error(text_shell):
    body = (
        "import torch\nfrom torch import nn\n"
        "class Short(nn.Module):\n"
        "    block_size = 8\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.emb = nn.Embedding(300, 300)\n"
        "    def forward(self, idx):\n"
        "        return self.emb(idx)\n"
        "model = Short()\n"
        f"text = {BODY_TEXT!r}\n"
    )
    message = usage_error(text_shell, TINY_TEXT, body)
    assert message == (
        "block_size=16 is larger than the model accepts: its block_size is 8; pass "
        "block_size=8 or less"
    )


def test_text_defaults_from_config_and_environment(text_shell, built, monkeypatch):
    monkeypatch.setenv("GENAI_WIDGETS_TEXT_MAX_STEPS", "40")
    monkeypatch.setenv("GENAI_WIDGETS_MAX_STEPS", "7")  # the GAN's: not read by %text_train
    text_shell.run_line_magic("text_train", "")
    assert built[-1].max_steps == 40
    text_shell.run_line_magic("config", "TEXTTrainMagics.n_layer = 2")
    text_shell.run_line_magic("text_train", "--max-steps 3")
    assert (built[-1].n_layer, built[-1].max_steps) == (2, 3)
    monkeypatch.setenv("GENAI_WIDGETS_TEXT_BLOCK_SIZE", "long")
    assert usage_error(text_shell, "") == (
        "$GENAI_WIDGETS_TEXT_BLOCK_SIZE expects an integer, got 'long'"
    )


def test_text_help_lists_the_text_flags(text_shell, built, capsys):
    text_shell.run_line_magic("text_train", "--help")
    out = capsys.readouterr().out
    assert "--block-size INT" in out and "--tokenizer" in out and "GENAI_WIDGETS_TEXT_" in out
    assert built == []


def test_the_body_text_and_model_drop_in(text_shell):
    body = (
        "import torch\nfrom torch import nn\n"
        "class Bigram(nn.Module):\n"
        "    def __init__(self, vocab):\n"
        "        super().__init__(); self.emb = nn.Embedding(vocab, vocab)\n"
        "    def forward(self, idx):\n"
        "        return self.emb(idx)\n"
        f"text = {BODY_TEXT!r}\n"
        "model = Bigram(len(set(text)))\n"
    )
    text_shell.run_cell_magic("text_train", f"{TINY_TEXT} --max-steps 6 --as lm", body)
    run = text_shell.user_ns["lm"]
    assert run.model is text_shell.user_ns["model"]
    assert run.wait(60) == "finished" and run.step == 6
    assert run.data_source.text + run.held_out.text == BODY_TEXT
    assert run.generate("The ", 10, seed=0).startswith("The ")


def test_the_body_may_name_its_text_data(text_shell):
    text_shell.run_cell_magic(
        "text_train", f"{TINY_TEXT} --tokenizer byte --max-steps 3", f"data = {BODY_TEXT!r}\n"
    )
    run = text_shell.user_ns["run"]
    assert run.wait(60) == "finished"
    assert run.family.tokenizer.kind == "byte" and run.family.name == "text"
    assert run.data_source.text + run.held_out.text == BODY_TEXT


def test_the_line_magic_trains_python_docs(text_shell, shown):
    text_shell.run_line_magic("text_train", f"{TINY_TEXT} --max-steps 4 --as docs")
    run = text_shell.user_ns["docs"]
    assert run.wait(60) == "finished" and run.config.data == "python-docs"
    assert shown  # the dashboard (or, without its widget, the run's summary) was displayed
    text_shell.run_line_magic("gan_runs", "")
