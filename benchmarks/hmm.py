"""The HMM family's benchmarks (issue 16): Baum-Welch of genai_widgets vs hmmlearn; each part
prints JSON.

    python benchmarks/hmm.py categorical [--states 32] [--symbols 200000] [--iters 5] [--rounds 3]
    python benchmarks/hmm.py gaussian    [--states 10] [--sequences 50] [--length 100] [--iters 5] [--repeats 10]
    python benchmarks/hmm.py sampling    [--n 100000] [--rounds 5]
    python benchmarks/hmm.py gpu         [--states 256] [--sequences 1000] [--length 25]
    python benchmarks/hmm.py all         (each part in turn, at its defaults)

categorical  K=32 states on the first lines of the "python-docs" training text (each line one
             sequence, as read_data cuts it) until --symbols symbols: the same X, lengths and
             initial parameters (algorithm.random_init, hmmlearn's own random init for the
             seed) for every arm. Arms: `algorithm` (pack once, then e_step + m_step per
             iteration, float64, on the calling thread), `engine` (gw.train_hmm headless: the
             trainer thread, history, snapshots with a live sample every iteration, step
             checkpoints at their default; its rate from the run's own per-step time stamps),
             `algorithm_1thread` (the same at torch.set_num_threads(1)),
             `hmmlearn_log` (CategoricalHMM, init_params="", tol=-inf, implementation "log",
             its default) and `hmmlearn_scaling` (implementation="scaling"). EM iterations
             per second per arm, ratios against hmmlearn_log in the same round; interleaved
             rounds, the order rotated each round; the median ratio with [min, max]. The
             log-likelihood histories (hmmlearn's monitor_.history: that of the parameters
             before each M-step) are compared: the largest relative difference. Target of
             the issue: algorithm and engine at least 3x hmmlearn_log on a 2-core CPU.
gaussian     K=10, diagonal covariances, 50 sequences x 100 vectors (d=2) drawn from a known
             gaussian HMM; the k-means init of random_init for both; --iters EM iterations
             per fit, each fit repeated --repeats times per arm and round (one fit takes
             milliseconds); `algorithm_1thread` at torch.set_num_threads(1). Target: not slower than
             hmmlearn's GaussianHMM.
sampling     --n symbols from the same categorical model (random_init, K=32, M=103):
             algorithm.sample vs hmmlearn's model.sample(n); symbols per second.
gpu          only where torch.cuda.is_available(): K=256 on 1,000 sequences x 25 symbols
             of python-docs, the algorithm on CUDA (float64 and float32) vs hmmlearn on the
             CPU (log); otherwise {"skipped": "no GPU"}.
profile      (in categorical and gaussian; --no-profile skips it): where the algorithm's iteration spends its time:
             the forward pass, the rest of the E-step (the backward recursion and the
             statistics), the M-step, per-step costs of the time loop, and the iteration at
             1 and at 2 torch threads.

Timings on a shared 2-core machine are noisy: each part records the load average at its
start and end, and the machine (cores, torch threads).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genai_widgets as gw
from genai_widgets.families.hmm import algorithm as alg
from genai_widgets.families.hmm.data import read_data

logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # "Model is not converging" at 1e-16


def machine() -> dict[str, Any]:
    import hmmlearn

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "hmmlearn": hmmlearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def spread(values: list[float]) -> dict[str, Any]:
    """Median with [min, max] of per-round values."""
    return {
        "median": round(statistics.median(values), 4),
        "range": [round(min(values), 4), round(max(values), 4)],
    }


def rotated(arms: list[str], r: int) -> list[str]:
    """The arms in round r's order: rotated so that drift in load favours none."""
    i = r % len(arms)
    return arms[i:] + arms[:i]


def max_rel(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / max(abs(y), 1e-300) for x, y in zip(a, b, strict=True))


def to_params(init: dict[str, np.ndarray], device: Any = "cpu", dtype=torch.float64) -> alg.Params:
    return alg.Params(
        **{k: torch.tensor(v[None], dtype=dtype, device=device) for k, v in init.items()}
    )


