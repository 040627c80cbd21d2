"""Take the README's dashboard screenshot from a real, trained run in real JupyterLab.

Trains the default model on the offline digits inside a JupyterLab kernel, shows
`run.dashboard()`, waits in headless Chromium until the run has finished, moves the sample
grid to its last snapshot and photographs the dashboard:

    python tools/screenshot.py                      # GAN -> docs/dashboard.png
    python tools/screenshot.py --family vae         # VAE -> docs/vae_dashboard.png
    python tools/screenshot.py --family text        # text -> docs/text_dashboard.png
    python tools/screenshot.py --family hmm         # HMM (casino) -> docs/hmm_dashboard.png
    python tools/screenshot.py --steps 1500 --out /tmp/shot.png

The default DCGAN (32 x 32, width 64) made 2.9 steps/s on a 2-core CPU with JupyterLab and
Chromium beside it. Its digits are recognisable but blurry at step 1,200 (7 minutes there) and
clearer by step 2,000: the GAN's default of 2,000 steps takes about 12 minutes on that CPU
(17 minutes measured while other jobs shared the cores; far less on a GPU). The VAE's default
of 3,000 steps took 4.5 minutes on the same CPU (12.8 steps/s).

Needs what the browser tests need (`bash scripts/install.sh --test`: playwright and the OS
Chromium). It reuses their harness (tests/harness/lab.py): JupyterLab on 127.0.0.1 with no
token and private settings, Chromium with the container-safe flags. Not run by CI; the tests
take their own quick screenshots into test-artifacts/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FAMILIES = {
    # family: (default steps, default output, the dashboard's CSS class, the cell's code)
    "gan": (
        2000,
        ROOT / "docs" / "dashboard.png",
        ".gw-dashboard",
        "import genai_widgets as gw\n"
        "run = gw.train_gan(data='digits', max_steps={steps}, name='digits-dcgan',\n"
        "                   run_dir='runs/digits-dcgan')\n"
        "run.dashboard()",
    ),
    "vae": (
        3000,
        ROOT / "docs" / "vae_dashboard.png",
        ".gw-vae-dashboard",
        "import genai_widgets as gw\n"
        "run = gw.train_vae(data='digits', latent_dim=16, beta_warmup=500, max_steps={steps},\n"
        "                   name='digits-vae', run_dir='runs/digits-vae')\n"
        "run.dashboard()",
    ),
    "text": (
        1500,
        ROOT / "docs" / "text_dashboard.png",
        ".gw-text-dashboard",
        "import genai_widgets as gw\n"
        "run = gw.train_text(data='python-docs', max_steps={steps}, name='python-docs-gpt',\n"
        "                    run_dir='runs/python-docs-gpt')\n"
        "run.dashboard()",
    ),
    "hmm": (
        200,
        ROOT / "docs" / "hmm_dashboard.png",
        ".gw-hmm-dashboard",
        "import genai_widgets as gw\n"
        "run = gw.train_hmm(data='casino', n_states=2, restarts=10, max_iters={steps},\n"
        "                   name='casino-hmm', run_dir='runs/casino-hmm')\n"
        "run.dashboard()",
    ),
}

DONE = ("finished", "stopped", "failed")

# JS: move the sample grid's slider to its last snapshot, as a person dragging it would.
_LAST_SNAPSHOT_JS = """(slider) => {
  slider.value = slider.max;
  slider.dispatchEvent(new Event('input', { bubbles: true }));
  return Number(slider.max);
}"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--family", choices=sorted(FAMILIES), default="gan")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps (default: 2000 for the GAN, 12-17 min on a 2-core CPU; "
        "3000 for the VAE, about 4-5 min)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="PNG to write (default: docs/dashboard.png, docs/vae_dashboard.png or "
        "docs/text_dashboard.png)",
    )
    parser.add_argument("--width", type=int, default=1280, help="browser viewport width")
    parser.add_argument(
        "--height", type=int, default=1200, help="browser viewport height (grown to fit)"
    )
    parser.add_argument(
        "--whole-page", action="store_true", help="photograph the whole JupyterLab window"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="give up after this many seconds of training"
    )
    return parser.parse_args(argv)


def _notebook_cells(family: str, steps: int) -> list[str]:
    return [FAMILIES[family][3].format(steps=steps)]


def _attr(page, selector: str, name: str) -> str | None:
    loc = page.locator(selector)
    return loc.first.get_attribute(name) if loc.count() else None


def _wait_until_done(page, steps: int, timeout: float) -> str:
    """Poll the dashboard's status badge and step counter until the run ends; print progress."""
    t0 = time.monotonic()
    last_print = -1e9
    status = "?"
    while True:
        status = _attr(page, ".gw-status", "data-status") or "?"
        step = _attr(page, ".gw-step", "data-step") or "0"
        now = time.monotonic()
        if status in DONE or now - last_print >= 15:
            elapsed = now - t0
            rate = int(step) / elapsed if elapsed > 0 else 0.0
            print(
                f"  {elapsed:6.0f} s  step {step:>5}/{steps}  {status}  ({rate:.1f} steps/s)",
                flush=True,
            )
            last_print = now
        if status in DONE:
            return status
        if now - t0 > timeout:
            raise TimeoutError(f"the run did not finish within {timeout:.0f} s (step {step})")
        time.sleep(1.0)


def _pick_scatter_point(page, dashboard: str, index: int = 5) -> None:
    """Click one point of the VAE's latent scatter, as the browser test does: its decoding
    shows, and it becomes the interpolation's start. Best effort: the picture is taken
    anyway."""
    point = page.locator(f"{dashboard} .gw-scatter .scatterlayer .point").nth(index)
    try:
        point.scroll_into_view_if_needed(timeout=10_000)
        box = point.bounding_box()
        if box is None:
            return
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x - 20, y - 20)
        page.mouse.move(x, y, steps=5)  # plotly finds the point under the cursor on hover
        time.sleep(0.3)
        page.mouse.click(x, y)
        page.locator(f"{dashboard} .gw-scatter .gw-picked").first.wait_for(
            state="visible", timeout=10_000
        )
        time.sleep(1.0)
        print("picked a point of the latent scatter", flush=True)
    except Exception as error:  # noqa: BLE001 - a missed click leaves the rest of the picture
        print(f"(no scatter point picked: {error})", flush=True)


