"""An outside family in a real ipykernel, as a notebook uses it: import the example family
(`examples/gmm_family.py`), train it in the background, display the shared dashboard; then the
magics derived from its config (`%gmm_train`) and `%runs`. One kernel for the module."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from family_helpers import EXAMPLE
from harness import KernelSession

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(240)]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
REPO = EXAMPLE.parents[1]


@pytest.fixture(scope="module")
def gmm_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KernelSession, Path]]:
    """A started kernel (PYTHONPATH: this tree first) with the example family imported."""
    cwd = tmp_path_factory.mktemp("kernel")
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    session = KernelSession(cwd=cwd, env={"PYTHONPATH": path}).start()
    try:
        r = session.execute(
            textwrap.dedent(
                f"""
                import sys
                sys.path.insert(0, {str(EXAMPLE.parent)!r})  # the family's file, beside the notebook
                import genai_widgets as gw
                from gmm_family import GMMConfig, GMMFamily
                print(gw.__file__)
                """
            ),
            timeout=120,
        )
        assert r.stdout.strip().startswith(str(REPO)), r.stdout
        yield session, cwd
    finally:
        session.shutdown()


def test_an_outside_family_trains_in_the_background_with_the_shared_dashboard(gmm_kernel):
    kernel, cwd = gmm_kernel
    started = time.monotonic()
    r = kernel.execute(
        textwrap.dedent(
            f"""
            run = gw.build_run(GMMConfig(max_steps=60, step_delay=0.02,
                                         run_dir={str(cwd / "dash")!r})).start()
            dash = run.dashboard()
            display(dash)
            """
        ),
        timeout=60,
    )
    took = time.monotonic() - started
    # The cell returned while training goes on (60 steps take at least 60 x 0.02 s).
    assert kernel.evaluate("run.status") == "'running'", took
    assert kernel.evaluate("isinstance(dash, gw.RunDashboard)") == "True"
    bundles = [d for d in r.data if WIDGET_VIEW in d]
    assert bundles, f"no widget view displayed: {r.data}"
    model_id = bundles[0][WIDGET_VIEW]["model_id"]
    assert model_id in kernel.widget_comm_ids("AnyModel")
    pictures = [d for d in r.data if "image/png" in d]
    assert pictures and "gw-static-" in pictures[0]["text/html"], "no static picture output"
    assert kernel.evaluate("run.wait(60)") == "'finished'"
    # The trainer's last line lands in the cell that started the run.
    kernel.wait_for_stream("finished at step 60", msg_id=r.msg_id, timeout=30)
    assert kernel.evaluate("run.step, run.sample(16).shape") == "(60, torch.Size([16, 2]))"
    assert kernel.evaluate("dash.curve_columns") == "['step', 'nll', 'components_used', 'lr']"
    assert kernel.evaluate("dash.samples_enabled") == "False"
    kernel.execute("dash.close()")


def test_the_magics_train_and_list_an_outside_family(gmm_kernel):
    kernel, cwd = gmm_kernel
    kernel.execute("%load_ext genai_widgets")
    r = kernel.execute(
        f"%gmm_train --max-steps 40 --components 4 --run-dir {cwd / 'magic'} --as g", timeout=60
    )
    assert [d for d in r.data if WIDGET_VIEW in d], "%gmm_train displays the dashboard"
    assert kernel.evaluate("g.wait(60)") == "'finished'"
    assert kernel.evaluate("type(g.family).__name__, g.step, g.config.components") == (
        "('GMMFamily', 40, 4)"
    )
    r = kernel.execute("%runs")
    table = "\n".join(d.get("text/plain", "") for d in r.data)
    row = next((line for line in table.splitlines() if " g " in f" {line} "), "")
    # Listed with its own metrics as the headline (the table's columns are every family's).
    assert "finished" in row and "nll " in row, f"%runs does not list g:\n{table}"
    help_text = kernel.execute("%gmm_train --help").stdout
    assert "--components" in help_text and "mixture components" in help_text
