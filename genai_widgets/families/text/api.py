"""`gw.train_text`: a text run from keyword arguments, started at once."""

from __future__ import annotations

import os
from typing import Any

from ...engine.api import start_run
from ...engine.run import Run
from . import family as _family  # noqa: F401  (registers TextFamily)
from .config import TextConfig


def train_text(
    data: Any = "python-docs",
    model: Any = "char-gpt",
    tokenizer: str = "char",
    block_size: int = 128,
    n_layer: int = 4,
    n_head: int = 4,
    n_embd: int = 128,
    dropout: float = 0.1,
    batch_size: int = 8,
    lr: float = 2e-3,
    max_steps: int | None = None,
    eval_every: int = 100,
    sample_every: int | None = 100,
    seed: int = 0,
    run_dir: str | os.PathLike | None = None,
    **options: Any,
) -> Run:
    """Start training a character-level Transformer in a background thread; returns its `Run`.

    `data`: "python-docs" (CPython's help topics, offline), a str, a path to a .txt file or a
    folder of them, a list of str, or a 1-D tensor of token ids; its tail `val_fraction`
    (0.1) is held out. `tokenizer`: "char" (the text's characters) or "byte" (UTF-8, any
    language). `model`: "char-gpt" (n_layer, n_head, n_embd, dropout shape it) or any
    nn.Module mapping (B, T) ids to (B, T, vocab) logits for T up to `block_size`. The
    learning rate warms up over `warmup_steps` and decays (cosine) to `min_lr`. Other options
    are the fields of `TextConfig`. Then `run.generate(...)`, `run.bits_per_char(text)`,
    `run.next_token_probs(text)`, `run.attention(text)`, `run.evaluate()`."""
    return start_run(TextConfig, locals())
