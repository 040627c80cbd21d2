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
        "05_text.ipynb",
        "06_hmm.ipynb",
        "07_latent_space.ipynb",
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


#: CI's length for runs whose notebook leaves `--max-steps` to the environment (the quick
#: start's own default is a minute of training on a laptop CPU).
CI_MAX_STEPS = "60"
#: The same for the text notebook (its runs read `$GENAI_WIDGETS_TEXT_MAX_STEPS`).
CI_TEXT_MAX_STEPS = "30"
#: The same for the HMM notebook (its runs read `$GENAI_WIDGETS_HMM_MAX_ITERS`).
CI_HMM_MAX_ITERS = "5"


def test_the_quickstart_trains_long_enough_to_show_digits():
    """Readable digits appeared by step ~670 of the quick start's 16 x 16 model; its default
    must reach them, and leave the length to $GENAI_WIDGETS_MAX_STEPS (see CI_MAX_STEPS)."""
    import re

    nb = nbformat.read(EXAMPLES[0], as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    default = re.search(r'os\.environ\.setdefault\("GENAI_WIDGETS_MAX_STEPS", "(\d+)"\)', code)
    assert default is not None and int(default.group(1)) >= 700
    train_line = next(line for line in code.splitlines() if line.startswith("%gan_train"))
    assert "--max-steps" not in train_line  # a flag would win over the environment


def test_the_text_example_leaves_its_length_to_the_environment():
    """Every run of 05_text trains `STEPS`, read from $GENAI_WIDGETS_TEXT_MAX_STEPS (what
    %text_train reads too), so CI_TEXT_MAX_STEPS keeps it short."""
    import re

    nb = nbformat.read(EXAMPLES[4], as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert re.search(r'os\.environ\.setdefault\("GENAI_WIDGETS_TEXT_MAX_STEPS", "\d+"\)', code)
    assert code.count("gw.train_text(") == code.count("max_steps=STEPS") == 3
    magic = next(line for line in code.splitlines() if line.startswith("%%text_train"))
    assert "--max-steps" not in magic


def test_the_hmm_example_leaves_its_length_to_the_environment():
    """Every run of 06_hmm trains at most `ITERS` EM iterations, read from
    $GENAI_WIDGETS_HMM_MAX_ITERS, so CI_HMM_MAX_ITERS keeps it short."""
    import re

    nb = nbformat.read(EXAMPLES[5], as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert re.search(r'os\.environ\.setdefault\("GENAI_WIDGETS_HMM_MAX_ITERS", "\d+"\)', code)
    runs = code.count("gw.train_hmm(")
    assert runs == 2 and code.count("max_iters=ITERS") + code.count("max_iters=min(ITERS") == runs


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_executes_and_shows_the_dashboard(path, tmp_path, monkeypatch):
    monkeypatch.setenv("GENAI_WIDGETS_MAX_STEPS", CI_MAX_STEPS)  # the kernel inherits it
    monkeypatch.setenv("GENAI_WIDGETS_TEXT_MAX_STEPS", CI_TEXT_MAX_STEPS)
    monkeypatch.setenv("GENAI_WIDGETS_HMM_MAX_ITERS", CI_HMM_MAX_ITERS)
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
    if path == EXAMPLES[0]:  # the quick start took its length from the environment
        status = next(c for c in nb.cells if c.source.startswith("run.status, run.step"))
        assert status.outputs[0]["data"]["text/plain"].endswith(f", {CI_MAX_STEPS})")


WIDGET_CELLS = ("run.dashboard()", "gw.LossCurve(run)", "gw.SampleGrid(run)")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_saved_notebook_shows_curves_and_grid_without_a_kernel(tmp_path):
    """Executed as `jupyter nbconvert --to notebook --execute` does it (widget state saved),
    then exported with `jupyter nbconvert --to html`, lab and classic templates: each widget
    cell's output area shows its static picture, once. The same without widget state (as
    JupyterLab saves by default). An earlier version of this test executed with
    `store_widget_state=False` only: nbconvert then skips the widget view and finds the PNG in
    the same output, which hid that with saved state the export picks the widget view, which
    draws nothing without a kernel or a CDN, and drops the PNG."""
    import base64
    import io
    import itertools

    from harness.export import WIDGET_STATE, cell_outputs, execute_notebook, export_html
    from PIL import Image

    nb = execute_notebook(
        tmp_path / "saved.ipynb",
        [
            "import genai_widgets as gw\n"
            "run = gw.train_gan(data='digits', image_size=16, width=8, batch_size=16,\n"
            "                   latent_dim=16, max_steps=40, sample_every=10, run_dir='runs/r')\n"
            "run.wait(120)",
            *WIDGET_CELLS,
        ],
    )
    state = nb["metadata"]["widgets"][WIDGET_STATE]["state"]
    for cell in nb["cells"][1:]:
        # The widget's output, then its picture's: GitHub, which does not know the widget
        # view, shows the widget's text line and one picture (HTML or PNG, the same image).
        widget, picture = cell["outputs"]
        assert set(widget["data"]) == {WIDGET_VIEW, "text/plain"}
        assert widget["data"][WIDGET_VIEW]["model_id"] in state  # the case that drew nothing
        assert set(picture["data"]) == {"text/html", "image/png"}
        assert picture["data"]["image/png"] in "".join(picture["data"]["text/html"])
    no_state = {**nb, "metadata": {k: v for k, v in nb["metadata"].items() if k != "widgets"}}

    for notebook, template in itertools.product((nb, no_state), ("lab", "classic")):
        html = export_html(notebook, template)
        sizes = []
        for marker in WIDGET_CELLS:
            outputs = cell_outputs(html, template, marker)
            images = [img for out in outputs for img in out.select("img")]
            assert len(images) == 1, f"{template}: {len(images)} pictures under {marker}"
            src = images[0]["src"]
            assert src.startswith("data:image/png;base64,")
            img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
            # Not a blank placeholder: a plotted chart / sample grid has many distinct colours.
            assert len(img.convert("RGB").getcolors(1 << 20) or []) > 20
            sizes.append(img.width)
        dashboard, curve, grid = sizes
        assert dashboard > 600 and curve > 300 and grid > 100