def em(params: alg.Params, packed: alg.Packed, iters: int, covariance: str = "diag"):
    """`iters` EM iterations of the algorithm; (the log-likelihood history, the last params)."""
    history = []
    priors = alg.Priors()
    for _ in range(iters):
        e = alg.e_step(params, packed)
        history.append(e.log_likelihood)
        params = alg.m_step(params, packed, e, priors, covariance)
    if packed.x.device.type == "cuda":
        torch.cuda.synchronize()
    return [float(v[0]) for v in history], params


# ---------------------------------------------------------------------- the data
def docs_lines(n_symbols: int) -> tuple[list[np.ndarray], int]:
    """The first lines of python-docs' training sequences until n_symbols; (lines, M)."""
    data = read_data("python-docs", None, "categorical", 0.1, 0)
    out, total = [], 0
    for s in data.train.split():
        if total >= n_symbols:
            break
        out.append(s.numpy())
        total += len(s)
    return out, int(max(s.max() for s in out)) + 1


def categorical_hmmlearn(init: dict, m: int, iters: int, implementation: str, seed: int):
    from hmmlearn import hmm

    k = len(init["startprob"])
    model = hmm.CategoricalHMM(
        n_components=k,
        n_features=m,
        init_params="",
        n_iter=iters,
        tol=-math.inf,
        implementation=implementation,
        random_state=seed,
    )
    model.startprob_ = init["startprob"].copy()
    model.transmat_ = init["transmat"].copy()
    model.emissionprob_ = init["emissionprob"].copy()
    return model


# ---------------------------------------------------------------------- categorical
def run_categorical(args) -> dict[str, Any]:
    load_at_start = os.getloadavg()
    lines, m = docs_lines(args.symbols)
    lengths = [len(s) for s in lines]
    x_np = np.concatenate(lines)
    X = x_np.reshape(-1, 1)
    n = len(x_np)
    init = alg.random_init(args.states, args.seed, "categorical", m, None, 0.0)
    t0 = time.perf_counter()
    packed = alg.pack(torch.from_numpy(x_np), lengths)
    pack_s = time.perf_counter() - t0
    # Warm-up outside the rounds: the first pass of torch's ops (allocator, dispatch caches).
    em(to_params(init), packed, 1)
    categorical_hmmlearn(init, m, 1, "log", args.seed).fit(X[: sum(lengths[:20])], lengths[:20])
    arms = ["algorithm", "algorithm_1thread", "engine", "hmmlearn_log", "hmmlearn_scaling"]
    if args.skip_scaling:
        arms.remove("hmmlearn_scaling")
    rounds, histories = [], {}
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(sys.stderr):
        for r in range(args.rounds):
            result: dict[str, Any] = {"order": rotated(arms, r)}
            for arm in result["order"]:
                if arm.startswith("algorithm"):
                    threads = torch.get_num_threads()
                    if arm == "algorithm_1thread":
                        torch.set_num_threads(1)
                    t0 = time.perf_counter()
                    hist, _ = em(to_params(init), packed, args.iters)
                    result[arm] = args.iters / (time.perf_counter() - t0)
                    torch.set_num_threads(threads)
                elif arm == "engine":
                    run = gw.train_hmm(
                        data=x_np,
                        lengths=lengths,
                        n_states=args.states,
                        init={k: v.copy() for k, v in init.items()},
                        max_iters=args.iters,
                        tol=-math.inf,
                        val_fraction=0.0,
                        device="cpu",
                        seed=args.seed,
                        run_dir=f"{root}/engine{r}",
                    )
                    run.wait()
                    stamps = run.history["time"]
                    # Steps 2..N from the trainer's own stamps (step 1 carries the start-up).
                    result[arm] = (len(stamps) - 1) / float(stamps[-1] - stamps[0])
                    hist = [float(v) * n for v in run.history["log_likelihood"]]
                else:
                    impl = arm.split("_")[1]
                    model = categorical_hmmlearn(init, m, args.iters, impl, args.seed)
                    t0 = time.perf_counter()
                    model.fit(X, lengths)
                    result[arm] = args.iters / (time.perf_counter() - t0)
                    hist = list(model.monitor_.history)
                histories.setdefault(arm, hist)
            for arm in arms:
                if arm != "hmmlearn_log":
                    result[f"{arm}_vs_hmmlearn_log"] = result[arm] / result["hmmlearn_log"]
            rounds.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    ref = histories["hmmlearn_log"]
    agreement = {
        f"{arm}_vs_hmmlearn_log": max_rel(histories[arm], ref)
        for arm in arms
        if arm != "hmmlearn_log"
    }
    summary = {k: spread([r[k] for r in rounds]) for k in rounds[0] if k != "order"}
    out = {
        "benchmark": "hmm categorical",
        "unit": "EM iterations per second",
        "settings": vars(args) | {"n_symbols": n, "n_sequences": len(lengths), "M": m},
        "machine": machine(),
        "longest_sequence": max(lengths),
        "pack_seconds": round(pack_s, 4),
        "load_average_at_start": load_at_start,
        "median": summary,
        "log_likelihood_max_relative_difference": agreement,
        "log_likelihood_history_hmmlearn_log": ref,
        "target_3x_hmmlearn_log": {
            arm: bool(summary[f"{arm}_vs_hmmlearn_log"]["median"] >= 3.0)
            for arm in ("algorithm", "algorithm_1thread", "engine")
        },
        "rounds": rounds,
    }
    if not args.no_profile:
        out["profile"] = profile(init, packed, args)
    out["load_average_at_end"] = os.getloadavg()
    return out


