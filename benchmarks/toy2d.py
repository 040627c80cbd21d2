"""Mode coverage on the 2-D toys after a fixed step budget, for each loss, with the default
settings (`gw.train_gan(data=..., loss=..., max_steps=...)`, nothing else changed).

For each loss x {ring (8 modes), grid (25 modes)} x seed: train headless on the CPU, then draw
2,500 fresh samples and measure modes covered and the high-quality share (VEEGAN / PacGAN,
`genai_widgets/engine/coverage.py`). GANs oscillate, so the live measurements of the last
quarter of each run (every 100 steps) are summarised too: a run that covers 8/8 at its last
step but 6/8 a few hundred steps earlier shows as "6-8". With `--view`, also the DataSpace
view's frame rate and the training speed with and without it (no browser: frames computed,
not drawn).

Runs go `--jobs` at a time in subprocesses with one torch thread each (these small models
gain little from a second thread; two runs side by side use both cores).

Prints JSON on stdout; `--markdown` adds the docs/benchmarks.md table on stderr.
    python benchmarks/toy2d.py [--steps-ring 6000] [--steps-grid 10000] [--seeds 0 1]
                               [--losses nonsaturating hinge] [--jobs 2] [--view 8]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import genai_widgets as gw
from genai_widgets.data._toy import GRID_STD, RING_STD, grid_modes, ring_modes
from genai_widgets.families.gan.config import LOSSES
from genai_widgets.quality.coverage import mode_coverage

MODES = {"ring": (ring_modes(), RING_STD), "grid": (grid_modes(), GRID_STD)}


def train_and_measure(
    data: str, loss: str, steps: int, seed: int, root: Path, overrides: dict | None = None
) -> dict:
    torch.set_num_threads(1)
    tag = "-".join(f"{k}={v}" for k, v in sorted((overrides or {}).items()))
    run = gw.train_gan(
        data=data,
        loss=loss,
        max_steps=steps,
        seed=seed,
        device="cpu",
        run_dir=root / f"{data}-{loss}-{seed}{tag}",
        checkpoint_every=0,
        **(overrides or {}),
    )
    started = time.perf_counter()
    status = run.wait()
    seconds = time.perf_counter() - started
    if status != "finished":
        return {"data": data, "loss": loss, "seed": seed, "status": status, "error": run.message,
                "settings": overrides or {}}  # fmt: skip
    centres, std = MODES[data]
    samples = run.sample(
        z=torch.randn(2500, run.latent_dim, generator=torch.Generator().manual_seed(10_000 + seed))
    )
    result = mode_coverage(samples, centres, std)
    live = run.evaluations
    late = live["step"] > 0.75 * run.step
    late_covered = live["modes_covered"][late] if late.any() else np.zeros(0)
    return {
        "data": data,
        "loss": loss,
        "seed": seed,
        "settings": overrides or {},
        "steps": run.step,
        "seconds": round(seconds, 1),
        "steps_per_s": round(run.step / seconds, 1),
        "modes_covered": result.modes_covered,
        "modes_total": result.modes_total,
        "high_quality": round(result.high_quality, 4),
        "live_evaluations": int(len(live["step"])),
        "late_modes_covered_min": int(late_covered.min()) if len(late_covered) else None,
        "late_modes_covered_median": float(np.median(late_covered)) if len(late_covered) else None,
        "late_modes_covered_max": int(late_covered.max()) if len(late_covered) else None,
        "late_high_quality_median": (
            round(float(np.median(live["high_quality"][late])), 4) if late.any() else None
        ),
    }


def _one(task: list) -> dict:
    """One run in a subprocess (its own torch thread pool); the row it prints."""
    data, loss, steps, seed, root, overrides, deadline = task
    head = {"data": data, "loss": loss, "seed": seed, "settings": overrides}
    left = None if deadline is None else deadline - time.time()
    if left is not None and left < 5:
        return {**head, "status": "not started (deadline)"}
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--one", json.dumps(task[:6])],
            capture_output=True,
            text=True,
            timeout=left,
        )
    except subprocess.TimeoutExpired:
        return {**head, "status": "stopped at the deadline"}
    if out.returncode != 0:
        return {**head, "status": "crashed", "error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def view_rate(seconds: float, root: Path) -> dict:
    """Frames/s of the DataSpace view and steps/s with it vs without, on "ring" at full speed."""
    from genai_widgets.widgets import DataSpace

    out = {}
    for label, with_view in (("headless", False), ("with_view", True), ("headless_again", False)):
        run = gw.train_gan(
            data="ring", device="cpu", run_dir=root / f"view-{label}", checkpoint_every=0
        )
        widget = DataSpace(run) if with_view else None
        time.sleep(1.0)  # warm-up
        step0, frames0, t0 = run.step, widget.space_frames if widget else 0, time.perf_counter()
        time.sleep(seconds)
        dt = time.perf_counter() - t0
        out[f"steps_per_s_{label}"] = round((run.step - step0) / dt, 1)
        if widget is not None:
            out["frames_per_s"] = round((widget.space_frames - frames0) / dt, 2)
            widget.close()
        run.stop()
        run.wait(30)
    return out


def markdown(rows: list[dict]) -> str:
    lines = [
        "| loss | data | steps | modes covered at the end | last quarter (min-max) | high-quality share | steps/s |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((json.dumps(r.get("settings") or {}), r["loss"]) for r in rows)
    for setting, loss in keys:
        extra = ", ".join(f"{k}={v}" for k, v in json.loads(setting).items())
        label = f"{loss} ({extra})" if extra else loss
        for data in ("ring", "grid"):
            group = [
                r
                for r in rows
                if r["loss"] == loss
                and r["data"] == data
                and json.dumps(r.get("settings") or {}) == setting
                and "modes_covered" in r
            ]
            if not group:
                continue
            covered = ", ".join(f"{r['modes_covered']}/{r['modes_total']}" for r in group)
            late = ", ".join(
                f"{r['late_modes_covered_min']}-{r['late_modes_covered_max']}" for r in group
            )
            hq = ", ".join(f"{100 * r['high_quality']:.0f}%" for r in group)
            rate = statistics.median(r["steps_per_s"] for r in group)
            lines.append(
                f"| {label} | {data} | {group[0]['steps']} | {covered} | {late} | {hq} | {rate:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-ring", type=int, default=6000)
    parser.add_argument("--steps-grid", type=int, default=10000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=LOSSES)
    parser.add_argument("--data", nargs="+", default=["ring", "grid"], choices=list(MODES))
    parser.add_argument("--view", type=float, default=0.0, help="seconds per view-rate round")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="JSON",
        help="extra train_gan settings for a set of runs, e.g. '{\"ema\": 0.99}'; repeat for "
        "several sets (each is run for every loss, data and seed); default: the defaults",
    )
    parser.add_argument("--deadline", type=float, default=0, help="seconds; 0: none")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one run, JSON task
    args = parser.parse_args(argv)
    if args.one:
        data, loss, steps, seed, root, overrides = json.loads(args.one)
        print(json.dumps(train_and_measure(data, loss, steps, seed, Path(root), overrides)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        steps = {"ring": args.steps_ring, "grid": args.steps_grid}
        settings = [json.loads(x) for x in args.set] or [{}]
        deadline = time.time() + args.deadline if args.deadline > 0 else None
        # Longest first, so that the two job slots end together.
        tasks = sorted(
            [
                [data, loss, steps[data], seed, str(root), overrides, deadline]
                for overrides in settings
                for loss in args.losses
                for data in args.data
                for seed in args.seeds
            ],
            key=lambda t: -t[2] * (2 if t[1] == "wgan-gp" else 1),
        )
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for row in pool.map(_one, tasks):
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        settings_order = {json.dumps(o): i for i, o in enumerate(settings)}
        order = {
            (loss, data): i
            for i, (loss, data) in enumerate((lo, d) for lo in args.losses for d in args.data)
        }
        rows.sort(
            key=lambda r: (
                settings_order.get(json.dumps(r.get("settings") or {}), 0),
                order.get((r["loss"], r["data"]), 0),
                r["seed"],
            )
        )
        # The runs print a line when they end: keep stdout for the JSON.
        with contextlib.redirect_stdout(sys.stderr):
            view = view_rate(args.view, root) if args.view > 0 else None
    report = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads_per_run": 1,
            "cpus": os.cpu_count(),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        },
        "steps": steps,
        "jobs": args.jobs,
        "runs": rows,
        "view": view,
    }
    print(json.dumps(report, indent=1))
    if args.markdown:
        print(markdown(rows), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
