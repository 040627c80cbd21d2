"""The VAE on the engine vs a plain PyTorch VAE loop of the same size, measured in one process,
interleaved: held-out ELBO after a fixed budget of steps, and steps/s.

Variants (the same conv-vae, initial weights, batches, optimizer, likelihood and step budget):
  main    the plain loop on the main thread, as in pytorch/examples' VAE: what a user would
          otherwise run (the baseline)
  engine  gw.train_vae(...) headless: the background Run thread with everything it does
          (metrics, store, prior-sample snapshots, health checks)

Both draw the reparameterisation noise from a generator seeded alike, and both are scored by
the same function on the same held-out digits (one z per image, a fixed seed): the ELBO per
image in nats, higher is better. Speed is timed over the steps after a warm-up: wall-clock
steps/s, and the process's CPU seconds per step (all threads: the engine's store writer and
governor count against it), which other processes' load disturbs far less.

Prints JSON: per round steps/s, the held-out ELBO of each variant and their ratios; medians.
    python benchmarks/vae.py [--rounds 3] [--steps 300] [--device cpu] [--threads N]

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
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

import genai_widgets as gw
from genai_widgets.data import get_dataset
from genai_widgets.engine.vae_step import elbo_terms
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


def plain_loop(args, device: torch.device) -> tuple[float, float, float]:
    """The loop people write (pytorch/examples vae/main.py); returns (steps/s, CPU s per step,
    held-out ELBO)."""
    train, held_out, encoder, decoder = build(args)
    encoder.to(device).train()
    decoder.to(device).train()
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=args.lr)
    batches = train.batches(args.batch_size, seed=args.seed + 3)
    noise = torch.Generator(device=device).manual_seed(args.seed + 1)
    t0 = cpu0 = 0.0
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, cpu0 = time.perf_counter(), time.process_time()
        x = next(batches).to(device, non_blocking=True)
        mu, logvar = encoder(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=noise, device=device)
        logits = decoder(z)
        # -ELBO per image: Bernoulli reconstruction term + KL(q(z|x) || N(0, I))
        recon = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (recon + kl) / x.shape[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = args.steps / (time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / args.steps
    return rate, cpu, held_out_elbo(encoder, decoder, held_out.tensor, device)


def engine_run(args, device: torch.device, root: str, k: int) -> tuple[float, float, float]:
    run = gw.train_vae(
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
        max_steps=args.warmup,
        run_dir=f"{root}/engine{k}",
        sample_every=args.sample_every,
        checkpoint_every=0,
    )
    run.wait()  # the warm-up; then the timed steps, continued exactly (same objects, RNG)
    run.set(max_steps=args.warmup + args.steps)
    cpu0 = time.process_time()
    run.resume()
    run.wait()  # the main thread idles, as it does in a kernel between cells
    cpu = (time.process_time() - cpu0) / args.steps  # includes the final snapshot, checkpoint
    # Per-step wall-clock stamps written by the trainer itself; the first timed step's stamp
    # starts the clock (the pause between the two segments counts in `time`).
    t = run.history["time"]
    rate = (args.steps - 1) / (t[args.warmup + args.steps - 1] - t[args.warmup])
    _, held_out, _, _ = build(args)
    assert torch.equal(held_out.tensor, run.held_out.tensor)  # the same held-out digits
    return rate, cpu, held_out_elbo(run.encoder, run.decoder, held_out.tensor, device)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=300)
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
    rounds = []
    load_before = os.getloadavg()[0]
    # The engine prints a one-line summary per run; keep stdout for the JSON alone.
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(sys.stderr):
        for r in range(args.rounds):
            order = ["main", "engine"] if r % 2 == 0 else ["engine", "main"]
            result: dict[str, float] = {}
            for name in order:
                if name == "main":
                    result["main"], result["main_cpu"], result["main_elbo"] = plain_loop(
                        args, device
                    )
                else:
                    result["engine"], result["engine_cpu"], result["engine_elbo"] = engine_run(
                        args, device, root, r
                    )
            result["engine_vs_main"] = result["engine"] / result["main"]
            # CPU efficiency: > 1 when the engine spends less CPU per step than the plain loop.
            result["cpu_main_vs_engine"] = result["main_cpu"] / result["engine_cpu"]
            result["elbo_gain"] = result["engine_elbo"] - result["main_elbo"]
            rounds.append(result)
            print(json.dumps({"round": r, **result}), file=sys.stderr, flush=True)
    keys = (
        "main",
        "engine",
        "engine_vs_main",
        "main_cpu",
        "engine_cpu",
        "cpu_main_vs_engine",
        "main_elbo",
        "engine_elbo",
        "elbo_gain",
    )
    summary = {k: statistics.median(r[k] for r in rounds) for k in keys}
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
                "median": summary,
                "rounds": rounds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