def profile(init: dict, packed: alg.Packed, args) -> dict[str, Any]:
    """Where one iteration of the algorithm spends its time (best of --profile-repeats)."""
    params = to_params(init)
    priors = alg.Priors()

    def best(fn, repeats=args.profile_repeats) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    e = alg.e_step(params, packed)
    forward_s = best(lambda: alg.forward(params, packed))
    e_step_s = best(lambda: alg.e_step(params, packed))
    m_step_s = best(lambda: alg.m_step(params, packed, e, priors))
    steps = len(packed.sizes)
    # One time step of the forward loop, on its widest slice, as the loop does it.
    b, _ = alg.emission_log_shift(params, packed.x)
    alpha = torch.rand_like(b)
    n0 = packed.sizes[1] if steps > 1 else packed.sizes[0]
    reps = 200

    def one_forward_step():
        for _ in range(reps):
            a = torch.bmm(alpha[:, :n0], params.transmat) * b[:, n0 : 2 * n0]
            s = a.sum(-1)
            alpha[:, n0 : 2 * n0] = a / s.unsqueeze(-1)

    def tiny_step():  # the same ops on 1 sequence: the per-op (dispatch) cost alone
        for _ in range(reps):
            a = torch.bmm(alpha[:, :1], params.transmat) * b[:, 1:2]
            s = a.sum(-1)
            alpha[:, 1:2] = a / s.unsqueeze(-1)

    def forward_loop(b: torch.Tensor) -> None:  # algorithm.forward's recursion, on a given B
        sizes, offsets, a_mat = packed.sizes, packed.offsets, params.transmat
        out = torch.empty_like(b)
        out[:, : sizes[0]] = params.startprob.unsqueeze(1) * b[:, : sizes[0]]
        for t in range(1, steps):
            o, n, po = offsets[t], sizes[t], offsets[t - 1]
            a = torch.bmm(out[:, po : po + n], a_mat) * b[:, o : o + n]
            out[:, o : o + n] = a / a.sum(-1).unsqueeze(-1)

    # B as emission_log_shift returns it is a transposed view (strides (.., 1, P)): each
    # time step reads its K columns P elements apart. The same recursion on a contiguous B:
    emission_s = best(lambda: alg.emission_log_shift(params, packed.x))
    loop_view_s = best(lambda: forward_loop(b))
    b_contiguous = b.contiguous()
    loop_contiguous_s = best(lambda: forward_loop(b_contiguous))
    widest_step_s = best(one_forward_step, 3) / reps
    tiny_step_s = best(tiny_step, 3) / reps
    threads = torch.get_num_threads()
    per_threads = {}
    for t in sorted({1, threads}):
        torch.set_num_threads(t)
        per_threads[str(t)] = round(
            best(lambda: alg.m_step(params, packed, alg.e_step(params, packed), priors)), 4
        )
    torch.set_num_threads(threads)
    return {
        "seconds": {
            "iteration": round(e_step_s + m_step_s, 4),
            "forward": round(forward_s, 4),
            "e_step_after_forward": round(e_step_s - forward_s, 4),
            "m_step": round(m_step_s, 4),
        },
        "emission_lookup": round(emission_s, 4),
        "forward_recursion_on_b_as_returned": round(loop_view_s, 4),
        "forward_recursion_on_contiguous_b": round(loop_contiguous_s, 4),
        "b_is_contiguous": bool(b.is_contiguous()),
        "time_steps": steps,
        "widest_slice": n0,
        "forward_step_widest_us": round(widest_step_s * 1e6, 1),
        "forward_step_one_sequence_us": round(tiny_step_s * 1e6, 1),
        "iteration_seconds_by_torch_threads": per_threads,
    }


