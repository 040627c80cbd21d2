"""Helpers shared by the text family's tests: a short real text and tiny run settings."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from genai_widgets.families.text.data import python_docs

#: The first 20k characters of the python-docs text: enough for tiny runs, quick baselines.
TEXT = python_docs()[:20000]

#: A tiny char-gpt: one layer, 32 wide, a context of 16, batches of 4, on the CPU.
TINY: dict[str, Any] = dict(
    data=TEXT,
    block_size=16,
    n_layer=1,
    n_head=2,
    n_embd=32,
    batch_size=4,
    max_steps=10,
    eval_every=5,
    sample_every=5,
    sample_tokens=20,
    eval_tokens=256,
    device="cpu",
)

CHINESE = (
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"
) * 4


def package_threads() -> set[threading.Thread]:
    """The package's live threads (trainer, store writer, flusher, baselines)."""
    return {t for t in threading.enumerate() if t.name.startswith("genai-widgets") and t.is_alive()}


def tiny_run_dir(tmp_path: Path):
    """A factory of fresh run directories under `tmp_path`."""
    counter = iter(range(10_000))
    return lambda: str(tmp_path / f"run{next(counter)}")
