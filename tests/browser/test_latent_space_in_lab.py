"""End to end: the GAN dashboard's latent-space section in real JupyterLab in headless Chromium.

A tiny GAN trains on the digits while the section is opened (nothing is computed before).
Checked as a person would use it: the semantic directions appear as sliders; with "follow
training" off, moving slider 1 redraws sample A moved along it (and the moved picture differs
from A); clicking two real images shows their projections and an interpolation between them;
the candidates' nearest training images come with distances and a copy rate."""

from __future__ import annotations

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
    "run = gw.train_gan(data='digits', image_size=16, width=8, batch_size=16, latent_dim=16,\n"
    "                   max_steps=None, sample_every=10, n_samples=16, step_delay=0.05,\n"
    "                   run_dir='latent-space-e2e')\n"
    "d = run.dashboard()\n"
    "d",
]
SPACE = ".gw-dashboard .gw-latent-space"


def image_version(page, selector: str) -> int:
    return int(page.locator(selector).first.get_attribute("data-version") or 0)


def click_cell(page, selector: str, index: int, columns: int) -> None:
    """Click the middle of cell `index` of a one-row grid image of `columns` images."""
    page.locator(selector).first.evaluate(
        """(el, [index, columns]) => {
          el.scrollIntoView({ block: "center" });
          const r = el.getBoundingClientRect();
          el.dispatchEvent(new MouseEvent("click", { bubbles: true,
            clientX: r.left + (index + 0.5) * r.width / columns, clientY: r.top + r.height / 2 }));
        }""",
        [index, columns],
    )


def test_latent_space_views_follow_the_user(lab_server, browser_page):
    page = browser_page
    write_notebook(lab_server.root_dir / "latent_space.ipynb", CELLS)
    open_notebook(page, lab_server, "latent_space.ipynb")
    try:
        run_all_cells(page, timeout=180)
        page.locator(SPACE).first.wait_for(state="attached", timeout=60_000)
        assert kernel_execute(page, "print(d.direction_variance)").strip() == "[]"  # folded
        page.locator(f"{SPACE} > summary").first.click()

        # The directions: one slider each, variance shares in their names.
        wait_for_attribute(page, SPACE, "data-directions", lambda n: n == 8, 120, "directions")
        assert page.locator(f"{SPACE} .gw-direction-slider").count() == 8
        first_name = page.locator(f"{SPACE} .gw-direction-name").first.inner_text()
        assert first_name.startswith("direction 1 (") and first_name.endswith("%)"), first_name

        # Frozen weights, then slider 1 to +3 sigma: the moved picture is redrawn.
        follow = page.locator(".gw-dashboard .gw-explorer-follow").first
        if follow.is_checked():
            follow.click()
        moved = f"{SPACE} .gw-direction-moved"
        page.locator(moved).first.wait_for(state="visible", timeout=60_000)
        before = image_version(page, moved)
        page.locator(f"{SPACE} .gw-direction-slider").first.evaluate(
            "el => { el.value = '3'; el.dispatchEvent(new Event('input', { bubbles: true })); }"
        )
        wait_for_attribute(page, moved, "data-version", lambda n: n > before, 60, "redrawn")
        assert kernel_execute(page, "print(d.direction_offsets[0])").strip() == "3.0"
        change = kernel_execute(
            page,
            "import io, numpy as np, PIL.Image\n"
            "a = np.asarray(PIL.Image.open(io.BytesIO(d.direction_moved_png)).convert('L'), int)\n"
            "w = a.shape[1] // 2\n"
            "print(np.abs(a[:, :w] - a[:, w:2 * w]).mean())",
        )
        assert float(change.strip().splitlines()[-1]) > 0.5, change  # A moved is not A

        # Two real images: their projections and the interpolation between them.
        real = f"{SPACE} .gw-real-images"
        page.locator(real).first.wait_for(state="visible", timeout=60_000)
        count = number_attribute_js(page, "d.real_count")
        click_cell(page, real, 0, count)
        click_cell(page, real, 3, count)
        try:
            wait_for_attribute(
                page, SPACE, "data-projections", lambda n: n == 2, 120, "projections"
            )
        except AssertionError:
            state = "print(d.real_start, d.real_end, repr(d.latent_busy), repr(d.latent_error))"
            print("latent state:", kernel_execute(page, state))
            print("error areas:", page.locator(".gw-error-area").all_inner_texts())
            raise
        page.locator(f"{SPACE} .gw-real-frames").first.wait_for(state="visible", timeout=60_000)
        picked = kernel_execute(page, "print(d.real_start, d.real_end)").split()
        assert picked == ["0", "3"], picked
        assert "projection error" in page.locator(f"{SPACE} .gw-real-info").first.inner_text()

        # The candidates' nearest training images, with distances and the copy rate.
        wait_for_attribute(page, SPACE, "data-neighbours", lambda n: n == 8, 120, "neighbours")
        info = page.locator(f"{SPACE} .gw-neighbour-info").first.inner_text()
        assert "copy rate" in info, info
        assert page.locator(".gw-dashboard .gw-error-area:visible").count() == 0
        assert number_attribute(page, SPACE, "data-directions") == 8
        page.locator(SPACE).first.scroll_into_view_if_needed()
        screenshot(page, "latent-space-jupyterlab", full_page=False)
    finally:
        kernel_execute(page, "run.stop(); run.wait(10)")
        lab_server.shutdown_sessions()


def number_attribute_js(page, expression: str) -> int:
    return int(kernel_execute(page, f"print({expression})").strip().splitlines()[-1])
