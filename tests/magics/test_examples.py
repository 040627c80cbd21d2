"""Every example notebook runs headless in a real kernel (nbclient), in a temporary copy so its
`runs/` land there, and its outputs contain the live dashboard widget. The notebooks are stored
clean: no outputs, and a kernelspec so JupyterLab opens them without a kernel picker."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_the_examples_exist():
    assert [p.name for p in EXAMPLES] == [
        "01_quickstart.ipynb",
        "02_custom_models.ipynb",
        "03_python_api.ipynb",
        "04_vae.ipynb",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_stored_clean_with_a_kernelspec(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"] == {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_executes_and_shows_the_dashboard(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on failure
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    views = [out for out in outputs if WIDGET_VIEW in out.get("data", {})]
    assert views, f"no dashboard widget in the outputs of {path.name}"
    assert any("Dashboard(" in out["data"].get("text/plain", "") for out in views)
    assert list((tmp_path / "runs").iterdir()), "the run directory is not under the notebook's cwd"
