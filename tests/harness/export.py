"""Notebooks as a user saves and shares them: executed by `jupyter nbconvert --to notebook
--execute` (a real subprocess and kernel; it saves the widget state, as JupyterLab does with
"Save Widget State Automatically" on), then exported to HTML with nbconvert's lab or classic
template, and read back per cell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .lab import make_notebook

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# The CSS selectors of a code cell, of its input and of one output, in each template's HTML.
TEMPLATES = {
    "lab": ("div.jp-CodeCell", ".jp-InputArea", ".jp-OutputArea-output"),
    "classic": ("div.code_cell", ".input_area", ".output_area"),
}


def execute_notebook(path: Path, cells: Sequence[str], timeout: float = 240) -> dict[str, Any]:
    """Write `cells` to `path`, run `jupyter nbconvert --to notebook --execute --inplace` on it
    (cwd: its folder) and return the executed notebook as a dict."""
    path.write_text(json.dumps(make_notebook(cells), indent=1))
    proc = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--inplace"]
        + ["--ExecutePreprocessor.timeout=180", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if proc.returncode != 0:
        raise AssertionError(f"nbconvert --execute failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(path.read_text())


def export_html(notebook: Path | dict[str, Any], template: str) -> str:
    """nbconvert's HTML export (`jupyter nbconvert --to html [--template classic]`)."""
    import nbformat
    from nbconvert import HTMLExporter

    text = notebook.read_text() if isinstance(notebook, Path) else json.dumps(notebook)
    nb = nbformat.reads(text, as_version=4)  # joins the multi-line strings saved as lists
    html, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
    return html


def cell_outputs(html: str, template: str, source_marker: str) -> list[Any]:
    """The output elements (BeautifulSoup tags) of the one code cell whose source contains
    `source_marker`, in the exported HTML of `template`."""
    from bs4 import BeautifulSoup

    cell_selector, input_selector, output_selector = TEMPLATES[template]
    soup = BeautifulSoup(html, "html.parser")
    cells = [
        c
        for c in soup.select(cell_selector)
        if any(source_marker in i.get_text() for i in c.select(input_selector))
    ]
    if len(cells) != 1:
        raise AssertionError(f"{len(cells)} {template} cells contain {source_marker!r}, not 1")
    return cells[0].select(output_selector)
