"""Checkpoints: written atomically (temp file, fsync, rename) so a crash mid-write never leaves a
torn file, and read with `torch.load(weights_only=True)` so a checkpoint cannot run code."""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_DIR = "checkpoints"
_PATTERN = re.compile(r"step_(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded safely (corrupt, or not plain tensors and data)."""


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:09d}.pt"


def save_checkpoint(
    run_dir: str | Path, step: int, state: dict[str, Any], *, keep: int = 3
) -> Path:
    """Write `state` for `step`; keep the newest `keep` checkpoints."""
    path = checkpoint_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoints of a run, oldest first (temp files of an interrupted write are ignored)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PATTERN.search(p.name))]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load with `weights_only=True`: tensors, numbers, strings and containers only."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than tensors and plain data "
            f"(weights_only=True), which could run code when unpickled. Only load checkpoints "
            f"written by genai_widgets or other sources you trust. ({exc})"
        ) from exc
    except (RuntimeError, EOFError) as exc:
        raise CheckpointError(f"could not read checkpoint {path}: {exc}") from exc
