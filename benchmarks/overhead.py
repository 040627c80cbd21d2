"""What displaying the dashboard costs a training run, measured in a real ipykernel.

Prints JSON (one object; with `--all`, {"runs": [one per GAN preset]}):
- steps/s of the same run with the dashboard displayed vs headless, in interleaved windows:
  the median of the rounds' ratios with a 95% bootstrap interval (target >= 0.99). The steps
  at which the trainer does periodic work (held-out loss, samples, step-count checkpoints),
  the same in both arms, are left out of the rates; `ratio_every_step_counted` keeps them;
- what the flusher did meanwhile: ticks per second, its thread's CPU time per tick and its
  share of the wall clock (the pace it keeps itself to: `widgets/flusher.py`);
- bytes per second the kernel sends to the frontend while the dashboard shows (bounded
  however fast the run steps: curves are decimated by time), and the CPU share this script
  spends reading them (the frontend's own cost on a shared machine, before any rendering);
- p50 / p99 round-trip latency of a trivial cell executed while training runs, headless and
  with the dashboard shown (targets 15 ms and 50 ms), and with `--busy` also with a second,
  CPU-bound process beside the kernel.

The "frontend" is this script's jupyter_client, which reads every IOPub message as a browser
would; the browser's own rendering cost is not part of the kernel's numbers.

    python benchmarks/overhead.py [--family gan|text|vae|hmm] [--preset tiny|points|default]
                                  [--rounds 6] [--window 5] [--cells 40] [--busy] [--all]

`--family gan` (the default): `--preset default` trains the package's default DCGAN (32x32,
width 64, batch 64: a few steps/s on 2 cores); `tiny` a 16x16 width-8 model at tens of steps/s
(the stand-in this CPU has for a fast GPU run, where the flusher's fixed per-second cost weighs
most); `points` a small MLP GAN on the 2-D ring, whose dashboard animates the game in data
space. `--all` runs the three, each in its own kernel. `--family text`: `default` is
`gw.train_text()` as shipped on "python-docs"; `tiny` a 1-layer 32-wide model
(`benchmarks/text.py dashboard` runs this). `--family vae` and `--family hmm` (preset
`default`): `gw.train_vae()` on the digits and `gw.train_hmm()` on "python-docs" as shipped,
the HMM kept iterating past convergence.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import bootstrap_median_ci  # noqa: E402  (benchmarks/engine.py)

PRESETS = {
    "gan": {
        "tiny": "data='digits', image_size=16, width=8, batch_size=16, latent_dim=16, "
        "sample_every=25",
        "points": "data='ring', batch_size=64",  # the 3 x 128 MLP (width is the DCGAN's)
        "default": "data='digits', sample_every=None",  # the package default: steps and time
    },
    "text": {
        "tiny": "data='python-docs', n_layer=1, n_head=2, n_embd=32, block_size=32, "
        "batch_size=8, sample_every=25",
        "default": "data='python-docs', sample_every=100",  # the package default
    },
    "vae": {"default": "data='digits'"},  # the package default conv-VAE, its latent scatter
    # The package default (32 states on the help topics' characters, a snapshot per EM
    # iteration), kept iterating: no convergence stop, no iteration cap.
    "hmm": {"default": "data='python-docs', max_iters=None, tol=float('-inf')"},
}
WINDOW_S = {"tiny": 5.0, "points": 5.0, "default": 10.0}  # --all: seconds per window

SETUP = """
import time, torch, genai_widgets as gw
if {threads}:
    torch.set_num_threads({threads})
from IPython.display import display
run = gw.train_{family}({preset}, max_steps=None, run_dir={run_dir!r})
while run.step < 5:
    time.sleep(0.1)
dash = None
"""
# The flusher's ticks and the CPU it counts for them (paced views left out), then its thread's
# whole CPU time from /proc (the ticks and the views computed from the weights together).
FLUSHER = """
f = dash._flusher
with open(f"/proc/self/task/{f._thread.native_id}/stat") as stat:
    fields = stat.read().rsplit(")", 1)[1].split()
