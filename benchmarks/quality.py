"""Sample quality on the offline digits: the plain DCGAN vs the package's small-data defaults.

Both train the same DCGAN (32x32, width 32, batch 64, Adam 2e-4 / beta1 0.5, non-saturating
loss) for the same number of steps; "defaults" adds what `GANConfig` switches on by default:
DiffAugment on every discriminator input (`augment`) and sampling from an exponential moving
average of the generator's weights (`ema`). FID (and KID, precision / recall, classes covered)
in the feature space of the cached digits classifier (`genai_widgets.engine.quality`), on 1,000
samples from fixed noise, at each evaluation step. Each variant is its own process so both can
run side by side (one thread each):

    python benchmarks/quality.py --variant plain    > plain.json
    python benchmarks/quality.py --variant defaults > defaults.json

Prints JSON: the measures per evaluation step, for the sampler in eval mode (what
`run.sample` gives) and, with `--both-modes`, with batch statistics too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

from genai_widgets.data import get_dataset
from genai_widgets.engine.augment import diff_augment, parse_policy
from genai_widgets.engine.config import DEFAULT_EMA, GANConfig
from genai_widgets.engine.ema import GeneratorEMA
from genai_widgets.engine.quality import QualityMeter
from genai_widgets.models import get_model


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--variant", choices=("plain", "defaults"), required=True)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--evals", default="250,500,1000,1500,2000,2500,3000")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--both-modes", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    defaults = GANConfig()
    policy = parse_policy(defaults.augment) if a.variant == "defaults" else ()
    decay = DEFAULT_EMA if a.variant == "defaults" else 0.0  # GANConfig.ema=None on images

    src = get_dataset("digits", image_size=32)
    meter = QualityMeter.for_data(src.tensor, src.labels)
    torch.manual_seed(a.seed)
    G, D = get_model("dcgan", image_size=32, channels=1, latent_dim=64, width=32)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ema = GeneratorEMA(G, decay) if decay else None

    def aug(x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, policy) if policy else x

    batches = src.batches(64, seed=a.seed)
    evals = {int(s) for s in a.evals.split(",")}
    z_fixed = torch.randn(1000, 64, generator=torch.Generator().manual_seed(123))
    out: dict = {"benchmark": "quality", "variant": a.variant, "augment": list(policy),
                 "ema": decay, "feature_net": meter.info, "steps": {}}  # fmt: skip
    t0 = time.time()
    for step in range(1, a.steps + 1):
        real = next(batches)
        fake = G(torch.randn(64, 64))
        loss_d = F.softplus(-D(aug(real))).mean() + F.softplus(D(aug(fake.detach()))).mean()
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
            sampler = ema.module if ema is not None else G
            was = sampler.training
            row = {}
            for mode in ("eval", "train") if a.both_modes else ("eval",):
                sampler.train(mode == "train")
                with torch.no_grad():
                    imgs = torch.cat([sampler(z_fixed[i : i + 250]) for i in range(0, 1000, 250)])
                row[mode] = {k: round(v, 3) for k, v in meter(imgs).items()}
            sampler.train(was)
            out["steps"][step] = row
            print(a.variant, step, round(time.time() - t0), row, file=sys.stderr, flush=True)
    out["seconds"] = round(time.time() - t0)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
