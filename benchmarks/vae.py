"""The VAE on the engine vs a plain PyTorch VAE loop of the same size, measured in one process,
finely interleaved: held-out ELBO after the same number of steps, and steps/s.

Variants (the same conv-vae, initial weights, batches, optimizer, likelihood and steps):
  main    the plain loop on the main thread, as in pytorch/examples' VAE: what a user would
          otherwise run (the baseline)
  engine  gw.train_vae(...) headless: the background Run thread with everything it does
          (metrics, store, prior-sample snapshots, health checks)

Both train side by side in alternating segments of `--segment` steps (main, engine, engine,
main, ...), so that the drift of a shared machine's speed falls on both alike; each segment
pair gives one engine / main ratio, and the summary is their median with a bootstrap 95%
interval. Steps/s are timed over steps 2..k of each segment (for the engine from the trainer's
own per-step stamps). CPU seconds per step are of the whole process (the engine's store writer
and governor count against it), which other processes' load disturbs far less.

Both draw the reparameterisation noise from a generator seeded alike, and both are scored by
the same function on the same held-out digits (one z per image, a fixed seed): the ELBO per
image in nats, higher is better.

Prints JSON: per segment steps/s and CPU s/step of each variant and their ratios; medians.
    python benchmarks/vae.py [--segments 20] [--segment 40] [--device cpu] [--threads N]

`--threads 1` takes OpenMP out of the comparison (no worker pools, so no spin-mode
differences between the main thread and a background thread): what remains is the engine's own
cost per step, which is what to measure on a machine that other processes load.
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
import time

import torch
import torch.nn.functional as F

import genai_widgets as gw
from genai_widgets.data import get_dataset
from genai_widgets.families.vae.step import elbo_terms
from genai_widgets.models import get_model


def build(args):
    """The same split and the same initial weights the engine builds (see engine/api.py)."""
    data = get_dataset("digits", image_size=args.image_size, seed=args.seed)
    train, held_out = data.split(args.test_fraction, seed=args.seed + 4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        encoder, decoder = get_model(
            "conv-vae",
            image_size=args.image_size,
            channels=1,
            latent_dim=args.latent_dim,
            width=args.width,
        )
    return train, held_out, encoder, decoder


def held_out_elbo(encoder, decoder, images: torch.Tensor, device, seed: int = 0) -> float:
    """Mean ELBO per held-out image (nats), one z per image drawn with `seed`."""
    encoder.eval()
    decoder.eval()
    noise = torch.Generator(device=device).manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(images), 256):
            x = images[start : start + 256].to(device)
            recon, kl = elbo_terms(encoder, decoder, x, noise, "bernoulli")
            total += float((recon + kl).double().sum())
    return -total / len(images)


class PlainLoop:
    """The loop people write (pytorch/examples vae/main.py), advanced a segment at a time."""

    def __init__(self, args, device: torch.device):
        self.device = device
        self.train, self.held_out, self.encoder, self.decoder = build(args)
        self.encoder.to(device).train()
        self.decoder.to(device).train()
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=args.lr)
        self.batches = self.train.batches(args.batch_size, seed=args.seed + 3)
        self.noise = torch.Generator(device=device).manual_seed(args.seed + 1)
        self.step = 0

    def one_step(self) -> None:
        x = next(self.batches).to(self.device, non_blocking=True)
        mu, logvar = self.encoder(x)
        eps = torch.randn(mu.shape, generator=self.noise, device=self.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = self.decoder(z)
        # -ELBO per image: Bernoulli reconstruction term + KL(q(z|x) || N(0, I))
        recon = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (recon + kl) / x.shape[0]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1

    def advance(self, k: int) -> tuple[float, float]:
        """k steps; (seconds, CPU seconds) of steps 2..k (the engine is timed alike)."""
        self.one_step()
        t0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(k - 1):
            self.one_step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, time.process_time() - cpu0

    def elbo(self) -> float:
        return held_out_elbo(self.encoder, self.decoder, self.held_out.tensor, self.device)


class EngineRun:
    """`gw.train_vae(...)` headless: the background Run thread with everything it does
    (metrics, store, prior-sample snapshots, health checks), advanced a segment at a time by
    raising `max_steps` and resuming; the main thread idles meanwhile, as a kernel does
    between cells."""

    def __init__(self, args, device: torch.device, root: str):
        self.device = device
        self.run = gw.train_vae(
            data="digits",
            model="conv-vae",
            image_size=args.image_size,
            latent_dim=args.latent_dim,
            width=args.width,
            batch_size=args.batch_size,
            lr=args.lr,
            test_fraction=args.test_fraction,
            device=str(device),
            seed=args.seed,
            max_steps=1,
            run_dir=f"{root}/engine",
            sample_every=args.sample_every,
            checkpoint_every=0,
        )
        self.run.wait()
        self.step = self.run.step
        _, held_out, _, _ = build(args)
        assert torch.equal(held_out.tensor, self.run.held_out.tensor)  # the same digits
        self.held_out = held_out

    def advance(self, k: int) -> tuple[float, float]:
        """k steps; (seconds, CPU seconds). Seconds from the trainer's own per-step stamps,
        steps 2..k of the segment (the pause before it is not counted); CPU seconds of the
        whole process over the segment (its end-of-segment snapshot and checkpoint too)."""
        start = self.run.step
        self.run.set(max_steps=start + k)
        cpu0 = time.process_time()
        self.run.resume()
        self.run.wait()
        cpu = time.process_time() - cpu0
        t = self.run.history["time"]
        self.step = self.run.step
        return float(t[start + k - 1] - t[start]), cpu * (k - 1) / k

    def elbo(self) -> float:
        return held_out_elbo(self.run.encoder, self.run.decoder, self.held_out.tensor, self.device)


def bootstrap_ci(values: list[float], n: int = 2000, seed: int = 0) -> list[float]:
    """95% bootstrap interval of the median."""
    gen = random.Random(seed)
    meds = sorted(statistics.median(gen.choice(values) for _ in values) for _ in range(n))
    return [round(meds[int(0.025 * n)], 4), round(meds[int(0.975 * n)], 4)]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--segments", type=int, default=20, help="timed segments per variant")
    p.add_argument("--segment", type=int, default=40, help="steps per segment")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--sample-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    segments = []
    # The engine prints a one-line summary per segment; keep stdout for the JSON alone.
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(sys.stderr):
        plain, engine = PlainLoop(args, device), EngineRun(args, device, root)
        while plain.step < engine.step:  # the engine's first step; then both in step
            plain.one_step()
        for variant in (plain, engine):  # warm-up, untimed
            variant.advance(args.warmup)
        for i in range(args.segments):
            order = [("main", plain), ("engine", engine)]
            seg: dict[str, float] = {}
            for name, variant in order if i % 2 == 0 else order[::-1]:
                seconds, cpu = variant.advance(args.segment)
                seg[name] = (args.segment - 1) / seconds
                seg[f"{name}_cpu"] = cpu / (args.segment - 1)
            seg["engine_vs_main"] = seg["engine"] / seg["main"]
            seg["cpu_main_vs_engine"] = seg["main_cpu"] / seg["engine_cpu"]
            segments.append(seg)
            print(json.dumps({"segment": i, **{k: round(v, 4) for k, v in seg.items()}}),
                  file=sys.stderr, flush=True)  # fmt: skip
        assert plain.step == engine.step, (plain.step, engine.step)
        elbo = {"main": plain.elbo(), "engine": engine.elbo(), "steps": engine.step}
        engine.run.stop()
    keys = ("main", "engine", "engine_vs_main", "main_cpu", "engine_cpu", "cpu_main_vs_engine")
    summary = {k: statistics.median(s[k] for s in segments) for k in keys}
    summary["engine_vs_main_ci95"] = bootstrap_ci([s["engine_vs_main"] for s in segments])
    summary["cpu_main_vs_engine_ci95"] = bootstrap_ci([s["cpu_main_vs_engine"] for s in segments])
    print(
        json.dumps(
            {
                "benchmark": "vae",
                "device": str(device),
                "cpu_threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "machine": platform.machine(),
                "load_average_before": load_before,
                "load_average_after": os.getloadavg()[0],
                "settings": vars(args),
                "held_out_elbo": {**elbo, "gain": elbo["engine"] - elbo["main"]},
                "median": summary,
                "segments": segments,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
