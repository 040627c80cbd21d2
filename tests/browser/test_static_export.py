"""A notebook shared without a kernel: executed with `jupyter nbconvert --to notebook --execute`
(widget state saved), exported with `jupyter nbconvert --to html` (lab and classic templates),
then opened in headless Chromium with the network cut off, as a reader without a kernel or a
CDN sees it: the dashboard cell shows its picture."""

from __future__ import annotations

import re

import pytest
from harness import screenshot
from harness.export import execute_notebook, export_html

pytestmark = pytest.mark.timeout(300)

CELLS = [
    "import genai_widgets as gw\n"
    "run = gw.train_gan(data='digits', image_size=16, width=8, batch_size=16, latent_dim=16,\n"
    "                   max_steps=20, sample_every=10, run_dir='runs/export')\n"
    "run.wait(120)",
    "run.dashboard()",
]
# The code cell of `run.dashboard()` and an output of it, per template.
CELL = {"lab": (".jp-CodeCell", ".jp-InputArea"), "classic": (".code_cell", ".input_area")}


def test_exported_html_shows_the_dashboard_picture(browser_page, tmp_path):
    page = browser_page
    nb = execute_notebook(tmp_path / "shared.ipynb", CELLS)
    page.route(re.compile(r"^https?://"), lambda route: route.abort())  # no CDN, no kernel
    for template in ("lab", "classic"):
        path = tmp_path / f"shared-{template}.html"
        path.write_text(export_html(nb, template))
        page.goto(path.as_uri(), wait_until="domcontentloaded")
        cell_selector, input_selector = CELL[template]
        cell = page.locator(
            cell_selector, has=page.locator(input_selector, has_text="run.dashboard()")
        )
        assert cell.count() == 1
        img = cell.locator("img")
        assert img.count() == 1, f"{template}: {img.count()} pictures in the dashboard cell"
        img.wait_for(state="visible", timeout=10_000)
        page.wait_for_function("img => img.complete", arg=img.element_handle(), timeout=10_000)
        width = img.evaluate("img => img.naturalWidth")
        assert width > 600, f"{template}: the dashboard picture is {width} px wide"
        assert img.bounding_box()["height"] > 100
        screenshot(page, f"exported-html-{template}")
