"""Real images into z (`run.project`) against random search, on the offline digits.

A GAN trains on the digits with a tenth held out (`DataSource.split(0.1, seed=0)`); then each
held-out digit is projected (`run.project`: Adam on z, `--restarts` starts per image, pixel
MSE + `feature_weight` x the cached digits classifier's feature error, for each of
`--feature-weights`) and compared with the best of `--random` random codes (the smallest pixel
MSE among the samples of 1,000 draws from the prior, the same draws for every image). Also:
projecting the generator's own samples (how well a code that made an image is recovered).

    python benchmarks/projection.py                         # 2000 steps, 16x16, CPU
    python benchmarks/projection.py --steps 5000 --image-size 32 --device cuda

Prints JSON on stdout: per feature weight, the mean / median pixel MSE of the projections, the
share of images whose projection beats the best random code, the mean feature error and the
share of reconstructions the classifier reads as the image's own digit (`same_class`), the mean
norm of z (the prior's typical norm is sqrt(latent_dim)) and the seconds taken; the same for
the best random codes and for generated images. Progress on stderr; `--out FILE` also writes
the JSON there.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

import genai_widgets as gw
from genai_widgets.data import get_dataset
from genai_widgets.families.projection import feature_error, pixel_error
from genai_widgets.quality.fid import train_feature_net


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def summary(errors: torch.Tensor, random_best: torch.Tensor | None = None) -> dict:
    e = errors.double()
    out = {"mean": round(float(e.mean()), 5), "median": round(float(e.median()), 5)}
    if random_best is not None:
        out["beats_best_random"] = round(float((errors < random_best).float().mean()), 3)
        out["ratio_to_best_random"] = round(float(e.mean() / random_best.double().mean()), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000, help="GAN training steps")
    ap.add_argument("--image-size", type=int, default=16)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--held", type=int, default=180, help="held-out digits projected")
    ap.add_argument("--proj-steps", type=int, default=200)
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--random", type=int, default=1000, help="random codes searched")
    ap.add_argument("--feature-weights", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    train, held = get_dataset("digits", image_size=args.image_size).split(0.1, seed=0)
    started = time.perf_counter()
    run = gw.train_gan(
        data=train,
        image_size=args.image_size,
        width=args.width,
        latent_dim=args.latent_dim,
        batch_size=args.batch_size,
        device=args.device,
        max_steps=args.steps,
        sample_every=10**9,
        run_dir=args.run_dir,
    )
    status = run.wait()
    train_seconds = time.perf_counter() - started
    log(f"trained: {status} at step {run.step} in {train_seconds:.0f} s")
    x, labels = held.tensor[: args.held], held.labels[: args.held]
    # The classifier run.project's feature term uses (the same cache entry), to judge every
    # projection alike: feature error, and whether the reconstruction reads as the same digit.
    net, _ = train_feature_net(train.tensor, train.labels, seed=0)

    def judged(images: torch.Tensor) -> dict:
        with torch.no_grad():
            f, ft = net.features(images), net.features(x)
            same = (net.head(f).argmax(1) == labels).float().mean()
            err = feature_error(f, ft, ft.pow(2).mean())
        return {
            "feature_error_mean": round(float(err.mean()), 4),
            "same_class": round(float(same), 3),
        }

    started = time.perf_counter()
    z = torch.randn(args.random, run.latent_dim, generator=torch.Generator().manual_seed(123))
    samples = run.sample(z=z)
    d = (x[:, None] - samples[None]).pow(2).flatten(2).mean(2)
    random_best = d.min(1).values
    random = {
        **summary(random_best),
        **judged(samples[d.argmin(1)]),
        "seconds": round(time.perf_counter() - started, 1),
    }
    log("best of random:", random)

    projections = {}
    for weight in args.feature_weights:
        started = time.perf_counter()
        p = run.project(x, steps=args.proj_steps, restarts=args.restarts, feature_weight=weight)
        seconds = time.perf_counter() - started
        projections[str(weight)] = {
            "pixel_mse": summary(p.error, random_best),
            "loss_mean": round(float(p.loss.double().mean()), 5),
            **judged(p.reconstruction),
            "z_norm_mean": round(float(p.z.norm(dim=1).mean()), 3),
            "seconds": round(seconds, 1),
            "features": p.features,
            "note": p.note,
        }
        log(f"feature_weight {weight}:", projections[str(weight)])

    z0 = torch.randn(64, run.latent_dim, generator=torch.Generator().manual_seed(7))
    made = run.sample(z=z0)
    started = time.perf_counter()
    p = run.project(made, steps=args.proj_steps, restarts=args.restarts, feature_weight=0.0)
    dm = (made[:, None] - samples[None]).pow(2).flatten(2).mean(2).min(1).values
    generated = {
        "pixel_mse": summary(pixel_error(run.sample(z=p.z), made), dm),
        "max": round(float(p.error.max()), 5),
        "z_distance_mean": round(float((p.z - z0).norm(dim=1).mean()), 3),
        "seconds": round(time.perf_counter() - started, 1),
    }
    log("generated:", generated)

    result = {
        "benchmark": "projection",
        "args": vars(args),
        "train": {"status": status, "step": run.step, "seconds": round(train_seconds)},
        "held_out_images": len(x),
        "best_of_random": random,
        "projection": projections,
        "generated": generated,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
