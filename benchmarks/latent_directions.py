"""What refreshing the semantic latent directions (`run.latent_directions`, GANSpace) costs a
training GAN, measured in one process.

One headless `gw.train_gan(...)` run trains throughout; a second thread, as a widget's refresh
would, recomputes the directions every `--every` training steps during "on" windows and idles
during "off" windows. The windows alternate (off, on, on, off, ...) so that the drift of a
shared machine's speed falls on both alike; each pair gives one on / off ratio of steps/s
(the target is >= 0.97), and the summary is their median with a bootstrap 95% interval.
Steps/s come from the trainer's own per-step time stamps inside each window. Each refresh's
wall time is recorded too (the directions' "time to refresh while training"), and the trainer
time it cost, attributed from the durations of the steps it overlapped (`attributed_cost`,
steadier than the window rates when other processes load the machine).

Prints JSON: per window pair steps/s off and on and their ratio, refreshes made, the refresh
times (median, max); medians.
    python benchmarks/latent_directions.py [--preset tiny|default] [--rounds 6] [--window 5]
                                           [--every 50] [--k 10] [--samples 2000]

`--preset default` trains the package's default DCGAN on the digits (32x32, width 64, batch 64,
latent 64: a few steps/s on 2 cores); `tiny` a 16x16 width-8 model with latent 16 (tens of
steps/s), where a refresh weighs most against a step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time

import torch

import genai_widgets as gw

PRESETS = {
    "tiny": dict(image_size=16, width=8, batch_size=16, latent_dim=16, sample_every=25),
    "default": dict(sample_every=None),  # the package defaults
}


class Refresher:
    """A thread that, while `on` is set, recomputes the run's directions every `every`
    training steps (matched to the previous ones, as the explorer would), timing each."""

    def __init__(self, run, every: int, k: int, samples: int):
        self.run, self.every, self.k, self.samples = run, every, k, samples
        self.on, self.done = threading.Event(), threading.Event()
        self.times: list[float] = []
        self.spans: list[tuple[int, int]] = []  # (step before, step after) of each refresh
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        last = -self.every
        while not self.done.is_set():
            if not self.on.wait(0.05):
                continue
            if self.run.step < last + self.every:
                time.sleep(0.01)
                continue
            last = before = self.run.step
            t0 = time.perf_counter()
            try:
                self.run.latent_directions(k=self.k, samples=self.samples)
            except Exception as exc:  # reported in the JSON
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            self.times.append(time.perf_counter() - t0)
            self.spans.append((before, self.run.step))

    def close(self) -> None:
        self.on.clear()
        self.done.set()
        self.thread.join(30)


def steps_per_second(run, window: float) -> float:
    # From the trainer's own per-step time stamps, so that a slow model (a few steps/s) is not
    # rounded to whole steps per window.
    s0 = run.step
    time.sleep(window)
    h = run.history
    t = h["time"][h["step"] > s0]
    return (len(t) - 1) / float(t[-1] - t[0])


def attributed_cost(history, spans: list[tuple[int, int]], every: int) -> dict[str, float]:
    """Trainer time each refresh cost, from the step durations themselves, which the drift of
    a shared machine disturbs far less than window rates: the steps in flight while a refresh
    ran took `lost` seconds more than the median step of the 50 steps either side that no
    refresh touched. Projected on-vs-off ratio for a refresh every `every` steps."""
    steps = history["step"].astype(int)
    dt = dict(zip(steps[1:], history["time"][1:] - history["time"][:-1], strict=True))
    touched = {s for a, b in spans for s in range(a, b + 2)}
    losses, bases = [], []
    for a, b in spans:
        near = [dt[s] for s in range(a - 50, b + 52) if s in dt and s not in touched]
        mine = [dt[s] for s in range(a, b + 2) if s in dt]
        if len(near) < 10 or not mine:
            continue
        base = statistics.median(near)
        losses.append(sum(mine) - base * len(mine))
        bases.append(base)
    if not losses:
        return {}
    lost, base = statistics.median(losses), statistics.median(bases)
    return {
        "lost_s_per_refresh": lost,
        "step_s": base,
        "projected_on_vs_off": every * base / (every * base + max(lost, 0.0)),
        "attributed_refreshes": len(losses),
    }


def bootstrap_ci(values: list[float], n: int = 2000, seed: int = 0) -> list[float]:
    """95% bootstrap interval of the median."""
    gen = random.Random(seed)
    meds = sorted(statistics.median(gen.choice(values) for _ in values) for _ in range(n))
    return [round(meds[int(0.025 * n)], 4), round(meds[int(0.975 * n)], 4)]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--rounds", type=int, default=6, help="window pairs (off + on)")
    p.add_argument("--window", type=float, default=5.0, help="seconds per window")
    p.add_argument("--every", type=int, default=50, help="training steps between refreshes")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of training untimed")
    p.add_argument(
        "--ema",
        type=float,
        default=None,
        help="the generator average's decay (default: the package's; 0 turns it off, and with "
        "it the batch-norm recalibration each copy older than 50 steps costs under the lock)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    load_before = os.getloadavg()[0]
    rounds = []
    # The engine prints a one-line summary when the run ends; keep stdout for the JSON alone.
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(sys.stderr):
        run = gw.train_gan(
            data="digits",
            **PRESETS[args.preset],
            **({} if args.ema is None else {"ema": args.ema}),
            max_steps=None,
            checkpoint_every=0,
            device=args.device,
            seed=args.seed,
            run_dir=f"{root}/gan",
        )
        while run.step < 2:
            time.sleep(0.05)
        refresher = Refresher(run, args.every, args.k, args.samples)
        refresher.on.set()  # warm-up with refreshes: the first copy and pools are made
        time.sleep(args.warmup)
        refresher.on.clear()
        try:
            for i in range(args.rounds):
                rate: dict[str, float] = {}
                before = len(refresher.times)
                for state in ("off", "on") if i % 2 == 0 else ("on", "off"):
                    (refresher.on.set if state == "on" else refresher.on.clear)()
                    rate[state] = steps_per_second(run, args.window)
                refresher.on.clear()
                row = {
                    **rate,
                    "on_vs_off": rate["on"] / rate["off"],
                    "refreshes": len(refresher.times) - before,
                }
                rounds.append(row)
                print(json.dumps({"round": i, **{k: round(v, 4) for k, v in row.items()}}),
                      file=sys.stderr, flush=True)  # fmt: skip
        finally:
            refresher.close()
            run.stop()
            run.wait(60)
        attributed = attributed_cost(run.history, refresher.spans, args.every)
    ratios = [r["on_vs_off"] for r in rounds]
    times = refresher.times
    print(
        json.dumps(
            {
                "benchmark": "latent_directions",
                "device": args.device,
                "cpu_threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "machine": platform.machine(),
                "load_average_before": load_before,
                "load_average_after": os.getloadavg()[0],
                "settings": vars(args),
                "errors": refresher.errors,
                "median": {
                    "off": statistics.median(r["off"] for r in rounds),
                    "on": statistics.median(r["on"] for r in rounds),
                    "on_vs_off": statistics.median(ratios),
                    "on_vs_off_ci95": bootstrap_ci(ratios),
                    "refresh_s": statistics.median(times) if times else None,
                    "refresh_s_max": max(times) if times else None,
                    "refreshes": len(times),
                },
                "attributed": attributed,
                "rounds": rounds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
