"""Engine speed vs a plain PyTorch loop, measured in one process, interleaved.

Variants (identical DCGAN, batch source, optimizer and loss):
  main    the plain loop on the main thread: what a user would otherwise run (the baseline)
  thread  the same plain loop in a plain Python thread
  engine  gw.train_gan(...) headless: the background Run thread with everything it does
          (metrics, store, snapshots, time checkpoints: every --checkpoint-every-seconds,
          60 s by default as in RunConfig; step checkpoints off)
  engine_no_checkpoints
          the same with time checkpoints off (checkpoint_every_seconds=0): engine /
          engine_no_checkpoints is what the time checkpoints cost, and both arms share the
          engine's thread handling, so machine load moves them alike

Prints JSON: steps/s per variant per round, per-round ratios, and their medians.
    python benchmarks/engine.py [--rounds 5] [--steps 40] [--device cpu]
                                [--checkpoint-every-seconds 60]
Each engine round also reports the checkpoints written inside its timed steps and the mean
seconds one took (from the run's CheckpointSaved events).
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
import torch.nn.functional as F

import genai_widgets as gw
from genai_widgets.data import get_dataset
from genai_widgets.models import get_model


def plain_loop(steps: int, warmup: int, args, device: torch.device) -> float:
    """The loop people write (pytorch/examples dcgan), returns steps/s after warm-up."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        generator, discriminator = get_model(
            "dcgan",
            image_size=args.image_size,
            channels=1,
            latent_dim=args.latent_dim,
            width=args.width,
        )
    generator.to(device)
    discriminator.to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = get_dataset("digits", image_size=args.image_size).batches(
        args.batch_size, seed=args.seed
    )
    ones = torch.ones(args.batch_size, device=device)
    zeros = torch.zeros(args.batch_size, device=device)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        real = next(batches).to(device, non_blocking=True)
        # (1) update D: maximize log D(x) + log(1 - D(G(z)))
        fake = generator(torch.randn(args.batch_size, args.latent_dim, device=device))
        loss_d = F.binary_cross_entropy_with_logits(
            discriminator(real), ones
        ) + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # (2) update G: maximize log D(G(z))
        loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def in_thread(fn, *a) -> float:
    out: list[float] = []
    t = threading.Thread(target=lambda: out.append(fn(*a)))
    t.start()
    t.join()
    return out[0]


def engine_run(
    steps: int, warmup: int, args, device: torch.device, root: str, k: str, every_seconds: float
) -> tuple[float, dict[str, float]]:
    run = gw.train_gan(
        data="digits",
        model="dcgan",
        image_size=args.image_size,
        latent_dim=args.latent_dim,
        width=args.width,
        batch_size=args.batch_size,
        device=str(device),
        seed=args.seed,
        max_steps=warmup + steps,
        run_dir=f"{root}/engine{k}",
        sample_every=args.sample_every,
        checkpoint_every=0,
        checkpoint_every_seconds=every_seconds,
        # The same computation as the plain loop: the small-data defaults (DiffAugment, R1,
        # the generator average) are extra work that the engine's own cost must not hide in.
        augment="none",
        ema=0.0,
        r1=0.0,
    )
    run.wait()  # the main thread idles, as it does in a kernel between cells
    t = run.history["time"]  # per-step wall-clock stamps written by the trainer itself
    # Checkpoints written inside the timed steps (not the final one after the last step).
    saved = [
        e.data
        for e in run.events_since(0)[1]
        if e.kind == "CheckpointSaved" and warmup < e.data["step"] < warmup + steps
    ]
    checkpoints = {
        "checkpoints": len(saved),
        "checkpoint_seconds": statistics.mean(d["seconds"] for d in saved) if saved else 0.0,
    }
    return steps / (t[warmup + steps - 1] - t[warmup - 1]), checkpoints


def bootstrap_median_ci(values: list[float], n: int = 10000, seed: int = 0) -> list[float]:
    """95% percentile-bootstrap interval of the median of `values`."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(n))
    return [medians[int(0.025 * n)], medians[int(0.975 * n) - 1]]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--sample-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every-seconds", type=float, default=60.0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    load_at_start = os.getloadavg()
    rounds = []
    # The engine prints a one-line summary per run; keep stdout for the JSON alone.
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(sys.stderr):
        for r in range(args.rounds):
            # Rotate the order so drift in machine load does not favour one variant.
            arms = ["main", "thread", "engine", "engine_no_checkpoints"]
            order = arms[r % len(arms) :] + arms[: r % len(arms)]
            result: dict[str, float] = {}
            for name in order:
                if name == "main":
                    result[name] = plain_loop(args.steps, args.warmup, args, device)
                elif name == "thread":
                    result[name] = in_thread(plain_loop, args.steps, args.warmup, args, device)
                elif name == "engine":
                    every = args.checkpoint_every_seconds
                    result[name], checkpoints = engine_run(
                        args.steps, args.warmup, args, device, root, f"{r}", every
                    )
                    result.update(checkpoints)
                else:
                    result[name], _ = engine_run(
                        args.steps, args.warmup, args, device, root, f"{r}-off", 0.0
                    )
            result["engine_vs_main"] = result["engine"] / result["main"]
            result["engine_vs_thread"] = result["engine"] / result["thread"]
            result["thread_vs_main"] = result["thread"] / result["main"]
            result["engine_vs_engine_no_checkpoints"] = (
                result["engine"] / result["engine_no_checkpoints"]
            )
            rounds.append(result)
    summary = {
        k: statistics.median(r[k] for r in rounds)
        for k in (
            "main",
            "thread",
            "engine",
            "engine_no_checkpoints",
            "engine_vs_main",
            "engine_vs_thread",
            "thread_vs_main",
            "engine_vs_engine_no_checkpoints",
        )
    }
    ratios = ("engine_vs_main", "engine_vs_thread", "thread_vs_main")
    ratios += ("engine_vs_engine_no_checkpoints",)
    interval = {k: bootstrap_median_ci([r[k] for r in rounds]) for k in ratios}
    print(
        json.dumps(
            {
                "benchmark": "engine",
                "device": str(device),
                "cpu_count": torch.get_num_threads(),
                "torch": torch.__version__,
                "machine": platform.machine(),
                "settings": vars(args),
                "load_average_at_start": load_at_start,
                "load_average_at_end": os.getloadavg(),
                "median": summary,
                "median_ci95_bootstrap": interval,
                "rounds": rounds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
