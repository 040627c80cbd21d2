"""Test harness: a real ipykernel, and real JupyterLab / Notebook 7 in headless Chromium.

Import it as ``harness`` (``tests/conftest.py`` puts ``tests/`` on ``sys.path``). Kernel-level
test, with the function-scoped ``kernel`` fixture (a started `KernelSession`)::

    def test_thread_output(kernel):
        r = kernel.execute("import genai_widgets as gw; run = gw.train_gan(max_steps=5)")
        kernel.wait_for_stream("finished", msg_id=r.msg_id, timeout=30)   # thread output
        slider = kernel.widget_comm_ids("IntSliderModel")[0]
        kernel.send_widget_update(slider, {"value": 7})                   # a "frontend" edit
        assert kernel.evaluate("run.status") == "'finished'"

Browser test (fixtures ``lab_server`` / ``notebook_server`` / ``browser_page`` from
``tests/browser/conftest.py``)::

    from harness import open_notebook, run_all_cells, screenshot, wait_for_text, write_notebook

    def test_dashboard(lab_server, browser_page):
        write_notebook(lab_server.root_dir / "d.ipynb", ["import genai_widgets as gw", "..."])
        open_notebook(browser_page, lab_server, "d.ipynb")
        run_all_cells(browser_page)
        wait_for_text(browser_page, "loss_d", timeout=30)
        screenshot(browser_page, "dashboard")       # -> test-artifacts/dashboard.png

A notebook as it is shared (``harness.export``): `execute_notebook` runs ``jupyter nbconvert
--to notebook --execute``, `export_html` exports it with the lab or classic template, and
`cell_outputs` finds one cell's outputs in that HTML.
"""

from .kernel import ExecResult, KernelError, KernelSession, KernelTimeout
from .lab import (
    ARTIFACTS_DIR,
    BROWSER_DEPS_SCRIPT,
    CHROMIUM_ARGS,
    KERNELSPEC,
    OUTPUTS,
    BrowserTimeout,
    JupyterServer,
    cell_outputs_text,
    chromium_executable,
    console_log,
    execute_command,
    kernel_execute,
    launch_browser,
    make_notebook,
    new_page,
    number_attribute,
    open_notebook,
    run_all_cells,
    screenshot,
    server_command,
    start_server,
    wait_for_attribute,
    wait_for_kernel_idle,
    wait_for_text,
    write_notebook,
)

__all__ = [
    "ARTIFACTS_DIR",
    "BROWSER_DEPS_SCRIPT",
    "CHROMIUM_ARGS",
    "KERNELSPEC",
    "OUTPUTS",
    "BrowserTimeout",
    "ExecResult",
    "JupyterServer",
    "KernelError",
    "KernelSession",
    "KernelTimeout",
    "cell_outputs_text",
    "chromium_executable",
    "console_log",
    "execute_command",
    "kernel_execute",
    "launch_browser",
    "make_notebook",
    "new_page",
    "open_notebook",
    "run_all_cells",
    "screenshot",
    "server_command",
    "start_server",
    "wait_for_kernel_idle",
    "wait_for_text",
    "wait_for_attribute",
    "number_attribute",
    "write_notebook",
]
