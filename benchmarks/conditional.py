"""Per-class FID on the offline digits: the class-conditional DCGAN (`conditional=True`)
against the unconditional one, at the same step budget.

Both runs are `gw.train_gan` with the package's defaults for images except the sizes given
(smaller than the default 32 x 32, width 64 so that it fits a few CPU minutes), from the same
seed; they train interleaved, `--chunk` steps each in turn, so load on the machine falls on
both alike. Measured in the feature space of the cached digits classifier
(`genai_widgets.quality.fid`), on `--n-per-class` samples per class:

    conditional     samples drawn for each class, against that class's real images
                    (`run.class_fid`), and the share the classifier assigns to the class they
                    were drawn for (`run.label_accuracy`; chance 0.1)
    unconditional   10 x n-per-class samples, each counted in the class the classifier assigns
                    it, against that class's real images (a class it rarely draws has few
                    samples: its FID is noisier, NaN under two)

and the FID of all the samples against the whole real set, for both.

    python benchmarks/conditional.py                                  # ~3-5 min on 2 CPU cores
    python benchmarks/conditional.py --steps 3000 --image-size 32 --width 32 --device cuda

Prints JSON on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import genai_widgets as gw
from genai_widgets.families.gan.conditional import draw_by_class
from genai_widgets.quality.fid import QualityMeter, class_frechet_distances


def _train_interleaved(runs: dict, steps: int, chunk: int) -> dict[str, float]:
    """Alternate the runs `chunk` steps at a time up to `steps`; seconds of training each."""
    seconds = dict.fromkeys(runs, 0.0)
    done = 0
    while done < steps:
        done = min(steps, done + chunk)
        for name, run in runs.items():
            t = time.perf_counter()
            run.set(max_steps=done)
            run.resume()
            status = run.wait()
            if status != "finished":
                raise RuntimeError(f"{name}: {status}: {run.traceback_text}")
            seconds[name] += time.perf_counter() - t
        print(f"step {done}/{steps}", file=sys.stderr, flush=True)
    return seconds


def _finite(values: dict[int, float]) -> dict[str, float | None]:
    """JSON-safe: a class without enough samples (NaN) becomes null."""
    return {str(c): (v if np.isfinite(v) else None) for c, v in values.items()}


def _summary(values: dict[int, float]) -> dict[str, float]:
    v = np.array([x for x in values.values() if np.isfinite(x)])
    return {
        "mean": float(v.mean()) if len(v) else float("nan"),
        "median": float(np.median(v)) if len(v) else float("nan"),
        "worst": float(v.max()) if len(v) else float("nan"),
        "classes_measured": int(len(v)),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--n-per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    common = dict(
        data="digits",
        image_size=args.image_size,
        width=args.width,
        device=args.device,
        seed=args.seed,
        max_steps=1,
        sample_every=10**9,
        checkpoint_every=0,
    )
    root = Path(tempfile.mkdtemp(prefix="bench-conditional-"))
    with contextlib.redirect_stdout(sys.stderr):  # the runs' messages: stdout is the JSON
        runs = {
            "conditional": gw.train_gan(**common, conditional=True, run_dir=str(root / "c")),
            "unconditional": gw.train_gan(**common, run_dir=str(root / "u")),
        }
        for run in runs.values():
            run.wait()
        seconds = _train_interleaved(runs, args.steps, args.chunk)

    cond, plain = runs["conditional"], runs["unconditional"]
    k, n = int(cond.n_classes), args.n_per_class
    data = cond.data_source
    meter = QualityMeter.for_data(data.tensor, data.labels, seed=args.seed)
    t = time.perf_counter()
    per_class_c = cond.class_fid(n_per_class=n, seed=args.seed + 1)
    accuracy = cond.label_accuracy(n=k * n, seed=args.seed + 2)
    fake_c = draw_by_class(cond.family, cond, torch.arange(k).repeat_interleave(n), args.seed + 3)
    z = torch.randn(k * n, plain.latent_dim, generator=torch.Generator().manual_seed(args.seed + 3))
    fake_u = torch.cat([plain.sample(z=z[i : i + 250]) for i in range(0, len(z), 250)])
    predicted = meter.predict(fake_u)
    per_class_u = class_frechet_distances(meter, data.tensor, data.labels, fake_u, predicted)
    shares = torch.bincount(predicted, minlength=k).double() / len(predicted)
    all_c, all_u = meter(fake_c), meter(fake_u)
    result = {
        "benchmark": "conditional",
        "args": vars(args),
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "feature_net_accuracy": meter.info["accuracy"],
        "train_seconds": seconds,
        "measure_seconds": time.perf_counter() - t,
        "conditional": {
            "label_accuracy": accuracy,
            "class_fid": _finite(per_class_c),
            "class_fid_summary": _summary(per_class_c),
            "fid_all": all_c["fid"],
            "precision": all_c["precision"],
            "recall": all_c["recall"],
        },
        "unconditional": {
            "class_fid": _finite(per_class_u),
            "class_fid_summary": _summary(per_class_u),
            "class_shares": [round(float(s), 4) for s in shares],
            "fid_all": all_u["fid"],
            "precision": all_u["precision"],
            "recall": all_u["recall"],
        },
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
