"""`TextConfig`: every field of a text run (`gw.train_text(**kw)`, `%%text_train`). No torch
here: the magics' flags and `python -m genai_widgets --help` read it without it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ...engine.config import (
    RunConfig,
    build_config,
    finite_non_negative,
    positive_float,
    positive_int,
)

TOKENIZERS = ("char", "byte")


@dataclass(frozen=True)
class TextConfig(RunConfig):
    """Everything that defines a text run: the text and its tokenizer, the GPT's shape, the
    AdamW optimizer with warm-up and cosine decay, and the held-out split."""

    family: ClassVar[str] = "text"
    settable: ClassVar[tuple[str, ...]] = (
        "lr", "min_lr", "warmup_steps", "lr_decay_steps", "weight_decay", "grad_clip",
        "max_steps", "eval_every", "sample_every", "beta1", "beta2", "step_delay",
    )  # fmt: skip
    #: Names a `%%text_train` cell body may bind to give the text (the first one bound wins).
    data_names: ClassVar[tuple[str, ...]] = ("data", "text")

    data: Any = "python-docs"  # "python-docs", a str, a .txt file or folder, a list of str, ids
    model: Any = "char-gpt"  # "char-gpt" or your nn.Module mapping (B, T) ids to (B, T, vocab)
    tokenizer: str = "char"  # one of TOKENIZERS: char (the text's characters), byte (UTF-8)
    block_size: int = 128  # context length in tokens: positions the model sees at once
    n_layer: int = 4  # transformer blocks of char-gpt
    n_head: int = 4  # attention heads per block (n_embd must divide by it)
    n_embd: int = 128  # width of the residual stream (embedding size)
    dropout: float = 0.1  # dropout in attention and MLP (0: none); holds off over-fitting
    batch_size: int = 8  # sequences of block_size tokens per update (few: more updates)
    lr: float = 2e-3  # peak AdamW learning rate, reached after warmup_steps
    min_lr: float = 1e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 100  # steps of linear learning-rate warm-up from 0 (0: none)
    lr_decay_steps: int | None = None  # steps of cosine decay to min_lr; None: max_steps or 14000
    weight_decay: float = 0.1  # AdamW weight decay on matrices (not on biases, norms)
    grad_clip: float = 1.0  # clip the gradient norm to this (0: off)
    beta1: float = 0.9  # AdamW beta1
    beta2: float = 0.99  # AdamW beta2
    val_fraction: float = 0.1  # the tail of the text held out: never trained on
    eval_every: int = 100  # steps between held-out losses (val_loss, val_bpc)
    eval_tokens: int = 8192  # held-out tokens each of those scores (run.evaluate(): all)
    sample_every: int | None = 100  # steps between samples of the live strip
    sample_prompt: str | None = None  # the strip's fixed prompt; None: the held-out text's start
    sample_tokens: int = 200  # new tokens per strip sample
    sample_temperature: float = 0.8  # temperature of the strip's samples

    def replace(self, **changes: Any) -> TextConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """As `RunConfig.to_json`, but text given as data is recorded by its size, not kept
        whole (a path, a named text or a short string is kept)."""
        out = super().to_json()
        data = self.data
        if isinstance(data, str) and ("\n" in data or len(data) > 200):
            out["data"] = f"<str of {len(data)} characters>"
        return out

    def validate(self, resolved: bool = False) -> None:
        super().validate(resolved)
        c = self
        if c.tokenizer not in TOKENIZERS:
            raise ValueError(
                f"tokenizer must be one of {', '.join(map(repr, TOKENIZERS))}; got {c.tokenizer!r}"
            )
        for name in ("block_size", "n_layer", "n_head", "n_embd", "eval_every", "eval_tokens"):
            positive_int(name, getattr(c, name))
        positive_int("sample_tokens", c.sample_tokens)
        positive_int("warmup_steps", c.warmup_steps, minimum=0)
        positive_int("lr_decay_steps", c.lr_decay_steps, allow_none=True)
        if c.n_embd % c.n_head:
            raise ValueError(
                f"n_embd must be divisible by n_head: n_embd={c.n_embd} and n_head={c.n_head} "
                f"leave {c.n_embd % c.n_head}; e.g. n_embd={c.n_head * max(1, c.n_embd // c.n_head)}"
            )
        if (
            isinstance(c.dropout, bool)
            or not isinstance(c.dropout, (int, float))
            or not (0 <= c.dropout < 1)
        ):
            raise ValueError(f"dropout must be in [0, 1), got {c.dropout!r}")
        finite_non_negative("min_lr", c.min_lr)
        finite_non_negative("weight_decay", c.weight_decay)
        finite_non_negative("grad_clip", c.grad_clip)
        positive_float("sample_temperature", c.sample_temperature)
        value = c.val_fraction
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {value!r}")
        if c.sample_prompt is not None and not isinstance(c.sample_prompt, str):
            raise ValueError(
                f"sample_prompt must be a string, got {type(c.sample_prompt).__name__}"
            )


#: Cosine decay length when neither lr_decay_steps nor max_steps is given: about 10 minutes
#: of a 2-core CPU at the defaults (benchmarks.md, the text family's quality).
DEFAULT_DECAY_STEPS = 14000


def lr_at(step: int, settings: dict[str, Any]) -> float:
    """The learning rate of step `step` (1-based): linear warm-up over `warmup_steps` to `lr`,
    then cosine decay to `min_lr` at `lr_decay_steps` (None: `max_steps`, else
    DEFAULT_DECAY_STEPS), then `min_lr` (nanoGPT's schedule)."""
    lr, min_lr, warmup = settings["lr"], settings["min_lr"], settings["warmup_steps"]
    decay_steps = settings.get("lr_decay_steps") or settings.get("max_steps") or DEFAULT_DECAY_STEPS
    if warmup and step <= warmup:
        return lr * step / warmup
    if step >= decay_steps:
        return min(min_lr, lr)
    span = max(1, decay_steps - warmup)
    ratio = min(1.0, max(0.0, (step - warmup) / span))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def make_text_config(**kwargs: Any) -> TextConfig:
    """Build and validate a TextConfig; unknown keys raise TypeError listing the valid ones."""
    return build_config(TextConfig, kwargs)


__all__ = ["TOKENIZERS", "TextConfig", "lr_at", "make_text_config"]