def take(
    family: str = "gan",
    steps: int | None = None,
    out: Path | None = None,
    width: int = 1280,
    height: int = 1200,
    whole_page: bool = False,
    timeout: float | None = None,
) -> Path:
    """Train, wait, photograph; returns the PNG's path."""
    import os

    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from harness.lab import launch_browser, new_page, open_notebook, start_server, write_notebook
    from playwright.sync_api import sync_playwright

    default_steps, default_out, dashboard, _ = FAMILIES[family]
    steps = steps or default_steps
    out = (out or default_out).resolve()
    timeout = timeout or max(600.0, steps * 1.0)
    # The kernel imports this checkout's package, whatever is installed.
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gw-screenshot-") as tmp:
        root = Path(tmp)
        write_notebook(root / "dashboard.ipynb", _notebook_cells(family, steps))
        print(f"starting JupyterLab in {root}", flush=True)
        server = start_server("lab", root, env={"PYTHONPATH": pythonpath})
        try:
            with sync_playwright() as pw:
                browser = launch_browser(pw)
                try:
                    page = new_page(browser, width=width, height=height)
                    open_notebook(page, server, "dashboard.ipynb", timeout=120)
                    page.evaluate(
                        "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
                    )
                    page.locator(dashboard).first.wait_for(state="visible", timeout=180_000)
                    print(f"training {steps} steps of the {family.upper()}", flush=True)
                    status = _wait_until_done(page, steps, timeout)
                    if status != "finished":
                        raise RuntimeError(f"the run ended {status!r}, not finished")
                    time.sleep(3.0)  # the last snapshot, curve points and explorer frames land
                    slider = page.locator(f"{dashboard} .gw-grid-slider").first
                    if slider.count():
                        last = slider.evaluate(_LAST_SNAPSHOT_JS)
                        print(f"sample grid at snapshot {last + 1}", flush=True)
                        time.sleep(2.0)
                    if family == "vae":
                        _pick_scatter_point(page, dashboard)
                    page.mouse.move(0, 0)  # no hover label on the chart
                    out.parent.mkdir(parents=True, exist_ok=True)
                    element = page.locator(dashboard).first
                    # JupyterLab scrolls the notebook inside the window, so a dashboard taller
                    # than the window would be cut: grow the window to fit it first.
                    needed = int(element.evaluate("el => el.getBoundingClientRect().height"))
                    if needed + 250 > height:
                        page.set_viewport_size({"width": width, "height": needed + 250})
                        time.sleep(1.5)
                    element.scroll_into_view_if_needed()
                    time.sleep(0.5)
                    if whole_page:
                        page.screenshot(path=str(out))
                    else:
                        element.screenshot(path=str(out))
                    page.context.close()
                finally:
                    browser.close()
        finally:
            server.stop()
    print(f"wrote {out} ({time.monotonic() - t_start:.0f} s in all)", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    take(
        family=args.family,
        steps=args.steps,
        out=args.out,
        width=args.width,
        height=args.height,
        whole_page=args.whole_page,
        timeout=args.timeout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
