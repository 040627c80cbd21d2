"""End to end: the VAE dashboard in real JupyterLab in headless Chromium.

A notebook starts a tiny digits VAE and shows `run.dashboard()`. Checked as a person would see
it: the dashboard renders without errors, the ELBO chart grows, the reconstructions show, the
latent scatter is drawn and re-drawn as training proceeds, and a click on one of its points
shows that image's decoding and makes it the interpolation's start. Then, with the run paused,
the folded latent-space section opens: its own candidate grid (the VAE has no latent explorer)
and one slider per semantic direction show, and a click on a candidate makes it sample A."""

from __future__ import annotations

import time

import pytest
from harness import (
    kernel_execute,
    number_attribute,
    open_notebook,
    run_all_cells,
    screenshot,
    wait_for_attribute,
    write_notebook,
)

pytestmark = pytest.mark.timeout(300)

CELLS = [
    "import genai_widgets as gw",
    "run = gw.train_vae(data='digits', image_size=16, width=8, batch_size=16, latent_dim=6,\n"
    "                   max_steps=None, sample_every=10, n_samples=16, run_dir='vae-e2e')\n"
    "d = run.dashboard()\n"
    "d",
]
SPACE = ".gw-vae-dashboard .gw-latent-space"


def test_vae_dashboard_renders_and_the_latent_scatter_updates(lab_server, browser_page):
    page = browser_page
    write_notebook(lab_server.root_dir / "vae.ipynb", CELLS)
    open_notebook(page, lab_server, "vae.ipynb")
    run_all_cells(page, timeout=180)
    page.locator(".gw-vae-dashboard").first.wait_for(state="visible", timeout=60_000)
    assert page.locator(".gw-error-area:visible").count() == 0

    # The curves: ELBO and its terms, appended as training goes on.
    first = wait_for_attribute(page, ".gw-loss", "data-points", lambda n: n > 0, what="points")
    wait_for_attribute(page, ".gw-loss", "data-points", lambda n: n > first + 5, what="growth")
    legend = page.locator(".gw-loss .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert {"elbo", "recon", "kl"} <= set(legend), legend

    # The reconstructions and the traversal are drawn from the current weights.
    recon = page.locator(".gw-recon-image").first
    recon.wait_for(state="visible", timeout=30_000)
    assert recon.evaluate("img => img.complete && img.naturalWidth > 0")
    wait_for_attribute(
        page, ".gw-traversal-panel", "data-dims", lambda n: n == 6, what="traversal rows"
    )

    # The latent scatter: drawn by plotly, then re-drawn with newer weights.
    scatter = ".gw-vae-dashboard .gw-scatter"
    wait_for_attribute(page, scatter, "data-points", lambda n: n > 100, what="scatter points")
    assert page.locator(f"{scatter} .main-svg").count() > 0
    assert page.locator(f"{scatter} .scatterlayer .point").count() > 100
    step = wait_for_attribute(page, scatter, "data-step", lambda n: n >= 0, what="scatter step")
    updates = number_attribute(page, scatter, "data-updates")
    wait_for_attribute(
        page, scatter, "data-step", lambda n: n > step, what="scatter step after training"
    )
    assert number_attribute(page, scatter, "data-updates") > updates
    screenshot(page, "vae-dashboard-jupyterlab")

    # A click on a point decodes it and makes it the interpolation's start (A).
    page.locator(".gw-pause").first.click()  # hold the points still under the mouse
    page.locator(".gw-status[data-status='paused']").first.wait_for(timeout=10_000)
    time.sleep(1.5)  # the last re-encoding lands
    point = page.locator(f"{scatter} .scatterlayer .point").nth(5)
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 20, y - 20)
    page.mouse.move(x, y, steps=5)  # plotly finds the point under the cursor on hover
    time.sleep(0.3)
    page.mouse.click(x, y)
    picked = wait_for_attribute(
        page, scatter, "data-picked", lambda n: n >= 0, timeout=20, what="pick"
    )
    page.locator(f"{scatter} .gw-picked").first.wait_for(state="visible", timeout=10_000)
    wait_for_attribute(
        page, ".gw-interp", "data-start", lambda n: n == picked, timeout=10, what="A"
    )
    screenshot(page, "vae-dashboard-picked")

    # The latent-space section (folded: nothing computed until opened), on the paused run.
    assert kernel_execute(page, "print(d.direction_variance)").strip() == "[]"
    page.locator(f"{SPACE} > summary").first.click()
    candidates = page.locator(f"{SPACE} .gw-latent-candidates").first
    candidates.wait_for(state="visible", timeout=60_000)
    wait_for_attribute(page, SPACE, "data-directions", lambda n: n == 6, 60, "directions")
    assert page.locator(f"{SPACE} .gw-direction-slider").count() == 6  # latent_dim 6
    candidates.evaluate(  # candidate 5 of the one-row grid of 8
        """el => { el.scrollIntoView({ block: "center" }); const r = el.getBoundingClientRect();
          el.dispatchEvent(new MouseEvent("click", { bubbles: true,
            clientX: r.left + 5.5 * r.width / 8, clientY: r.top + r.height / 2 })); }"""
    )
    mark = page.locator(f"{SPACE} .gw-latent-candidate-mark").first
    mark.wait_for(state="visible", timeout=10_000)
    assert mark.evaluate("m => m.style.left") == "62.5%"
    assert kernel_execute(page, "print(d.start_index)").strip().splitlines()[-1] == "5"
    assert page.locator(".gw-vae-dashboard .gw-error-area:visible").count() == 0
    screenshot(page, "vae-dashboard-latent-space", full_page=False)

    print("kernel says:", kernel_execute(page, "print(run.status, run.step, run.family.name)"))
    kernel_execute(page, "run.stop(); run.wait(10)")
