"""Sample quality on the offline digits: the plain DCGAN vs the package's small-data defaults.

Every variant trains the same DCGAN (32x32, width 32, batch 64, non-saturating loss, Adam
beta1 0.5) for the same number of steps from the same seed; "plain" is the DCGAN paper's
recipe (Adam 2e-4 both networks, nothing else), "defaults" is what `GANConfig` switches on by
default for images (read from `GANConfig`, so this stays in step with the package). The other
variants switch one ingredient at a time, to measure which combination wins:

    augment  DiffAugment policy on every discriminator input (Zhao et al. 2020)
    ema      decay of the generator average that sampling reads (Yazici et al. 2019)
    r1       weight gamma of the R1 penalty gamma/2 |grad D(x_real)|^2 (Mescheder et al. 2018),
             every `r1_every`-th step with weight r1_every * gamma (lazy, as StyleGAN2)
    sn       spectral normalisation of D's convolutions instead of batch norm (Miyato et al. 2018)
    lr_g, lr_d, beta1   optimiser settings (TTUR: Heusel et al. 2017)

FID (and KID, precision / recall, classes covered) in the feature space of the cached digits
classifier (`genai_widgets.quality.fid`), on 1,000 samples from fixed noise at each
evaluation step, for three ways of sampling a batch-norm generator: "eval" (running statistics,
what `run.sample` gives), "train" (batch statistics of each 250-sample batch) and "recal"
(running statistics recomputed for the sampled weights, as `GeneratorEMA.recalibrate` does).

One invocation runs every variant x seed, `--jobs` at a time, each in its own process with one
torch thread (or on `--device cuda`):

    python benchmarks/quality.py                        # plain vs defaults, seed 0, CPU
    python benchmarks/quality.py --variants all --seeds 0 1 --device cuda --jobs 8

Prints JSON on stdout (per variant: the measures per step and seed, and a summary: FID at each
step as the median over seeds, best FID, whether it kept falling); progress on stderr;
`--markdown` adds the docs/benchmarks.md table on stderr. `--out DIR` also writes each run's
JSON there as it finishes, so a run cut short by `--deadline` keeps what it measured.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genai_widgets.data import get_dataset
from genai_widgets.engine import images
from genai_widgets.families.gan.augment import diff_augment, parse_policy
from genai_widgets.families.gan.config import GANConfig, resolve_defaults
from genai_widgets.families.gan.ema import GeneratorEMA, recompute_batch_norm
from genai_widgets.models import get_model
from genai_widgets.quality.fid import QualityMeter

_D = resolve_defaults(GANConfig(), "images")  # what gw.train_gan(data="digits") resolves
PLAIN = {"augment": "none", "ema": 0.0, "r1": 0.0, "r1_every": 1, "sn": False, "lr_g": 2e-4,
         "lr_d": 2e-4, "beta1": 0.5}  # fmt: skip
DEFAULTS = {**PLAIN, "augment": _D.augment, "ema": _D.ema, "r1": _D.r1, "r1_every": _D.r1_every,
            "lr_g": _D.lr, "lr_d": _D.lr_d or _D.lr, "beta1": _D.beta1}  # fmt: skip
VARIANTS: dict[str, dict] = {
    "plain": PLAIN,
    "defaults": DEFAULTS,
    "plain+ema": {**PLAIN, "ema": 0.999},
    "da-tc": {**PLAIN, "augment": "translation,cutout"},
    "da-ctc+ema": {**PLAIN, "augment": "color,translation,cutout", "ema": 0.999},
    "da-t+ema": {**PLAIN, "augment": "translation", "ema": 0.999},
    "da-tc+ema.99": {**PLAIN, "augment": "translation,cutout", "ema": 0.99},
    "da-tc+ema+r1=0.1": {**PLAIN, "augment": "translation,cutout", "ema": 0.999, "r1": 0.1},
    "da-tc+ema+r1=1": {**PLAIN, "augment": "translation,cutout", "ema": 0.999, "r1": 1.0},
    "da-ctc+ema+r1=1": {**PLAIN, "augment": "color,translation,cutout", "ema": 0.999, "r1": 1.0},
    "da-ctc+ema+r1=0.1": {
        **PLAIN,
        "augment": "color,translation,cutout",
        "ema": 0.999,
        "r1": 0.1,
    },
    "da-tc+ema+sn": {**PLAIN, "augment": "translation,cutout", "ema": 0.999, "sn": True},
    "da-ctc+ema+sn": {**PLAIN, "augment": "color,translation,cutout", "ema": 0.999, "sn": True},
    "da-tc+ema+ttur": {
        **PLAIN,
        "augment": "translation,cutout",
        "ema": 0.999,
        "lr_g": 1e-4,
        "lr_d": 4e-4,
    },  # fmt: skip
    "da-tc+ema+lr_d=1e-4": {
        **PLAIN,
        "augment": "translation,cutout",
        "ema": 0.999,
        "lr_d": 1e-4,
    },  # fmt: skip
    "da-tc+ema+lr=4e-4": {
        **PLAIN,
        "augment": "translation,cutout",
        "ema": 0.999,
        "lr_g": 4e-4,
        "lr_d": 4e-4,
    },  # fmt: skip
}
MODES = ("eval", "train", "recal")
N_SAMPLES = 1000


def samplers(G: nn.Module, ema: GeneratorEMA | None, z_cal: torch.Tensor) -> dict[str, nn.Module]:
    """The three ways of sampling a batch-norm generator, each on a module of its own (nothing
    here touches the modules being trained or averaged, except `ema.calibrate`, which is what
    the engine itself runs before sampling):
      eval   running statistics as training left them (for the average: the live
             generator's, copied, as the engine did before `GeneratorEMA.calibrate`)
      train  batch statistics of each sampled batch
      recal  statistics recomputed for the sampled weights on fixed noise: `run.sample`"""
    if ema is not None:
        old = copy.deepcopy(ema.module)
        live = dict(G.named_buffers())
        for name, buf in old.named_buffers():
            buf.copy_(live[name])
        ema.calibrate(z_cal)
        recal = ema.module
        source = ema.module
    else:
        old = G
        recal = copy.deepcopy(G)
        recompute_batch_norm(recal, z_cal)
        source = G
    return {"eval": old.eval(), "train": copy.deepcopy(source).train(), "recal": recal.eval()}


def spectral_discriminator(width: int) -> nn.Module:
    _, d = get_model("dcgan", image_size=32, channels=1, latent_dim=64, width=width, norm="none")
    for mod in list(d.modules()):
        if isinstance(mod, nn.Conv2d):
            nn.utils.parametrizations.spectral_norm(mod)
    return d


def train_one(variant: str, seed: int, args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    v = VARIANTS[variant]
    dev = torch.device(args.device)
    policy = parse_policy(v["augment"])
    src = get_dataset("digits", image_size=32)
    meter = QualityMeter.for_data(src.tensor, src.labels)
    torch.manual_seed(seed)
    G, D = get_model("dcgan", image_size=32, channels=1, latent_dim=64, width=args.width)
    if v["sn"]:
        torch.manual_seed(seed + 7)
        D = spectral_discriminator(args.width)
    G, D = G.to(dev), D.to(dev)
    b1 = v["beta1"]
    opt_g = torch.optim.Adam(G.parameters(), lr=v["lr_g"], betas=(b1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=v["lr_d"], betas=(b1, 0.999))
    ema = GeneratorEMA(G, v["ema"]) if v["ema"] else None
    noise = torch.Generator(device=dev).manual_seed(seed + 1)

    def aug(x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, policy, noise) if policy else x

    batches = src.batches(64, seed=seed)
    evals = sorted({int(s) for s in args.evals.split(",") if int(s) <= args.steps})
    z_fixed = torch.randn(N_SAMPLES, 64, generator=torch.Generator().manual_seed(123)).to(dev)
    # The engine's calibration noise (GANFamily): 512 draws seeded with the run's seed + 11.
    z_cal = torch.randn(512, 64, generator=torch.Generator().manual_seed(seed + 11)).to(dev)
    rows: dict = {}
    t0 = time.time()
    train_seconds = train_cpu = 0.0
    for step in range(1, args.steps + 1):
        ts, cs = time.perf_counter(), time.process_time()
        real = next(batches).to(dev, non_blocking=True)
        fake = G(torch.randn(64, 64, device=dev))
        r1 = v["r1"] * v["r1_every"] if step % v["r1_every"] == 0 else 0.0  # lazy R1
        if r1:
            real.requires_grad_(True)
        out_real = D(aug(real))
        loss_d = F.softplus(-out_real).mean() + F.softplus(D(aug(fake.detach()))).mean()
        if r1:
            (grad,) = torch.autograd.grad(out_real.sum(), real, create_graph=True)
            loss_d = loss_d + 0.5 * r1 * grad.pow(2).flatten(1).sum(1).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-D(aug(fake))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if ema is not None:
            ema.update(G)
        if step in evals:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            train_seconds += time.perf_counter() - ts
            train_cpu += time.process_time() - cs
            row = {"train_cpu_seconds": round(train_cpu, 1)}
            for mode, m in samplers(G, ema, z_cal).items():
                with torch.no_grad():
                    imgs = torch.cat([m(z_fixed[i : i + 250]) for i in range(0, N_SAMPLES, 250)])
                row[mode] = {k: round(float(x), 3) for k, x in meter(imgs.cpu()).items()}
                if args.grid_dir and step == evals[-1]:  # the first 64 of the measured samples
                    name = f"{variant}-seed{seed}-step{step}-{mode}.png"
                    grid = images.make_grid(images.to_uint8(imgs[:64].cpu()), 8)
                    (Path(args.grid_dir) / name).write_bytes(images.encode_png(grid))
            G.train()
            rows[step] = row
            print(f"{variant} seed {seed} step {step} {round(time.time() - t0)} s "
                  f"fid " + " ".join(f"{k}={row[k]['fid']}" for k in MODES),
                  file=sys.stderr, flush=True)  # fmt: skip
        else:
            train_seconds += time.perf_counter() - ts
            train_cpu += time.process_time() - cs
    return {
        "variant": variant,
        "seed": seed,
        "settings": v,
        "feature_net": meter.info,
        "steps": rows,
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "seconds": round(time.time() - t0, 1),
    }


def summarise(runs: list[dict]) -> dict:
    out: dict = {}
    for variant in dict.fromkeys(r["variant"] for r in runs):
        group = [r for r in runs if r["variant"] == variant]
        steps = sorted({int(s) for r in group for s in r["steps"]})
        per_mode = {}
        for mode in MODES:
            fid = {
                s: round(
                    statistics.median(
                        r["steps"][str(s)][mode]["fid"] for r in group if str(s) in r["steps"]
                    ),
                    2,
                )  # fmt: skip
                for s in steps
            }
            vals = list(fid.values())
            late = [v for s, v in fid.items() if s >= 1000]  # the steps the name promises
            per_mode[mode] = {
                "fid_median_over_seeds": fid,
                "best": min(vals) if vals else None,
                "last": vals[-1] if vals else None,
                "kept_falling_from_1000": all(b <= a for a, b in zip(late, late[1:], strict=False)),
            }
        out[variant] = {"seeds": sorted(r["seed"] for r in group), **per_mode}
    return out


def markdown(summary: dict, mode: str, steps: list[int]) -> str:
    lines = [
        "| variant | " + " | ".join(str(s) for s in steps) + " | best |",
        "|---|" + "---|" * (len(steps) + 1),
    ]
    for variant, s in summary.items():
        fid = s[mode]["fid_median_over_seeds"]
        cells = [f"{fid[k]:.1f}" if k in fid else "" for k in steps]
        lines.append(f"| {variant} | " + " | ".join(cells) + f" | {s[mode]['best']:.1f} |")
    return "\n".join(lines)


def _one(task: dict) -> dict:
    cmd = [sys.executable, __file__, "--one", json.dumps(task["key"]), *task["argv"]]
    left = None if task["deadline"] is None else task["deadline"] - time.time()
    if left is not None and left < 5:
        return {"variant": task["key"][0], "seed": task["key"][1], "status": "not started"}
    try:  # the run's progress lines go straight to stderr
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=left)
    except subprocess.TimeoutExpired:
        return {"variant": task["key"][0], "seed": task["key"][1], "status": "deadline"}
    if out.returncode != 0:
        return {"variant": task["key"][0], "seed": task["key"][1],
                "status": f"crashed (exit {out.returncode}; its traceback is on stderr)"}  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--variants", default="plain,defaults", help="comma list, or 'all'")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--plain-seeds", type=int, nargs="+", help="seeds for 'plain' (default --seeds)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument(
        "--plain-steps",
        type=int,
        default=0,
        help="train 'plain' this long instead (evaluated every 500 steps past --steps): its FID "
        "at the CPU seconds the other variants spent, when their steps cost more",
    )
    p.add_argument("--evals", default="250,500,1000,1500,2000,2500,3000")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--deadline", type=float, default=0, help="seconds; 0: none")
    p.add_argument("--out", help="folder for each run's JSON as it finishes")
    p.add_argument("--grid-dir", help="folder for 8x8 PNG grids of the last step's samples")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        variant, seed = json.loads(a.one)
        print(json.dumps(train_one(variant, seed, a)))
        return 0
    names = list(VARIANTS) if a.variants == "all" else a.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    # Train (or load) the feature net once, before the runs share its cache.
    src = get_dataset("digits", image_size=32)
    info = QualityMeter.for_data(src.tensor, src.labels).info
    print(f"feature net: {info}", file=sys.stderr, flush=True)
    passthrough = ["--steps", str(a.steps), "--evals", a.evals, "--width", str(a.width),
                   "--device", a.device]  # fmt: skip
    if a.grid_dir:
        Path(a.grid_dir).mkdir(parents=True, exist_ok=True)
        passthrough += ["--grid-dir", a.grid_dir]
    started = time.time()
    deadline = started + a.deadline if a.deadline > 0 else None

    def argv_for(name: str) -> list[str]:
        if name != "plain" or a.plain_steps <= a.steps:
            return passthrough
        more = ",".join(str(s) for s in range(a.steps + 500, a.plain_steps + 1, 500))
        return [*passthrough, "--steps", str(a.plain_steps), "--evals", f"{a.evals},{more}"]

    def seeds_for(name: str) -> list[int]:
        return a.plain_seeds if name == "plain" and a.plain_seeds else a.seeds

    tasks = [{"key": [n, s], "argv": argv_for(n), "deadline": deadline}
             for s in sorted({*a.seeds, *(a.plain_seeds or ())}) for n in names
             if s in seeds_for(n)]  # fmt: skip
    out_dir = Path(a.out) if a.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    pool = concurrent.futures.ThreadPoolExecutor(a.jobs)
    futures = {pool.submit(_one, t): t for t in tasks}
    for fut in concurrent.futures.as_completed(futures):
        r = fut.result()
        if "steps" in r:
            runs.append(r)
        print(json.dumps({k: r.get(k) for k in ("variant", "seed", "seconds", "status")}),
              file=sys.stderr, flush=True)  # fmt: skip
        if out_dir:
            (out_dir / f"{r['variant']}-{r['seed']}.json").write_text(json.dumps(r))
    pool.shutdown()
    summary = summarise(runs)
    report = {
        "benchmark": "quality",
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": a.device,
            "gpu": torch.cuda.get_device_name() if a.device.startswith("cuda") else None,
            "cpus": os.cpu_count(),
        },
        "feature_net": info,
        "steps": a.steps,
        "summary": summary,
        "runs": sorted(runs, key=lambda r: (names.index(r["variant"]), r["seed"])),
        "seconds": round(time.time() - started),
    }
    print(json.dumps(report, indent=1))
    if a.markdown:
        steps = [s for s in (500, 1000, 2000, 3000) if s <= a.steps]
        print(markdown(summary, "eval", steps), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