# ---------------------------------------------------------------------- gaussian
def gaussian_truth(k: int, d: int, seed: int) -> dict[str, np.ndarray]:
    rs = np.random.RandomState(1000 + seed)
    trans = rs.dirichlet(np.ones(k), size=k) + 4 * np.eye(k)
    return {
        "startprob": np.full(k, 1.0 / k),
        "transmat": trans / trans.sum(1, keepdims=True),
        "means": rs.uniform(-10, 10, size=(k, d)),
        "covars": rs.uniform(0.5, 2.0, size=(k, d)),
    }


def draw_gaussian(truth: dict, n_seq: int, length: int, seed: int) -> np.ndarray:
    rs = np.random.RandomState(2000 + seed)
    k, d = truth["means"].shape
    out = []
    for _ in range(n_seq):
        s = rs.choice(k, p=truth["startprob"])
        for _t in range(length):
            out.append(truth["means"][s] + np.sqrt(truth["covars"][s]) * rs.randn(d))
            s = rs.choice(k, p=truth["transmat"][s])
    return np.asarray(out)


def run_gaussian(args) -> dict[str, Any]:
    from hmmlearn import hmm

    load_at_start = os.getloadavg()
    truth = gaussian_truth(args.states, args.dim, args.seed)
    X = draw_gaussian(truth, args.sequences, args.length, args.seed)
    lengths = [args.length] * args.sequences
    min_covar = 1e-3
    init = alg.random_init(args.states, args.seed, "gaussian", None, X, min_covar)
    packed = alg.pack(torch.from_numpy(X), lengths)

    def hmmlearn_fit():
        model = hmm.GaussianHMM(
            n_components=args.states,
            covariance_type="diag",
            min_covar=min_covar,
            init_params="",
            n_iter=args.iters,
            tol=-math.inf,
            random_state=args.seed,
        )
        model.startprob_ = init["startprob"].copy()
        model.transmat_ = init["transmat"].copy()
        model.means_ = init["means"].copy()
        model.covars_ = init["covars"].copy()
        model.fit(X, lengths)
        return list(model.monitor_.history)

    em(to_params(init), packed, 1)  # warm-up outside the rounds (torch's first pass)
    hmmlearn_fit()
    arms = ["algorithm", "algorithm_1thread", "hmmlearn"]
    rounds, histories = [], {}
    for r in range(args.rounds):
        result: dict[str, Any] = {"order": rotated(arms, r)}
        for arm in result["order"]:
            t0 = time.perf_counter()
            threads = torch.get_num_threads()
            if arm == "algorithm_1thread":
                torch.set_num_threads(1)
            for _ in range(args.repeats):
                if arm.startswith("algorithm"):
                    hist, _ = em(to_params(init), packed, args.iters)
                else:
                    hist = hmmlearn_fit()
            result[arm] = args.repeats * args.iters / (time.perf_counter() - t0)
            torch.set_num_threads(threads)
            histories.setdefault(arm, hist)
        for arm in arms[:2]:
            result[f"{arm}_vs_hmmlearn"] = result[arm] / result["hmmlearn"]
        rounds.append(result)
    summary = {k: spread([r[k] for r in rounds]) for k in rounds[0] if k != "order"}
    out = {
        "benchmark": "hmm gaussian",
        "unit": "EM iterations per second",
        "settings": vars(args) | {"covariance": "diag", "min_covar": min_covar},
        "machine": machine(),
        "load_average_at_start": load_at_start,
        "median": summary,
        "log_likelihood_max_relative_difference": max_rel(
            histories["algorithm"], histories["hmmlearn"]
        ),
        "target_not_slower": {
            arm: bool(summary[f"{arm}_vs_hmmlearn"]["median"] >= 1.0) for arm in arms[:2]
        },
        "rounds": rounds,
    }
    if not args.no_profile:
        out["profile"] = profile(init, packed, args)
    out["load_average_at_end"] = os.getloadavg()
    return out


