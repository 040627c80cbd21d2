"""Fixtures for end-to-end tests: real JupyterLab / Notebook 7 servers + headless Chromium.

- ``lab_server`` / ``notebook_server`` (module scope): a server whose root dir is a fresh temp
  dir holding a copy of ``tests/browser/notebooks/``. Tests may write more notebooks into
  ``server.root_dir`` (use `harness.write_notebook`, it adds the kernelspec).
- ``chromium_browser`` (session scope): the OS Chromium through Playwright.
- ``browser_page`` (function scope): a fresh page; on failure a screenshot goes to
  ``test-artifacts/`` and the browser console and server log tails are printed.

Without Chromium (or the playwright package) these tests SKIP, or FAIL when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from harness.lab import (
    BROWSER_DEPS_SCRIPT,
    JupyterServer,
    chromium_executable,
    console_log,
    launch_browser,
    new_page,
    screenshot,
    start_server,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

NOTEBOOKS_DIR = Path(__file__).resolve().parent / "notebooks"


def _missing(reason: str) -> None:
    msg = f"{reason}; install the browser test dependencies with `{BROWSER_DEPS_SCRIPT}` (as root)"
    if os.environ.get("CI"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    exe = chromium_executable()
    if exe is None:
        _missing(
            "chromium not found (looked for $GW_CHROMIUM, chromium, chromium-browser, google-chrome)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package is not installed")
    pw = sync_playwright().start()
    try:
        browser = launch_browser(pw, exe)
    except Exception:
        pw.stop()
        raise
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


def _server(kind: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp(f"{kind}-root")
    for nb in NOTEBOOKS_DIR.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    server = start_server(kind, root)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab_server(
    chromium_browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    """JupyterLab (depends on ``chromium_browser`` so a missing browser skips before the
    server starts)."""
    yield from _server("lab", tmp_path_factory)


@pytest.fixture(scope="module")
def notebook_server(
    chromium_browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    """Jupyter Notebook 7."""
    yield from _server("notebook", tmp_path_factory)


@pytest.fixture
def browser_page(chromium_browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = new_page(chromium_browser)
    try:
        yield page
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            try:
                print(f"screenshot: {screenshot(page, 'FAILED-' + request.node.name)}")
            except Exception as err:  # the page may be gone
                print(f"(no screenshot: {err})")
            print("--- browser console (last 50) ---")
            print("\n".join(console_log(page)[-50:]))
            for name in ("lab_server", "notebook_server"):
                if name in request.fixturenames:
                    server = request.getfixturevalue(name)
                    print(f"--- {name} log ({server.log_path}) ---")
                    print(server.log_text(tail=80))
        page.context.close()
        # stop this test's kernels: their threads must not eat the next test's CPU
        for name in ("lab_server", "notebook_server"):
            if name in request.fixturenames:
                request.getfixturevalue(name).shutdown_sessions()