import os as _os
print(f.ticks, f.cpu_seconds, (int(fields[11]) + int(fields[12])) / _os.sysconf("SC_CLK_TCK"))
"""
BUSY = "import time\nwhile True:\n    sum(i * i for i in range(10_000))"


class Client:
    def __init__(self, cwd: str):
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=cwd)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.iopub_bytes = 0
        self.iopub_messages = 0

    def _pump(self, timeout: float) -> dict | None:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        if msg["header"]["msg_type"] in (
            "comm_msg",
            "comm_open",
            "display_data",
            "update_display_data",
        ):
            self.iopub_messages += 1
            self.iopub_bytes += len(json.dumps(msg["content"], default=str))
            self.iopub_bytes += sum(len(b) for b in msg.get("buffers") or [])
        return msg

    def idle_for(self, seconds: float) -> None:
        """Let the kernel work while this client reads IOPub, as an open browser tab does."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._pump(min(left, 0.1))

    def execute(self, code: str, timeout: float = 120.0) -> tuple[str, float]:
        """Run a cell; returns its stdout and the time from request to idle (seconds)."""
        start = time.perf_counter()
        msg_id = self.kc.execute(code)
        out, error = [], None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._pump(0.5)
            if msg is None or msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                error = "\n".join(msg["content"]["traceback"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                elapsed = time.perf_counter() - start
                if error:
                    raise RuntimeError(error)
                return "".join(out), elapsed
        raise TimeoutError(code)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


STEP_RATE = """
import numpy as np
h = run.history; sel = h['step'] > s0
dt, end = np.diff(h['time'][sel]), h['step'][sel][1:]
keep = np.ones(len(dt), bool)
for k in ('eval_every', 'sample_every', 'checkpoint_every'):
    c = getattr(run.config, k, None)
    if c and c > 2:  # work at every step or every other one is the same in every interval
        keep &= ~np.isin(end % c, (0, 1))
print(keep.sum() / dt[keep].sum(), len(dt) / dt.sum())
"""


def steps_per_second(client: Client, window: float) -> tuple[float, float]:
    """(steps/s without, with the trainer's periodic work) in the next `window` seconds.

    From the trainer's own per-step time stamps, so that a slow model (a few steps/s) is not
    rounded to whole steps per window. The first number leaves out the two step intervals at
    each multiple of `eval_every`, `sample_every` and `checkpoint_every`: that work is the same
    with or without the dashboard, and whether a window holds one of them (the text model's
    held-out loss and sample take ~1 s every 20 s) is what made its windows' rates scatter by
    30%. The second counts every step."""
    client.execute("s0 = run.step")
    client.idle_for(window)
    out, _ = client.execute(STEP_RATE)
    steady, every = out.split()
    return float(steady), float(every)


def latencies(client: Client, n: int) -> list[float]:
    times = []
    for _ in range(n):
        times.append(client.execute("1 + 1")[1] * 1000)
        client.idle_for(0.05)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def flusher_totals(client: Client) -> tuple[int, float, float]:
    """(ticks, CPU seconds in ticks, CPU seconds of its thread with the paced views) the
    displayed dashboard's flusher has done so far."""
    out, _ = client.execute(FLUSHER)
    ticks, cpu, thread_cpu = out.split()
    return int(ticks), float(cpu), float(thread_cpu)


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(pct(values, 0.5), 1), "p99": round(pct(values, 0.99), 1)}


def measure(
    family: str,
    preset: str,
    rounds: int,
    window: float,
    cells: int,
    busy: bool = False,
    threads: int = 0,
) -> dict[str, Any]:
    """Shown vs headless steps/s, the flusher's pace, bytes to the frontend and cell latencies
    of one run of `family` (a `PRESETS` entry) in a fresh kernel: the JSON object this script
    prints. `busy`: also the latencies with a CPU-bound process beside the kernel. `threads`:
    torch's intra-op threads in the kernel (0: torch's default, one per core)."""
    with tempfile.TemporaryDirectory() as tmp:
        client = Client(tmp)
        try:
            client.execute(
                SETUP.format(
                    family=family,
                    preset=PRESETS[family][preset],
                    run_dir=os.path.join(tmp, "run"),
                    threads=threads,
                ),
                timeout=300,
            )
            # Per phase: steps/s without and with the periodic steps, and this process's
            # (the "browser"'s) CPU and wall time over the windows.
            rates: dict[str, list[float]] = {"headless": [], "dashboard": []}
            rates_all: dict[str, list[float]] = {"headless": [], "dashboard": []}
            client_cpu = {"headless": 0.0, "dashboard": 0.0}
            client_wall = {"headless": 0.0, "dashboard": 0.0}
            shown_bytes = ticks = flusher_cpu = thread_cpu = 0.0
            for i in range(rounds):
                # Interleaved, alternating order, so drift (thermal, other load) hits both.
                order = ("headless", "dashboard") if i % 2 == 0 else ("dashboard", "headless")
                for phase in order:
                    shown = phase == "dashboard"
                    if shown:
                        client.execute("dash = run.dashboard(); display(dash)")
                    client.idle_for(1.0)  # first render traffic is not steady state
                    if shown:
                        ticks0, cpu0, thread0 = flusher_totals(client)
                    before = client.iopub_bytes
                    c0, t0 = time.process_time(), time.monotonic()
                    steady, every = steps_per_second(client, window)
                    client_cpu[phase] += time.process_time() - c0
                    client_wall[phase] += time.monotonic() - t0
                    rates[phase].append(steady)
                    rates_all[phase].append(every)
                    if shown:
                        shown_bytes += client.iopub_bytes - before
                        ticks1, cpu1, thread1 = flusher_totals(client)
                        ticks += ticks1 - ticks0
                        flusher_cpu += cpu1 - cpu0
                        thread_cpu += thread1 - thread0
                        client.execute("dash.close(); dash = None")
            lat_headless = latencies(client, cells)
            client.execute("dash = run.dashboard(); display(dash)")
            client.idle_for(1.0)
            lat_dashboard = latencies(client, cells)
            lat_busy: list[float] = []
            if busy:
                neighbour = subprocess.Popen([sys.executable, "-c", BUSY])
                try:
                    client.idle_for(1.0)
                    lat_busy = latencies(client, cells)
                finally:
                    neighbour.kill()
                    neighbour.wait()
            client.execute("dash.close(); run.stop(); run.wait(10)")
        finally:
            client.close()

    # Each round's two windows are adjacent in time: their ratio cancels slow drift in the
    # machine's load; the median over rounds drops a round hit by a burst of other work.
    headless, shown = rates["headless"], rates["dashboard"]
    ratios = [s / h for s, h in zip(shown, headless, strict=True)]
    seconds = max(client_wall["dashboard"], 1e-9)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "family": family,
        "preset": preset,
        "model": PRESETS[family][preset],
        "rounds": rounds,
        "window_s": window,
        "torch_threads": threads or "default",
        "steps_per_s_headless": [round(v, 2) for v in headless],
        "steps_per_s_dashboard": [round(v, 2) for v in shown],
        "ratio_dashboard_vs_headless": round(statistics.median(ratios), 3),
        "ratio_ci95_bootstrap": [round(v, 3) for v in bootstrap_median_ci(ratios)],
        "ratio_of_means": round(statistics.mean(shown) / statistics.mean(headless), 3),
        "ratio_every_step_counted": round(
            statistics.median(
                s / h for s, h in zip(rates_all["dashboard"], rates_all["headless"], strict=True)
            ),
            3,
        ),
        "ratio_target": 0.99,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "flusher_ticks_per_s": round(ticks / seconds, 2),
        "flusher_cpu_ms_per_tick": round(1000 * flusher_cpu / max(ticks, 1), 3),
        "flusher_cpu_share": round(flusher_cpu / seconds, 4),
        # Its thread's CPU with the views computed from the weights (the explorer following
        # training, ...): /proc counts in clock ticks (10 ms), so short runs read coarsely.
        "flusher_thread_cpu_share_with_views": round(thread_cpu / seconds, 4),
        "bytes_per_s_to_frontend": round(shown_bytes / seconds),
        # The frontend stand-in's own CPU (reading and decoding IOPub, as a browser must on
        # the same machine before it even renders), headless and with the dashboard shown.
        "frontend_cpu_share": {
            k: round(client_cpu[k] / max(client_wall[k], 1e-9), 4) for k in client_cpu
        },
        "cell_latency_ms_headless": summary(lat_headless),
        "cell_latency_ms_dashboard": summary(lat_dashboard),
        "cell_latency_targets_ms": {"p50": 15, "p99": 50},
    }
    if busy:
        result["cell_latency_ms_dashboard_cpu_bound_neighbour"] = summary(lat_busy)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(PRESETS), default="gan")
    parser.add_argument(
        "--preset",
        choices=("tiny", "points", "default"),
        default=None,
        help="the family's model (default: tiny where it has one, else default)",
    )
    parser.add_argument("--rounds", type=int, default=6, help="headless/dashboard window pairs")
    parser.add_argument("--window", type=float, default=None, help="seconds per window")
    parser.add_argument("--cells", type=int, default=40, help="trivial cells for the latency")
    parser.add_argument(
        "--busy", action="store_true", help="latencies with a CPU-bound process beside it too"
    )
    parser.add_argument("--all", action="store_true", help="the three GAN presets in turn")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads in the kernel (1: one core trains, as a GPU run's one Python thread)",
    )
    args = parser.parse_args()
    if args.preset is None:
        args.preset = "tiny" if "tiny" in PRESETS[args.family] else "default"
    if args.preset not in PRESETS[args.family]:
        parser.error(f"--family {args.family} has presets {', '.join(PRESETS[args.family])}")
    presets = list(PRESETS["gan"]) if args.all else [args.preset]
    family = "gan" if args.all else args.family
    runs = []
    for preset in presets:
        window = args.window or WINDOW_S[preset]
        runs.append(
            measure(family, preset, args.rounds, window, args.cells, args.busy, args.threads)
        )
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)  # progress
    print(json.dumps({"runs": runs} if args.all else runs[0], indent=2))


if __name__ == "__main__":
    main()
