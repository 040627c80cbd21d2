"""The text family's benchmarks (issue 14, "Performance and quality"); each part prints JSON.

    python benchmarks/text.py engine     [--rounds 5] [--steps 140] [--warmup 10]
    python benchmarks/text.py dashboard  [--preset default|tiny] [--rounds 6] [--window 10]
    python benchmarks/text.py generation [--rounds 5] [--tokens 500] [--latency-calls 10]
    python benchmarks/text.py quality    [--minutes 10] [--slice 30]
    python benchmarks/text.py tune       [--minutes 2] [--slice 20] [--candidates a,b,...]

engine      tokens/s of `gw.train_text` (headless: the trainer thread, history, store, strip
            snapshots, time checkpoints at their defaults) vs a plain nanoGPT-style loop on the
            main thread doing the same work inline (the same CharGPT and seed, the same
            batches: the Run draws them with seed + 3, the same AdamW groups, warm-up / cosine
            schedule and grad clip, the held-out loss every eval_every steps and a strip sample
            every sample_every steps). Interleaved rounds, alternating order; the median ratio
            with [min, max]; the two loss sequences compared bit for bit.
dashboard   `benchmarks/overhead.py --family text`: steps/s with a TextDashboard displayed in a
            real kernel vs headless (needs genai_widgets.widgets.text.dashboard).
generation  500 new tokens with the KV cache vs re-running the context for each token, on the
            default model (interleaved rounds, run paused); then the wall time of
            `run.generate(prompt, 200)` while that run trains in the background.
quality     held-out bits per character on "python-docs" of the train_text defaults vs
            nanoGPT's CPU recipe (README: block 64, batch 12, 4x4x128, lr 1e-3, warm-up 100,
            cosine to 1e-4 over 2000 iterations, then 1e-4; its estimate_loss of 20 batches per
            split every 250 iterations), both as plain loops on the main thread, trained in
            alternating time slices until each has had `--minutes` of training, scored at each
            slice end by the same full held-out evaluation (outside the training time), with
            the n-gram and lzma baselines of the same split.
tune        the same slicing for candidate settings of the defaults (short budgets);
            `nanogpt_cpu` among the candidates adds the recipe to beat.

Both quality arms use the package's CharGPT (nanoGPT's model has no biases: bias=False in
its train.py; CharGPT keeps them). Timings on a shared 2-core machine are noisy: each part
records the load average at its start and end.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import genai_widgets as gw
from genai_widgets.engine.config import settings_of
from genai_widgets.families.text.baselines import cached_baselines
from genai_widgets.families.text.config import lr_at, make_text_config
from genai_widgets.families.text.data import split_text
from genai_widgets.families.text.family import (
    DROPOUT_SEED_OFFSET,
    STRIP_SEED_OFFSET,
    TextFamily,
    _adamw,
    build_text_model,
)
from genai_widgets.families.text.generation import LN2, generate_ids, mean_loss, token_logits

DEVICE = torch.device("cpu")
BATCH_SEED_OFFSET = 3  # the Run draws its batches with seed + 3 (engine/run.py)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def spread(values: list[float]) -> dict[str, Any]:
    """Median with [min, max] of per-round values."""
    return {
        "median": round(statistics.median(values), 4),
        "range": [round(min(values), 4), round(max(values), 4)],
    }


# ---------------------------------------------------------------------- the plain loop
class PlainText:
    """A nanoGPT-style training loop on the calling thread that does what a text Run does per
    step (TextFamily.step, the strip snapshot), written out inline. `nanogpt=True` instead
    follows nanoGPT's train.py: its get_lr (0-based iterations) and estimate_loss (eval_iters
    random batches of each split every eval_every iterations), no samples."""

    def __init__(self, config: Any, *, nanogpt: bool = False, eval_iters: int = 20):
        self.config = c = config
        self.settings = settings_of(c)
        self.nanogpt = nanogpt
        self.eval_iters = eval_iters
        self.train, self.held, self.tokenizer = split_text(
            c.data, c.tokenizer, c.block_size, c.val_fraction
        )
        self.vocab = self.tokenizer.vocab_size
        self.model = build_text_model(c, self.vocab, DEVICE)
        self.model.train()
        self.optimizer = _adamw(self.model, self.settings)
        self.batches = self.train.batches(c.batch_size, seed=c.seed + BATCH_SEED_OFFSET)
        self.eval_windows = self.held.windows(c.eval_tokens)
        self.prompt_ids = self.tokenizer.encode(
            TextFamily._strip_prompt(types.SimpleNamespace(held=self.held), c)  # type: ignore[arg-type]
        ) or self.tokenizer.encode("\n")
        if nanogpt:  # estimate_loss's own batches, apart from the training draw
            self.eval_batches = {
                "train": self.train.batches(c.batch_size, seed=c.seed + 11),
                "val": self.held.batches(c.batch_size, seed=c.seed + 12),
            }
        # Dropout draws from the global generator here, seeded as the family seeds the step's
        # own stream (nothing else in this loop draws from it): the same masks, step by step.
        torch.manual_seed(c.seed + DROPOUT_SEED_OFFSET)
        self.step = 0
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.stamps: list[float] = []  # perf_counter after each step (its eval included)
        self.trained_s = 0.0  # seconds inside train_for
        self.samples = 0

    def lr(self, step: int) -> float:
        if not self.nanogpt:
            return lr_at(step, self.settings)
        s, it = self.settings, step - 1  # nanoGPT's get_lr(it), it = 0, 1, ...
        warmup, decay = s["warmup_steps"], s["lr_decay_steps"]
        if it < warmup:
            return s["lr"] * (it + 1) / (warmup + 1)
        if it > decay:
            return s["min_lr"]
        ratio = (it - warmup) / (decay - warmup)
        return s["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (s["lr"] - s["min_lr"])

    @torch.no_grad()
    def estimate_loss(self) -> None:
        self.model.eval()
        for split in ("train", "val"):
            for _ in range(self.eval_iters):
                batch = next(self.eval_batches[split])
                logits = self.model(batch[:, :-1])
                F.cross_entropy(logits.reshape(-1, self.vocab), batch[:, 1:].reshape(-1)).item()
        self.model.train()

    def one_step(self) -> None:
        c, s = self.config, self.settings
        self.step += 1
        step = self.step
        if self.nanogpt and (step - 1) % c.eval_every == 0:
            self.estimate_loss()  # nanoGPT evaluates before iteration 0, 250, ...
        lr = self.lr(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = next(self.batches)
        x, y = batch[:, :-1], batch[:, 1:]
        logits = self.model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        self.losses.append(loss.item())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if s["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s["grad_clip"])
        self.optimizer.step()
        if not self.nanogpt and step % c.eval_every == 0:
            self.model.eval()
            self.val_losses.append(mean_loss(self.model, self.eval_windows, c.batch_size, DEVICE))
            self.model.train()
        self.stamps.append(time.perf_counter())
        if not self.nanogpt and c.sample_every and step % c.sample_every == 0:
            generator = torch.Generator()
            generator.manual_seed(c.seed + STRIP_SEED_OFFSET)
            self.model.eval()
            generate_ids(
                self.model,
                self.prompt_ids,
                c.sample_tokens,
                self.held.block,
                temperature=c.sample_temperature,
                generator=generator,
                vocab_size=self.vocab,
            )
            self.model.train()
            self.samples += 1

    def train_for(self, seconds: float) -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.one_step()
        self.trained_s += time.perf_counter() - start

    def held_out_bpc(self) -> float:
        """Bits per character over the whole held-out split, in non-overlapping windows of
        block_size tokens (what `run.evaluate()` reports)."""
        self.model.eval()
        try:
            loss = mean_loss(self.model, self.held.windows(), self.config.batch_size, DEVICE)
        finally:
            self.model.train()
        return loss / LN2 / self.held.chars_per_token

    def held_out_bpc_sliding(self) -> float:
        """Bits per character over the whole held-out split with every character predicted
        from at least block_size / 2 tokens before it (`run.bits_per_char`'s windows)."""
        self.model.eval()
        try:
            ids = self.held.ids
            logits = token_logits(self.model, ids, self.config.block_size)
            bits = F.cross_entropy(logits, ids[1:], reduction="sum") / LN2
        finally:
            self.model.train()
        return float(bits) / max(1, len(self.held.text) - 1)


# ---------------------------------------------------------------------- 1. engine
def engine_round(args: argparse.Namespace, root: str, k: int) -> tuple[float, list[float], dict]:
    steps = args.warmup + args.steps
    with contextlib.redirect_stdout(sys.stderr):  # the run's summary line
        run = gw.train_text(max_steps=steps, seed=args.seed, run_dir=f"{root}/engine{k}")
        run.wait()
    t = run.history["time"]
    rate = args.steps * run.family.tokens_per_step / (t[steps - 1] - t[args.warmup - 1])
    events = [e for e in run.events_since(0)[1] if e.kind == "CheckpointSaved"]
    extra = {
        "checkpoints_in_window": sum(args.warmup < e.data["step"] < steps for e in events),
        "snapshots": run.snapshot_count,
    }
    return rate, [float(v) for v in run.history["loss"]], extra


def plain_round(args: argparse.Namespace) -> tuple[float, list[float], dict]:
    steps = args.warmup + args.steps
    loop = PlainText(make_text_config(max_steps=steps, seed=args.seed))
    for _ in range(steps):
        loop.one_step()
    t = loop.stamps
    rate = args.steps * loop.config.batch_size * loop.config.block_size
    rate /= t[steps - 1] - t[args.warmup - 1]
    # As the history stores it: float32.
    losses = [float(v) for v in torch.tensor(loop.losses, dtype=torch.float32)]
    return rate, losses, {"samples": loop.samples}


def bench_engine(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()
    rounds = []
    identical, max_diff = True, 0.0
    with tempfile.TemporaryDirectory() as root:
        for r in range(args.rounds):
            order = ("engine", "plain") if r % 2 == 0 else ("plain", "engine")
            out: dict[str, Any] = {"order": order}
            losses = {}
            for arm in order:
                if arm == "engine":
                    rate, losses[arm], extra = engine_round(args, root, r)
                else:
                    rate, losses[arm], extra = plain_round(args)
                out[f"{arm}_tokens_per_s"] = round(rate, 1)
                out.update({f"{arm}_{k}": v for k, v in extra.items()})
            out["ratio"] = round(out["engine_tokens_per_s"] / out["plain_tokens_per_s"], 4)
            diff = max(abs(a - b) for a, b in zip(losses["engine"], losses["plain"], strict=True))
            identical &= losses["engine"] == losses["plain"]
            max_diff = max(max_diff, diff)
            out["loss_max_abs_diff"] = diff
            rounds.append(out)
            print(json.dumps({"round": r, **out}), file=sys.stderr, flush=True)
    ratios = [r["ratio"] for r in rounds]
    return {
        "benchmark": "text engine",
        "machine": machine(),
        "settings": vars(args),
        "model": "train_text defaults: char-gpt 4x4x128, block 128, batch 8, dropout 0.1, "
        "eval/sample every 100",
        "tokens_per_step": make_text_config().batch_size * make_text_config().block_size,
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg(),
        "engine_vs_plain": spread(ratios),
        "ratio_target": 0.97,
        "engine_tokens_per_s": spread([r["engine_tokens_per_s"] for r in rounds]),
        "plain_tokens_per_s": spread([r["plain_tokens_per_s"] for r in rounds]),
        "losses_identical": identical,
        "loss_max_abs_diff": max_diff,
        "rounds": rounds,
    }


# ---------------------------------------------------------------------- 2. dashboard
def bench_dashboard(args: argparse.Namespace) -> dict[str, Any]:
    try:
        found = importlib.util.find_spec("genai_widgets.widgets.text.dashboard") is not None
    except ModuleNotFoundError:  # genai_widgets.widgets.text itself is absent
        found = False
    if not found:
        return {
            "benchmark": "text dashboard",
            "skipped": "genai_widgets.widgets.text.dashboard (TextDashboard) is not installed "
            "in this checkout yet",
        }
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import overhead

    result = overhead.measure("text", args.preset, args.rounds, args.window, args.cells)
    return {"benchmark": "text dashboard", **result}


# ---------------------------------------------------------------------- 3. generation
def bench_generation(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(sys.stderr):
        run = gw.train_text(seed=args.seed, run_dir=f"{root}/gen")
        try:
            while run.step < args.train_first:
                time.sleep(0.1)
            run.pause()
            time.sleep(0.5)  # the step in flight ends
            family = run.family
            prompt = family._prompt_ids(family.strip_prompt)
            rounds = []
            with run.inference_copy("model") as model:
                for r in range(args.rounds):
                    out: dict[str, float] = {}
                    for cached in (True, False) if r % 2 == 0 else (False, True):
                        generator = torch.Generator()
                        generator.manual_seed(r)
                        t0 = time.perf_counter()
                        generate_ids(
                            model,
                            prompt,
                            args.tokens,
                            family.block_size,
                            temperature=0.8,
                            generator=generator,
                            use_cache=cached,
                            vocab_size=family.vocab_size,
                        )
                        seconds = time.perf_counter() - t0
                        out["cached_s" if cached else "uncached_s"] = round(seconds, 4)
                    out["speedup"] = round(out["uncached_s"] / out["cached_s"], 3)
                    rounds.append(out)
            # 200 characters from run.generate while the run trains in the background.
            run.resume()
            time.sleep(2.0)
            step0, latencies = run.step, []
            t_start = time.perf_counter()
            for i in range(args.latency_calls):
                t0 = time.perf_counter()
                run.generate(family.strip_prompt, max_new_tokens=200, seed=i)
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.5)
            steps_during = run.step - step0
            wall = time.perf_counter() - t_start
        finally:
            run.stop()
            run.wait(30)
    speedups = [r["speedup"] for r in rounds]
    return {
        "benchmark": "text generation",
        "machine": machine(),
        "settings": vars(args),
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg(),
        "new_tokens": args.tokens,
        "kv_cache_speedup": spread(speedups),
        "speedup_target": 3.0,
        "cached_tokens_per_s": spread([args.tokens / r["cached_s"] for r in rounds]),
        "uncached_tokens_per_s": spread([args.tokens / r["uncached_s"] for r in rounds]),
        "rounds": rounds,
        "generate_200_chars_while_training_s": {
            **spread(latencies),
            "max": round(max(latencies), 4),
            "calls": latencies,
            "target": 1.0,
            "training_steps_per_s_meanwhile": round(steps_during / wall, 2),
        },
    }


# ---------------------------------------------------------------------- 4. quality, tune
#: nanoGPT's README CPU command on config/train_shakespeare_char.py (train.py's defaults
#: for the rest: weight decay 0.1, beta1 0.9, grad clip 1.0).
NANOGPT_CPU = {
    "block_size": 64,
    "batch_size": 12,
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 128,
    "dropout": 0.0,
    "lr": 1e-3,
    "min_lr": 1e-4,
    "warmup_steps": 100,
    "lr_decay_steps": 2000,
    "max_steps": None,  # trained for the wall time, at min_lr past 2000 iterations
    "beta2": 0.99,
    "weight_decay": 0.1,
    "grad_clip": 1.0,
    "eval_every": 250,
    "sample_every": None,
}

#: Candidate defaults for `tune`: changes to the train_text defaults.
CANDIDATES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "lr2e-3": {"lr": 2e-3},
    "batch16": {"batch_size": 16},
    "batch64": {"batch_size": 64},
    "block64": {"block_size": 64},
    "block64-batch64": {"block_size": 64, "batch_size": 64},
    "warmup50": {"warmup_steps": 50},
    "embd192": {"n_embd": 192, "n_head": 4},
    "lr2e-3-block64-batch64": {"lr": 2e-3, "block_size": 64, "batch_size": 64},
    "lr2e-3-batch16": {"lr": 2e-3, "batch_size": 16},
    "lr2e-3-block64-batch32": {"lr": 2e-3, "block_size": 64},
    "dropout0.1": {"dropout": 0.1},
    "dropout0.2": {"dropout": 0.2},
    # The cosine decay over 3000 steps of 4096 tokens: about 10 minutes of this 2-core CPU.
    "lr2e-3-block64-batch64-decay3000": {
        "lr": 2e-3,
        "block_size": 64,
        "batch_size": 64,
        "lr_decay_steps": 3000,
    },
    # Updates of 1024 tokens, decaying over 10000 of them: about 10 minutes of a 2-core CPU.
    "lr2e-3-block64-batch16-decay10k": {
        "lr": 2e-3,
        "block_size": 64,
        "batch_size": 16,
        "lr_decay_steps": 10000,
    },
    "lr2e-3-block128-batch8-decay10k": {
        "lr": 2e-3,
        "block_size": 128,
        "batch_size": 8,
        "lr_decay_steps": 10000,
    },
    # Batch 8 of 128 runs about 7.7k steps in 10 minutes here: a decay that ends there.
    "lr2e-3-block128-batch8-decay7500": {
        "lr": 2e-3,
        "block_size": 128,
        "batch_size": 8,
        "lr_decay_steps": 7500,
    },
    "lr3e-3-block128-batch8-decay7500": {
        "lr": 3e-3,
        "block_size": 128,
        "batch_size": 8,
        "lr_decay_steps": 7500,
    },
    "lr3e-3-block128-batch16-decay4200": {
        "lr": 3e-3,
        "block_size": 128,
        "batch_size": 16,
        "lr_decay_steps": 4200,
    },
    # The arms above over-fit from minute 4.5 on a quiet machine (1,400 steps a minute):
    # dropout, with the decay spread over the 10 minutes.
    "lr2e-3-block128-batch8-decay14k-dropout0.1": {
        "lr": 2e-3,
        "block_size": 128,
        "batch_size": 8,
        "lr_decay_steps": 14000,
        "dropout": 0.1,
    },
    "lr2e-3-block128-batch8-decay14k-dropout0.2": {
        "lr": 2e-3,
        "block_size": 128,
        "batch_size": 8,
        "lr_decay_steps": 14000,
        "dropout": 0.2,
    },
    "lr2e-3-decay3000": {"lr": 2e-3, "lr_decay_steps": 3000},
    "lr3e-3-block64-batch64-decay3000": {
        "lr": 3e-3,
        "block_size": 64,
        "batch_size": 64,
        "lr_decay_steps": 3000,
    },
}


def sliced(arms: dict[str, PlainText], minutes: float, slice_s: float) -> dict[str, Any]:
    """Train the arms in turn, `slice_s` seconds each (the order rotating every cycle), until
    each has had `minutes` of training; a full held-out score after each of its slices."""
    budget = minutes * 60.0
    curves: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
    names = list(arms)
    cycle = 0
    while any(a.trained_s < budget - 1e-6 for a in arms.values()):
        order = names[cycle % len(names) :] + names[: cycle % len(names)]
        for name in order:
            arm = arms[name]
            left = budget - arm.trained_s
            if left <= 0:
                continue
            arm.train_for(min(slice_s, left))
            point = (round(arm.trained_s / 60.0, 3), round(arm.held_out_bpc(), 4))
            curves[name].append(point)
            print(json.dumps({"arm": name, "step": arm.step, "min_bpc": point}), file=sys.stderr)
        cycle += 1
    out: dict[str, Any] = {}
    for name, arm in arms.items():
        c = arm.config
        out[name] = {
            "settings": {
                k: getattr(c, k)
                for k in (
                    "block_size",
                    "batch_size",
                    "n_layer",
                    "n_head",
                    "n_embd",
                    "lr",
                    "min_lr",
                    "warmup_steps",
                    "lr_decay_steps",
                    "dropout",
                )
            },
            "steps": arm.step,
            "trained_s": round(arm.trained_s, 1),
            "tokens_per_s": round(arm.step * c.batch_size * c.block_size / arm.trained_s, 1),
            "final_val_bpc": curves[name][-1][1],
            "final_val_bpc_sliding": round(arm.held_out_bpc_sliding(), 4),
            "curve_minutes_val_bpc": curves[name],
        }
    return out


def baselines_of(arm: PlainText) -> dict[str, Any]:
    return dict(cached_baselines(arm.train.text, arm.held.text))


def bench_quality(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()
    arms = {
        "defaults": PlainText(make_text_config(seed=args.seed)),
        "nanogpt_cpu": PlainText(make_text_config(seed=args.seed, **NANOGPT_CPU), nanogpt=True),
    }
    base = baselines_of(arms["defaults"])
    result = sliced(arms, args.minutes, args.slice)
    best = base[str(base["best_ngram"])]
    return {
        "benchmark": "text quality",
        "machine": machine(),
        "settings": vars(args),
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg(),
        "data": "python-docs (tail 10% held out)",
        "baselines_bpc": base,
        "defaults_beat_best_ngram": result["defaults"]["final_val_bpc"] < best,
        "defaults_beat_nanogpt_cpu": result["defaults"]["final_val_bpc"]
        < result["nanogpt_cpu"]["final_val_bpc"],
        "arms": result,
    }


def bench_tune(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()
    names = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES and n != "nanogpt_cpu"]
    if unknown:
        raise SystemExit(
            f"unknown candidates {unknown}; choose from {', '.join(CANDIDATES)}, nanogpt_cpu"
        )
    arms = {
        n: PlainText(make_text_config(seed=args.seed, **NANOGPT_CPU), nanogpt=True)
        if n == "nanogpt_cpu"
        else PlainText(make_text_config(seed=args.seed, **CANDIDATES[n]))
        for n in names
    }
    result = sliced(arms, args.minutes, args.slice)
    table = sorted(
        (
            {"candidate": n, **{k: v for k, v in r.items() if k != "curve_minutes_val_bpc"}}
            for n, r in result.items()
        ),
        key=lambda r: r["final_val_bpc"],
    )
    return {
        "benchmark": "text tune",
        "machine": machine(),
        "settings": vars(args),
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg(),
        "baselines_bpc": baselines_of(next(iter(arms.values()))),
        "table": table,
        "curves": {n: r["curve_minutes_val_bpc"] for n, r in result.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("engine", help="gw.train_text vs the plain loop: tokens/s, losses")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=140, help="timed steps per round")
    p.add_argument("--warmup", type=int, default=10, help="untimed first steps")
    p = sub.add_parser("dashboard", help="steps/s with a TextDashboard shown vs headless")
    p.add_argument("--preset", choices=("default", "tiny"), default="default")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--cells", type=int, default=40)
    p = sub.add_parser("generation", help="KV cache vs none; 200 characters while training")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--tokens", type=int, default=500)
    p.add_argument("--train-first", type=int, default=20, help="steps before measuring")
    p.add_argument("--latency-calls", type=int, default=10)
    p = sub.add_parser("quality", help="held-out bpc: defaults vs nanoGPT's CPU recipe")
    p.add_argument("--minutes", type=float, default=10.0, help="training time of each arm")
    p.add_argument("--slice", type=float, default=30.0, help="seconds per turn")
    p = sub.add_parser("tune", help="held-out bpc of candidate defaults, short budgets")
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--slice", type=float, default=20.0)
    p.add_argument(
        "--candidates",
        default="",
        help=f"comma-separated: {', '.join(CANDIDATES)}, nanogpt_cpu (the recipe to beat)",
    )
    for p in sub.choices.values():
        p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bench = {
        "engine": bench_engine,
        "dashboard": bench_dashboard,
        "generation": bench_generation,
        "quality": bench_quality,
        "tune": bench_tune,
    }[args.part]
    print(json.dumps(bench(args), indent=2))


if __name__ == "__main__":
    main()
