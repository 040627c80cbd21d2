"""Test modules need unique basenames across the test folders: pytest imports them by
basename (rootdir-relative, no packages), and a second `test_x.py` in another folder fails
the whole collection with an import-file mismatch."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_test_module_basenames_are_unique() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if "__pycache__" not in path.parts:
            where[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not clashes, f"test modules with the same basename (rename one): {clashes}"
