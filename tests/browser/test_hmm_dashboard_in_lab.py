"""End to end: the HMM dashboard in real JupyterLab in headless Chromium.

One notebook (opened once for the module, on the module's Lab server) fits two states to the
dishonest casino with three restarts, slowed to ~5 EM iterations a second and never
converging (tol=-1), and shows `run.dashboard()`. Checked as a person would see it: (a) the
dashboard renders with its panels and no error: the log-likelihood curves, the transition
heatmap beside the true one, the matched errors, the emissions and the leaderboard; (b) the
curves and the shown step grow while training runs (`run.step` read from the kernel); (c) the
step slider moves the heatmap back to an earlier iteration. A second cell fits three Gaussian
states to 2-D blobs: (d) its emissions are drawn as ellipses over the data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from harness import (
    console_log,
    kernel_execute,
    new_page,
    number_attribute,
    open_notebook,
    run_all_cells,
    screenshot,
    wait_for_attribute,
    write_notebook,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(300)

CELLS = [
    "import genai_widgets as gw",
    "run = gw.train_hmm(data='casino', n_states=2, restarts=3, max_iters=None, tol=-1.0,\n"
    "                   step_delay=0.2, run_dir='hmm-e2e')\n"
    "run.dashboard()",
    "import numpy as np\n"
    "rs = np.random.RandomState(0)\n"
    "centres = np.array([[0, 0], [4, 0], [2, 3]])\n"
    "blobs = [centres[np.repeat(rs.randint(3, size=10), 10)] + rs.randn(100, 2) * 0.4\n"
    "         for _ in range(20)]\n"
    "g = gw.train_hmm(data=blobs, n_states=3, emission='gaussian', init='kmeans', restarts=4,\n"
    "                 max_iters=5, run_dir='hmm-gaussian-e2e')\n"
    "g.dashboard()",
]
PANELS = (".gw-controls", ".gw-loss", ".gw-hmm-snapshot")
DASH = ":nth-match(.gw-hmm-dashboard, 1)"
GAUSSIAN = ":nth-match(.gw-hmm-dashboard, 2) .gw-hmm-snapshot"
SNAP = f"{DASH} .gw-hmm-snapshot"


@pytest.fixture(scope="module")
def hmm_page(chromium_browser, lab_server) -> Iterator[Page]:
    """The notebook above, run once; the run is stopped and the kernel shut down afterwards."""
    page = new_page(chromium_browser)
    try:
        write_notebook(lab_server.root_dir / "hmm.ipynb", CELLS)
        open_notebook(page, lab_server, "hmm.ipynb")
        run_all_cells(page, timeout=180)
        page.locator(DASH).first.wait_for(state="visible", timeout=60_000)
        page.locator(GAUSSIAN).first.wait_for(state="visible", timeout=60_000)
        yield page
    finally:
        try:
            kernel_execute(page, "run.stop(); run.wait(10)")
        except Exception as error:  # the page may be gone
            print(f"(could not stop the run: {error})")
        page.context.close()
        lab_server.shutdown_sessions()


@pytest.fixture(autouse=True)
def _diagnose(request: pytest.FixtureRequest, hmm_page: Page) -> Iterator[None]:
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"screenshot: {screenshot(hmm_page, 'FAILED-' + request.node.name)}")
        print("--- browser console (last 50) ---")
        print("\n".join(console_log(hmm_page)[-50:]))


def kernel_number(page: Page, expression: str) -> float:
    return float(kernel_execute(page, f"print({expression})").strip().splitlines()[-1])


def test_a_hmm_dashboard_renders(hmm_page):
    page = hmm_page
    for panel in PANELS:
        page.locator(f"{DASH} {panel}").first.wait_for(state="visible", timeout=30_000)
    assert page.locator(".gw-error-area:visible").count() == 0

    # The curves: train and held-out log-likelihood per symbol; the rest hidden until clicked.
    wait_for_attribute(page, f"{DASH} .gw-loss", "data-points", lambda n: n > 0, 60)
    legend = page.locator(f"{DASH} .gw-loss .legendtext").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert {"log_likelihood", "val_log_likelihood"} <= set(legend), legend

    # The heatmap of the learned transitions (2 x 2), the true one beside it, the errors.
    wait_for_attribute(page, SNAP, "data-step", lambda n: n >= 1, 60, "first snapshot")
    model = page.locator(f"{SNAP} .gw-hmm-heatmap-model").first
    model.wait_for(state="visible", timeout=30_000)
    assert model.locator(".gw-hmm-cell").count() == 4
    truth = page.locator(f"{SNAP} .gw-hmm-heatmap-truth").first
    assert truth.is_visible() and truth.locator(".gw-hmm-cell").count() == 4
    cells = truth.locator(".gw-hmm-cell").evaluate_all("els => els.map(e => e.textContent)")
    assert sorted(cells) == ["0.05", "0.10", "0.90", "0.95"], cells
    assert "after matching" in page.locator(f"{SNAP} .gw-hmm-errors").first.inner_text()
    # Emissions per state (top symbols of the die) and the restarts' leaderboard.
    assert page.locator(f"{SNAP} .gw-hmm-emission-row").count() == 2
    assert page.locator(f"{SNAP} .gw-hmm-symbol").count() == 10
    assert number_attribute(page, f"{SNAP} .gw-hmm-leaderboard", "data-rows") == 3
    assert page.locator(f"{SNAP} .gw-hmm-board tr").count() == 4  # a header and 3 restarts
    assert page.locator(f"{SNAP} .gw-hmm-sample").first.inner_text().strip()
    # The held-out passage: the posterior ribbon, and each roll coloured by its Viterbi state.
    assert number_attribute(page, f"{SNAP} .gw-hmm-ribbon-box", "data-symbols") == 80
    assert page.locator(f"{SNAP} canvas.gw-hmm-ribbon").first.is_visible()
    assert page.locator(f"{SNAP} .gw-hmm-passage-symbol").count() == 80
    screenshot(page, "hmm-dashboard-jupyterlab")


def test_b_curves_and_step_grow_while_training(hmm_page):
    page = hmm_page
    points = number_attribute(page, f"{DASH} .gw-loss", "data-points")
    step = wait_for_attribute(page, SNAP, "data-step", lambda n: n >= 1, 60, "a snapshot")
    later = wait_for_attribute(page, SNAP, "data-step", lambda n: n > step + 2, 60, "later")
    assert later > step
    wait_for_attribute(page, f"{DASH} .gw-loss", "data-points", lambda n: n > points, 60)
    assert kernel_execute(page, "print(run.status)").strip() == "running"
    assert kernel_number(page, "run.step") >= later


def test_c_slider_shows_an_earlier_iteration(hmm_page):
    page = hmm_page
    wait_for_attribute(page, SNAP, "data-count", lambda n: n >= 3, 60, "three snapshots")
    slider = page.locator(f"{SNAP} .gw-hmm-slider").first
    slider.evaluate(
        "el => { el.value = '0'; el.dispatchEvent(new Event('input', { bubbles: true })); }"
    )
    wait_for_attribute(page, SNAP, "data-step", lambda n: n == 1, 30, "the first iteration")
    caption = page.locator(f"{SNAP} .gw-hmm-figure figcaption").first.inner_text()
    assert "step 1 " in caption, caption
    assert not page.locator(f"{SNAP} input[type=checkbox]").first.is_checked()
    screenshot(page, "hmm-dashboard-scrubbed", full_page=False)


def test_d_gaussian_states_are_drawn_as_ellipses_over_the_data(hmm_page):
    page = hmm_page
    wait_for_attribute(page, GAUSSIAN, "data-step", lambda n: n >= 5, 60, "the last iteration")
    plot = page.locator(f"{GAUSSIAN} svg.gw-hmm-ellipses").first
    plot.wait_for(state="visible", timeout=30_000)
    assert number_attribute(page, f"{GAUSSIAN} svg.gw-hmm-ellipses", "data-dimensions") == 2
    assert plot.locator("ellipse.gw-hmm-ellipse").count() == 6  # 1 and 2 sigma, 3 states
    assert plot.locator("circle").count() == 300 + 3  # the data's points and the 3 means
    assert page.locator(f"{GAUSSIAN} .gw-hmm-emission-row").count() == 3
    plot.scroll_into_view_if_needed()
    screenshot(page, "hmm-gaussian-ellipses", full_page=False)