# ---------------------------------------------------------------------- sampling
def run_sampling(args) -> dict[str, Any]:
    load_at_start = os.getloadavg()
    _, m = docs_lines(args.model_symbols)
    init = alg.random_init(args.states, args.seed, "categorical", m, None, 0.0)
    params = to_params(init)
    model = categorical_hmmlearn(init, m, 1, "log", args.seed)
    alg.sample(params, 100, torch.Generator().manual_seed(0))  # warm-up
    model.sample(100, random_state=0)
    arms = ["algorithm", "hmmlearn"]
    rounds = []
    for r in range(args.rounds):
        result: dict[str, Any] = {"order": rotated(arms, r)}
        counts = {}
        for arm in result["order"]:
            t0 = time.perf_counter()
            if arm == "algorithm":
                g = torch.Generator().manual_seed(args.seed + r)
                symbols, _ = alg.sample(params, args.n, g)
            else:
                symbols, _ = model.sample(args.n, random_state=args.seed + r)
            result[arm] = args.n / (time.perf_counter() - t0)
            counts[arm] = np.bincount(np.asarray(symbols).ravel(), minlength=m)
        # Both draw from the same model: their symbol frequencies agree to sampling noise.
        a, b = (counts[arm] / counts[arm].sum() for arm in arms)
        result["symbol_frequency_l1"] = float(np.abs(a - b).sum())
        result["algorithm_vs_hmmlearn"] = result["algorithm"] / result["hmmlearn"]
        rounds.append(result)
    summary = {k: spread([r[k] for r in rounds]) for k in rounds[0] if k != "order"}
    return {
        "benchmark": "hmm sampling",
        "unit": "symbols per second",
        "settings": vars(args) | {"M": m},
        "machine": machine(),
        "load_average_at_start": load_at_start,
        "median": summary,
        "rounds": rounds,
        "load_average_at_end": os.getloadavg(),
    }


