"""Smoke tests of the browser harness: real JupyterLab / Notebook 7 in headless Chromium.

The notebook prints a line and shows a minimal anywidget counter. Clicking its button changes a
synced trait in the browser; a kernel-side observer answers by setting a second trait, so the
text ``kernel echo: 1`` only appears after a full browser -> kernel -> browser round trip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness import (
    OUTPUTS,
    JupyterServer,
    kernel_execute,
    open_notebook,
    run_all_cells,
    screenshot,
    wait_for_text,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

NOTEBOOK = "harness_smoke.ipynb"


def _exercise(page: Page, server: JupyterServer) -> None:
    open_notebook(page, server, NOTEBOOK)
    run_all_cells(page)
    wait_for_text(page, "harness: hello from the kernel")
    wait_for_text(page, "harness count: 0")
    wait_for_text(page, "kernel echo: none")
    # wait_for_text looks in outputs only: source text (this is in cell 2's code) is not found
    assert page.get_by_text("traitlets.Unicode").count() > 0
    assert page.locator(OUTPUTS).get_by_text("traitlets.Unicode").count() == 0

    page.locator(".gw-harness-button").click()
    wait_for_text(page, "harness count: 1")
    wait_for_text(page, "kernel echo: 1")  # the kernel saw the click and answered
    assert kernel_execute(page, "print(counter.count)") == "1\n"
    screenshot(page, f"harness-smoke-{server.kind}")


def test_jupyterlab_smoke(lab_server: JupyterServer, browser_page: Page) -> None:
    _exercise(browser_page, lab_server)


def test_notebook7_smoke(notebook_server: JupyterServer, browser_page: Page) -> None:
    _exercise(browser_page, notebook_server)
