"""End to end: the dashboard in real JupyterLab (and Notebook 7) in headless Chromium.

Runs a notebook that starts a tiny GAN and shows `run.dashboard()`, then checks what a person
sees: the chart grows, the samples change, pause stops the step counter and resume restarts
it, the latent explorer shows frames, and a reload redraws the curve at once. The same
dashboard on a torchrun job (`nproc=2`, a RemoteRun): the curve grows, Pause pauses every
rank, Stop ends every process. Screenshots go to test-artifacts/."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import pytest
from harness import (
    execute_command,
    kernel_execute,
    number_attribute,
    open_notebook,
    run_all_cells,
    screenshot,
    wait_for_attribute,
    write_notebook,
)

from genai_widgets.engine.remote import _pid_alive

pytestmark = pytest.mark.timeout(300)

CELLS = [
    "import genai_widgets as gw",
    "run = gw.train_gan(data='digits', image_size=16, width=8, batch_size=16, latent_dim=16,\n"
    "                   max_steps=None, sample_every=10, n_samples=16, run_dir='run-e2e')\n"
    "run.dashboard()",
]


def assert_static_picture_hidden(page, widgets: int = 1) -> None:
    """Each widget's static picture output is on the page (for viewers without a kernel) but
    hidden, with its output row, while the live widget shows: no duplicate picture."""
    picture = page.locator(".gw-static")
    picture.nth(widgets - 1).wait_for(state="attached", timeout=30_000)
    assert picture.locator("img").count() == widgets
    assert page.locator(".gw-static:visible").count() == 0
    row = page.locator(".jp-OutputArea-child", has=picture)
    assert (
        row.count() >= 1 and page.locator(".jp-OutputArea-child:visible", has=picture).count() == 0
    )


def test_dashboard_in_jupyterlab(lab_server, browser_page):
    page = browser_page
    write_notebook(lab_server.root_dir / "dashboard.ipynb", CELLS)
    open_notebook(page, lab_server, "dashboard.ipynb")
    run_all_cells(page, timeout=180)
    page.locator(".gw-dashboard").first.wait_for(state="visible", timeout=60_000)
    assert page.locator(".gw-error-area:visible").count() == 0
    assert_static_picture_hidden(page)

    # The chart's point count grows (appended, binary).
    first = wait_for_attribute(page, ".gw-loss", "data-points", lambda n: n > 0, what="points")
    wait_for_attribute(page, ".gw-loss", "data-points", lambda n: n > first + 5, what="growth")
    assert page.locator(".gw-loss .main-svg").count() > 0  # plotly drew it

    # The sample image changes.
    grid = page.locator(".gw-grid-image").first
    grid.wait_for(state="visible", timeout=30_000)
    version = int(grid.get_attribute("data-version") or 0)
    deadline = time.monotonic() + 60
    while int(grid.get_attribute("data-version") or 0) <= version:
        assert time.monotonic() < deadline, "the sample grid never changed"
        time.sleep(0.25)

    # The latent explorer shows its frames.
    wait_for_attribute(page, ".gw-explorer", "data-frames", lambda n: n == 8, what="frames")
    frames = page.locator(".gw-frames").first
    frames.wait_for(state="visible", timeout=30_000)
    assert frames.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator(".gw-explorer-follow").first.is_checked()  # follows training
    screenshot(page, "dashboard-jupyterlab")

    # Pause stops the step counter; resume restarts it.
    page.locator(".gw-pause").first.click()
    page.locator(".gw-status[data-status='paused']").first.wait_for(timeout=10_000)
    time.sleep(0.5)  # the step under way when the click landed may still complete
    paused_at = number_attribute(page, ".gw-step", "data-step")
    time.sleep(1.5)
    assert number_attribute(page, ".gw-step", "data-step") == paused_at
    assert page.locator(".gw-rate").first.inner_text() == "paused"  # no stale steps/s or ETA
    screenshot(page, "dashboard-paused")
    page.locator(".gw-resume").first.click()
    page.locator(".gw-status[data-status='running']").first.wait_for(timeout=10_000)
    wait_for_attribute(page, ".gw-step", "data-step", lambda n: n > paused_at, what="steps")

    # A refused value shows a message and leaves the run alone.
    page.locator(".gw-lr").first.fill("-1")
    page.locator(".gw-set-lr").first.click()
    feedback = page.locator(".gw-feedback[data-ok='false']").first
    feedback.wait_for(timeout=5_000)
    assert "refused" in feedback.inner_text()

    # A reload redraws the curve from the synced snapshot, before new points arrive.
    execute_command(page, "docmanager:save")
    time.sleep(1.0)
    page.reload()
    open_notebook(page, lab_server, "dashboard.ipynb", fresh_kernel=False)
    page.locator(".gw-dashboard").first.wait_for(state="visible", timeout=60_000)
    wait_for_attribute(
        page, ".gw-loss", "data-points", lambda n: n > first, timeout=20, what="points after reload"
    )
    assert_static_picture_hidden(page)  # the saved picture output is back, and hidden
    screenshot(page, "dashboard-reloaded")
    page.locator(".gw-pause").first.click()  # the reloaded view still steers the run
    try:
        page.locator(".gw-status[data-status='paused']").first.wait_for(timeout=15_000)
    finally:
        print("kernel says:", kernel_execute(page, "print(run.status, run.step)"))
    kernel_execute(page, "run.stop(); run.wait(10)")


def test_dashboard_in_notebook7(notebook_server, browser_page):
    page = browser_page
    # A second widget from another bundle: each hides its own picture.
    write_notebook(notebook_server.root_dir / "dashboard7.ipynb", [*CELLS, "gw.LossCurve(run)"])
    open_notebook(page, notebook_server, "dashboard7.ipynb")
    run_all_cells(page, timeout=180)
    page.locator(".gw-dashboard").first.wait_for(state="visible", timeout=60_000)
    first = wait_for_attribute(page, ".gw-loss", "data-points", lambda n: n > 0, what="points")
    wait_for_attribute(page, ".gw-loss", "data-points", lambda n: n > first, what="growth")
    page.locator(".gw-loss-curve").first.wait_for(state="visible", timeout=60_000)
    assert_static_picture_hidden(page, widgets=2)
    screenshot(page, "dashboard-notebook7")
    page.locator(".gw-stop").first.click()
    page.locator(".gw-status[data-status='stopped']").first.wait_for(timeout=15_000)


JOB_CELLS = [
    "import genai_widgets as gw",
    "job = gw.train_gan(data='digits', image_size=16, width=8, batch_size=16, latent_dim=16,\n"
    "                   max_steps=300, step_delay=0.05, sample_every=10, n_samples=16,\n"
    "                   nproc=2, run_dir='run-ddp')\n"
    "job.dashboard()",
]

JOB_PIDS = (
    "import json; print(json.dumps([job._process.pid, job.workers.get('launcher_pid'),\n"
    "                               *[r['pid'] for r in job.workers.get('ranks', [])]]))"
)


def _job_pids(page) -> list[int]:
    return [p for p in json.loads(kernel_execute(page, JOB_PIDS).strip()) if p]


def test_dashboard_of_a_torchrun_job(lab_server, browser_page):
    """A `nproc=2` job (a RemoteRun tailing the store rank 0 writes) in the same dashboard:
    the curve grows, the Pause button pauses every rank, the Stop button ends every process."""
    page = browser_page
    write_notebook(lab_server.root_dir / "job.ipynb", JOB_CELLS)
    open_notebook(page, lab_server, "job.ipynb")
    pids: list[int] = []
    try:
        run_all_cells(page, timeout=120)
        page.locator(".gw-dashboard").first.wait_for(state="visible", timeout=60_000)
        assert page.locator(".gw-error-area:visible").count() == 0
        assert "RemoteRun" in kernel_execute(page, "print(type(job).__name__)")

        # The curve grows from the rows rank 0 writes (averaged over both ranks).
        first = wait_for_attribute(
            page, ".gw-loss", "data-points", lambda n: n > 0, timeout=120, what="job points"
        )
        wait_for_attribute(
            page, ".gw-loss", "data-points", lambda n: n > first + 5, what="job growth"
        )
        wait_for_attribute(page, ".gw-step", "data-step", lambda n: n > 0, what="job step")
        pids = _job_pids(page)
        assert len(pids) >= 3, pids  # the launcher and two ranks
        screenshot(page, "dashboard-torchrun-job")

        # Pause: every rank stops at one step boundary, the step no longer grows.
        page.locator(".gw-pause").first.click()
        page.locator(".gw-status[data-status='paused']").first.wait_for(timeout=30_000)
        applied = kernel_execute(
            page, "print([c['applied_step'] for c in job.commands if c['command'] == 'pause'])"
        )
        (paused_at,) = json.loads(applied.strip())
        # the dashboard shows the step every rank paused at (the rows reach the store)
        wait_for_attribute(
            page, ".gw-step", "data-step", lambda n: n == paused_at, what="step paused at"
        )
        time.sleep(1.5)
        assert number_attribute(page, ".gw-step", "data-step") == paused_at
        assert page.locator(".gw-rate").first.inner_text() == "paused"
        screenshot(page, "dashboard-torchrun-paused")

        # Stop (from paused): every process of the tree ends.
        page.locator(".gw-stop").first.click()
        page.locator(".gw-status[data-status='stopped']").first.wait_for(timeout=60_000)
        print("kernel says:", kernel_execute(page, "print(job, job.commands)"))
        deadline = time.monotonic() + 30
        while any(_pid_alive(p) for p in pids):
            assert time.monotonic() < deadline, [p for p in pids if _pid_alive(p)]
            time.sleep(0.2)
    finally:
        # a failed test must not leave workers eating the next test's CPU
        with contextlib.suppress(Exception):
            kernel_execute(page, "job.kill(timeout=5)", timeout=20)
        for pid in pids:
            if _pid_alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
