"""torchrun jobs (nproc=N) against one process, and what the job's control channel costs.

Two measurements, each against a baseline measured in the same run, interleaved:

  scaling   a real job, `gw.train_gan(..., nproc=P)` (P processes x 1 thread each: torchrun's
            OMP_NUM_THREADS=1), against one process, `gw.train_gan(..., nproc=1)` in this
            process with torch.set_num_threads(P) threads: the same family, model, data and
            global batch. steps/s and images/s from the store's time column, after a warm-up.
            Rounds alternate the order of the two arms.
  control   the per-step cost of the job's control channel (`distributed.Control.after_step`:
            the metric all-reduce, which also carries rank 0's command count, rank 0's read of
            the control table, the heartbeat) inside a 2-rank torchrun job: blocks of steps with it and
            without it alternate in the same processes, on the same model, data and gradient
            all-reduce. `control_cost` = 1 - (steps/s with it) / (steps/s without it); and,
            directly, rank 0's time inside after_step as a fraction of those blocks' time.

Prints JSON (medians and every round):
    python benchmarks/ddp.py [--rounds 3] [--steps 60] [--warmup 10] [--procs 2]
                             [--batch-size 64] [--device cpu]
                             [--control-blocks 8] [--control-steps 25]
On a GPU machine: --device cuda --procs 1,2,4 gives the scaling of 1, 2 and 4 processes, one
GPU each, against one process on one GPU (the local arm then uses one GPU, not P threads).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
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


def _rate(history: dict[str, np.ndarray], warmup: int) -> float:
    """Steps per second between step `warmup` and the last step (the store's time column)."""
    steps, times = history["step"], history["time"]
    keep = steps >= warmup
    steps, times = steps[keep], times[keep]
    if len(steps) < 2 or times[-1] <= times[0]:
        return float("nan")
    return float((steps[-1] - steps[0]) / (times[-1] - times[0]))


def _common(args: argparse.Namespace, run_dir: str) -> dict:
    return {
        "data": "digits",
        "batch_size": args.batch_size,
        "max_steps": args.warmup + args.steps,
        "seed": args.seed,
        "device": args.device,
        "sample_every": 10**6,  # snapshots out of the timed steps (both arms)
        "checkpoint_every_seconds": 0,
        "run_dir": run_dir,
    }


def job_arm(args: argparse.Namespace, procs: int, run_dir: str) -> dict:
    """A real torchrun job of `procs` processes, from launch to its end; steps/s after warm-up."""
    t0 = time.perf_counter()
    env = {"OMP_NUM_THREADS": "1"}
    with _env(env):
        run = gw.train_gan(nproc=procs, **_common(args, run_dir))
        status = run.wait(600)
    wall = time.perf_counter() - t0
    run.kill(timeout=10)
    rate = _rate(gw.load_run(run_dir).history, args.warmup)
    return {"status": status, "steps_per_s": rate, "wall_s": wall}


def local_arm(args: argparse.Namespace, threads: int, run_dir: str) -> dict:
    """One process (this one) with `threads` threads, the same run."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        run = gw.train_gan(**_common(args, run_dir))
        status = run.wait()
        wall = time.perf_counter() - t0
    finally:
        torch.set_num_threads(before)
    return {"status": status, "steps_per_s": _rate(run.history, args.warmup), "wall_s": wall}


@contextlib.contextmanager
def _env(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def scaling(args: argparse.Namespace, root: str) -> dict:
    procs_list = [int(p) for p in str(args.procs).split(",")]
    rounds = []
    for r in range(args.rounds):
        result: dict[str, float | str] = {}
        for procs in procs_list:
            if procs == 1 and args.device != "cpu":
                continue  # the local arm is the one-process case
            threads = 1 if args.device != "cpu" else procs
            arms = [("job", procs), ("local", threads)]
            if r % 2:
                arms.reverse()
            for kind, n in arms:
                run_dir = os.path.join(root, f"{kind}-{procs}-{r}")
                arm = job_arm if kind == "job" else local_arm
                out = arm(args, n, run_dir)
                key = f"{kind}_{procs}"
                result[f"{key}_steps_per_s"] = out["steps_per_s"]
                result[f"{key}_images_per_s"] = out["steps_per_s"] * args.batch_size
                result[f"{key}_wall_s"] = out["wall_s"]
                result[f"{key}_status"] = out["status"]
            result[f"job_vs_local_{procs}"] = (
                result[f"job_{procs}_steps_per_s"] / result[f"local_{procs}_steps_per_s"]
            )
        rounds.append(result)
        print(json.dumps({"round": r, **result}), file=sys.stderr, flush=True)
    numeric = [k for k, v in rounds[0].items() if isinstance(v, float)]
    return {
        "median": {k: statistics.median(r[k] for r in rounds) for k in numeric},
        "rounds": rounds,
    }


# ---------------------------------------------------------------- the control-cost worker
def control_worker(out_path: str, blocks: int, steps: int, batch_size: int, seed: int) -> None:
    """Run under torchrun (2 ranks): blocks of `steps` steps with and without the control
    channel, alternating; rank 0 writes the per-block rates to `out_path`."""
    import torch.distributed as dist

    from genai_widgets.engine.distributed import Control, RankBatches
    from genai_widgets.engine.gradients import enable_gradient_averaging
    from genai_widgets.families import build_run

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    run_dir = tempfile.mkdtemp(prefix=f"gw-ddp-bench-{rank}-")
    config = gw.GANConfig(
        data="digits",
        batch_size=batch_size,
        seed=seed,
        device="cpu",
        run_dir=run_dir,
        checkpoint_every_seconds=0,
    )
    run = build_run(config)
    batches = RankBatches(run._batches, rank, world)
    enable_gradient_averaging()
    workers: list = [None] * world
    dist.all_gather_object(workers, {"rank": rank, "pid": os.getpid(), "host": "local"})
    control = Control(Path(run_dir), rank, world, None, workers)
    settings = dict(run._settings)

    def next_real() -> torch.Tensor:
        return next(batches)

    inside = {"seconds": 0.0, "total": 0.0}  # time in after_step, and in with-blocks

    def block(with_control: bool) -> float:
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            values = run.family.step(next_real, settings, run.step + 1, check_finite=False)
            run.step += 1
            if with_control:  # the job's way: the channel adds the averaged row
                c0 = time.perf_counter()
                control.after_step(run, values, 0.0, math.nan)
                inside["seconds"] += time.perf_counter() - c0
            else:  # one process's way: this rank's row
                run._sink.add(run.step, 0.0, values, math.nan)
        if with_control:
            c0 = time.perf_counter()
            control.settle(run)  # the block's last step in flight
            inside["seconds"] += time.perf_counter() - c0
        dist.barrier()
        elapsed = time.perf_counter() - t0
        if with_control:
            inside["total"] += elapsed
        return steps / elapsed

    block(True)  # warm-up: first steps, the heartbeat's first write
    block(False)
    inside.update(seconds=0.0, total=0.0)
    rates: dict[str, list[float]] = {"with": [], "without": []}
    for b in range(blocks):
        order = [True, False] if b % 2 == 0 else [False, True]
        for with_control in order:
            rates["with" if with_control else "without"].append(block(with_control))
    control.close()
    run._store.close()
    if rank == 0:
        rates["inside_fraction"] = [inside["seconds"] / inside["total"]]
        rates["inside_ms_per_step"] = [1e3 * inside["seconds"] / (steps * blocks)]
        Path(out_path).write_text(json.dumps(rates))
    dist.destroy_process_group()


def control_cost(args: argparse.Namespace, root: str) -> dict:
    out = os.path.join(root, "control.json")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += [__file__, "_control_worker", out, str(args.control_blocks), str(args.control_steps)]
    cmd += [str(args.batch_size), str(args.seed)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(cmd, check=True, env=env, stdout=sys.stderr, stderr=sys.stderr)
    rates = json.loads(Path(out).read_text())
    pairs = [w / wo for w, wo in zip(rates["with"], rates["without"], strict=True)]
    fraction, per_step = rates.pop("inside_fraction")[0], rates.pop("inside_ms_per_step")[0]
    return {
        "median": {
            "with_control_steps_per_s": statistics.median(rates["with"]),
            "without_control_steps_per_s": statistics.median(rates["without"]),
            "with_vs_without": statistics.median(pairs),
            "control_cost": 1 - statistics.median(pairs),
            # Measured directly: rank 0's time inside after_step over its with-blocks' time.
            "after_step_fraction_of_step_time": fraction,
            "after_step_ms_per_step": per_step,
        },
        "blocks": [{"with": w, "without": wo} for w, wo in zip(*rates.values(), strict=True)],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_control_worker":
        out, blocks, steps, batch, seed = sys.argv[2:7]
        control_worker(out, int(blocks), int(steps), int(batch), int(seed))
        return
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--procs", default="2", help="comma-separated process counts, e.g. 1,2,4")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--control-blocks", type=int, default=8)
    p.add_argument("--control-steps", type=int, default=25)
    p.add_argument("--skip", choices=["scaling", "control"], default=None)
    args = p.parse_args()
    load_at_start = os.getloadavg()
    result: dict = {
        "benchmark": "ddp",
        "device": args.device,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "settings": vars(args),
        "load_average_at_start": load_at_start,
    }
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(sys.stderr):
        if args.skip != "scaling":
            result["scaling"] = scaling(args, root)
        if args.skip != "control" and args.device == "cpu":
            result["control"] = control_cost(args, root)
    result["load_average_at_end"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
