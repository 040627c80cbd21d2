"""End to end: the text dashboard in real JupyterLab in headless Chromium.

One notebook (opened once for the module, on the module's Lab server) starts a tiny char-gpt
on a few kB of the package's own source, slowed to ~20 steps/s, and shows `run.dashboard()`.
Checked as a person would see it: (a) the dashboard renders with all its panels and no
error; (b) the sample strip changes as steps pass; (c) a typed prompt plus Generate shows new
text while `run.step` keeps increasing (read from the kernel), and a character outside the
vocabulary shows its one-line error in the panel."""

from __future__ import annotations

import time
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
    "import inspect\nimport genai_widgets as gw\nimport genai_widgets.engine.run as source\n"
    "text = inspect.getsource(source)[:8000]",
    "run = gw.train_text(data=text, n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=8,\n"
    "                    max_steps=None, eval_every=10, sample_every=10, sample_tokens=60,\n"
    "                    step_delay=0.05, run_dir='text-e2e')\n"
    "run.dashboard()",
]
PANELS = (
    ".gw-controls",
    ".gw-loss",
    ".gw-text-strip",
    ".gw-steer",
    ".gw-memorisation",
    ".gw-surprisal",
    ".gw-attention",
)
DASH = ".gw-text-dashboard"


@pytest.fixture(scope="module")
def text_page(chromium_browser, lab_server) -> Iterator[Page]:
    """The notebook above, run once; the run is stopped and the kernel shut down afterwards."""
    page = new_page(chromium_browser)
    try:
        write_notebook(lab_server.root_dir / "text.ipynb", CELLS)
        open_notebook(page, lab_server, "text.ipynb")
        run_all_cells(page, timeout=180)
        page.locator(DASH).first.wait_for(state="visible", timeout=60_000)
        yield page
    finally:
        try:
            kernel_execute(page, "run.stop(); run.wait(10)")
        except Exception as error:  # the page may be gone
            print(f"(could not stop the run: {error})")
        page.context.close()
        lab_server.shutdown_sessions()


@pytest.fixture(autouse=True)
def _diagnose(request: pytest.FixtureRequest, text_page: Page) -> Iterator[None]:
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"screenshot: {screenshot(text_page, 'FAILED-' + request.node.name)}")
        print("--- browser console (last 50) ---")
        print("\n".join(console_log(text_page)[-50:]))


def kernel_number(page: Page, expression: str) -> float:
    return float(kernel_execute(page, f"print({expression})").strip().splitlines()[-1])


def test_a_text_dashboard_renders(text_page):
    page = text_page
    for panel in PANELS:
        page.locator(f"{DASH} {panel}").first.wait_for(state="visible", timeout=30_000)
    assert page.locator(".gw-error-area:visible").count() == 0

    # The curves, in bits per character, grow; the loss in nats is hidden until clicked.
    first = wait_for_attribute(page, f"{DASH} .gw-loss", "data-points", lambda n: n > 0)
    wait_for_attribute(page, f"{DASH} .gw-loss", "data-points", lambda n: n > first + 5)
    legend = page.locator(f"{DASH} .gw-loss .legendtext").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert {"bpc", "val_bpc"} <= set(legend), legend
    # The baselines: dashed lines with labels.
    wait_for_attribute(page, f"{DASH} .gw-loss", "data-baselines", lambda n: n >= 5, 60)
    labels = page.locator(f"{DASH} .gw-loss .annotation-text").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert any(t.startswith("kn5 ") for t in labels), labels

    # The surprisal view: one coloured span per character, hover shows the top 5.
    wait_for_attribute(page, f"{DASH} .gw-surprisal", "data-tokens", lambda n: n > 10, 60)
    char = page.locator(f"{DASH} .gw-surprisal .gw-char").nth(5)
    char.hover()
    tip = page.locator(f"{DASH} .gw-surprisal-tip")
    tip.wait_for(state="visible", timeout=10_000)
    assert "rank" in tip.inner_text() and "%" in tip.inner_text()

    # The attention heatmap on a canvas, with a layer and head picker.
    wait_for_attribute(page, f"{DASH} .gw-attention", "data-draws", lambda n: n >= 1, 60)
    assert page.locator(f"{DASH} .gw-attention-canvas").first.is_visible()
    assert page.locator(f"{DASH} .gw-attention-head option").count() == 2
    screenshot(page, "text-dashboard-jupyterlab")


def test_b_sample_strip_changes_as_steps_pass(text_page):
    page = text_page
    strip = f"{DASH} .gw-text-strip"
    step = wait_for_attribute(page, strip, "data-step", lambda n: n >= 1, 60, "first sample")
    before = page.locator(f"{strip} .gw-strip-text").first.inner_text()
    later = wait_for_attribute(page, strip, "data-step", lambda n: n > step, 60, "a later sample")
    assert later > step
    after = page.locator(f"{strip} .gw-strip-text").first.inner_text()
    assert after and after != before
    assert number_attribute(page, strip, "data-count") >= 2
    prompt = page.locator(f"{strip} .gw-prompt").first.inner_text()
    assert prompt and after.startswith(prompt)
    page.locator(f"{DASH} .gw-controls").first.scroll_into_view_if_needed()
    screenshot(page, "text-dashboard-strip", full_page=False)
    # The memorisation meter follows the strip.
    wait_for_attribute(page, f"{DASH} .gw-memorisation", "data-points", lambda n: n >= 2, 30)


def test_c_generate_answers_while_training_goes_on(text_page):
    page = text_page
    steer = f"{DASH} .gw-steer"
    step_before = kernel_number(page, "run.step")
    page.locator(f"{steer} .gw-gen-prompt").fill("def ")
    page.locator(f"{steer} .gw-gen-length").fill("80")
    page.locator(f"{steer} .gw-generate").click()
    page.locator(f"{steer}[data-state='done']").wait_for(timeout=30_000)
    output = page.locator(f"{steer} .gw-gen-output").inner_text()
    assert output.startswith("def ") and len(output) == 84, output
    assert page.locator(f"{steer} .gw-gen-output .gw-prompt").inner_text() == "def "
    answered_at = number_attribute(page, steer, "data-step")
    assert answered_at >= step_before
    # Training went on meanwhile and goes on after the answer.
    step_after = kernel_number(page, "run.step")
    assert kernel_execute(page, "print(run.status)").strip() == "running"
    assert step_after > step_before
    deadline = time.monotonic() + 30
    while kernel_number(page, "run.step") <= step_after:
        assert time.monotonic() < deadline, f"run.step stuck at {step_after}"
        page.wait_for_timeout(200)

    # A character the char tokenizer never saw: its one-line error in the panel.
    page.locator(f"{steer} .gw-gen-prompt").fill("def \u4e2d")
    page.locator(f"{steer} .gw-generate").click()
    page.locator(f"{steer}[data-state='error']").wait_for(timeout=30_000)
    error = page.locator(f"{steer} .gw-gen-error").inner_text()
    assert "\u4e2d" in error and "tokenizer='byte'" in error
    screenshot(page, "text-dashboard-generate")