# ---------------------------------------------------------------------- gpu
def run_gpu(args) -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"benchmark": "hmm gpu", "skipped": "no GPU"}
    load_at_start = os.getloadavg()
    data = read_data("python-docs", None, "categorical", 0.1, 0)
    x_np = data.train.x.numpy()[: args.sequences * args.length]
    m = int(x_np.max()) + 1
    lengths = [args.length] * args.sequences
    init = alg.random_init(args.states, args.seed, "categorical", m, None, 0.0)
    arms = ["cuda_float64", "cuda_float32", "hmmlearn_log_cpu"]
    rounds, histories = [], {}
    for r in range(args.rounds):
        result: dict[str, Any] = {"order": rotated(arms, r)}
        for arm in result["order"]:
            if arm.startswith("cuda"):
                dtype = torch.float64 if arm.endswith("64") else torch.float32
                packed = alg.pack(torch.from_numpy(x_np).cuda(), lengths)
                em(to_params(init, "cuda", dtype), packed, 1)  # warm-up (kernels, allocator)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                hist, _ = em(to_params(init, "cuda", dtype), packed, args.iters)
            else:
                model = categorical_hmmlearn(init, m, args.iters, "log", args.seed)
                t0 = time.perf_counter()
                model.fit(x_np.reshape(-1, 1), lengths)
                hist = list(model.monitor_.history)
            result[arm] = args.iters / (time.perf_counter() - t0)
            histories.setdefault(arm, hist)
        for arm in arms[:2]:
            result[f"{arm}_vs_hmmlearn_log_cpu"] = result[arm] / result["hmmlearn_log_cpu"]
        rounds.append(result)
    summary = {k: spread([r[k] for r in rounds]) for k in rounds[0] if k != "order"}
    return {
        "benchmark": "hmm gpu",
        "unit": "EM iterations per second",
        "settings": vars(args),
        "machine": machine() | {"gpu": torch.cuda.get_device_name()},
        "load_average_at_start": load_at_start,
        "median": summary,
        "log_likelihood_max_relative_difference": {
            arm: max_rel(histories[arm], histories["hmmlearn_log_cpu"]) for arm in arms[:2]
        },
        "rounds": rounds,
        "load_average_at_end": os.getloadavg(),
    }


# ---------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, help="also write the JSON to this file")
    sub = p.add_subparsers(dest="part", required=True)

    def common(s, rounds):
        s.add_argument("--rounds", type=int, default=rounds)
        s.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("categorical")
    common(s, 3)
    s.add_argument("--states", type=int, default=32)
    s.add_argument("--symbols", type=int, default=200_000)
    s.add_argument("--iters", type=int, default=5)
    s.add_argument("--skip-scaling", action="store_true")
    s.add_argument("--no-profile", action="store_true")
    s.add_argument("--profile-repeats", type=int, default=3)
    s = sub.add_parser("gaussian")
    common(s, 5)
    s.add_argument("--states", type=int, default=10)
    s.add_argument("--sequences", type=int, default=50)
    s.add_argument("--length", type=int, default=100)
    s.add_argument("--dim", type=int, default=2)
    s.add_argument("--iters", type=int, default=5)
    s.add_argument("--repeats", type=int, default=10)
    s.add_argument("--no-profile", action="store_true")
    s.add_argument("--profile-repeats", type=int, default=5)
    s = sub.add_parser("sampling")
    common(s, 5)
    s.add_argument("--n", type=int, default=100_000)
    s.add_argument("--states", type=int, default=32)
    s.add_argument("--model-symbols", type=int, default=200_000)
    s = sub.add_parser("gpu")
    common(s, 3)
    s.add_argument("--states", type=int, default=256)
    s.add_argument("--sequences", type=int, default=1000)
    s.add_argument("--length", type=int, default=25)
    s.add_argument("--iters", type=int, default=5)
    s = sub.add_parser("all")
    common(s, None)  # None: each part's own default
    return p


PARTS = {
    "categorical": run_categorical,
    "gaussian": run_gaussian,
    "sampling": run_sampling,
    "gpu": run_gpu,
}


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    out_path = args.out
    if args.part == "all":
        out = {}
        for part, fn in PARTS.items():
            given = ["--seed", str(args.seed)]
            if args.rounds is not None:
                given += ["--rounds", str(args.rounds)]
            sub = p.parse_args([part, *given])
            del sub.out, sub.part
            out[part] = fn(sub)
            print(json.dumps({part: "done"}), file=sys.stderr, flush=True)
    else:
        del args.out
        part = args.part
        del args.part
        out = PARTS[part](args)
    text = json.dumps(out, indent=2, default=float)
    print(text)
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
