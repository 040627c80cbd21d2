"""Shared pytest setup: the ``harness`` import path, directory markers, the ``kernel`` fixture.

Markers (declared in pyproject.toml) are applied by directory: tests under ``tests/kernel/``
get ``kernel``, tests under ``tests/browser/`` get ``browser`` (select with ``-m``).
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from harness.kernel import KernelSession  # noqa: E402

_DIR_MARKERS = {"kernel": "kernel", "browser": "browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            rel = Path(str(item.path)).resolve().relative_to(TESTS_DIR)
        except ValueError:
            continue
        marker = _DIR_MARKERS.get(rel.parts[0]) if len(rel.parts) > 1 else None
        if marker is not None:
            item.add_marker(marker)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Expose each phase's report as ``item.rep_setup`` / ``rep_call`` / ``rep_teardown`` so
    fixtures can react to failures (screenshots, server logs)."""
    report = yield
    setattr(item, f"rep_{call.when}", report)
    return report


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[KernelSession]:
    """A started python3 kernel running in ``tmp_path``; killed after the test."""
    session = KernelSession(cwd=tmp_path)
    session.start()
    try:
        yield session
    finally:
        session.shutdown()
