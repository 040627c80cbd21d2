"""What displaying the dashboard costs a training run, measured in a real ipykernel.

Prints one JSON object:
- steps/s of the same run with the dashboard displayed vs headless, in interleaved windows
  (the ratio should be >= 0.97);
- bytes per second the kernel sends to the frontend while the dashboard shows;
- p50 / p99 round-trip latency of a trivial cell executed while training runs (targets:
  20 ms and 100 ms on 2 cores).

The "frontend" is this script's jupyter_client, which reads every IOPub message as a browser
would; the browser's own rendering cost is not part of the kernel's numbers.

    python benchmarks/overhead.py [--family gan|text] [--preset tiny|default] [--rounds 6]
                                  [--window 5] [--cells 40]

`--family gan` (the default): `--preset default` trains the package's default DCGAN (32x32,
width 64, batch 64: a few steps/s on 2 cores); `tiny` a 16x16 width-8 model at hundreds of
steps/s, where the flusher's fixed per-second cost weighs most. `--family text`: `default` is
`gw.train_text()` as shipped (char-gpt 4x4x128, block 128, batch 32, on "python-docs"); `tiny`
a 1-layer 32-wide model (`benchmarks/text.py dashboard` runs this).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import tempfile
import time
from typing import Any

from jupyter_client.manager import KernelManager

PRESETS = {
    "gan": {
        "tiny": "image_size=16, width=8, batch_size=16, latent_dim=16, sample_every=25",
        "default": "sample_every=None",  # the package default: by steps and time
    },
    "text": {
        "tiny": "n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=8, sample_every=25",
        "default": "sample_every=100",  # the package default
    },
}
DATA = {"gan": "digits", "text": "python-docs"}

SETUP = """
import time, genai_widgets as gw
from IPython.display import display
run = gw.train_{family}(data={data!r}, {preset}, max_steps=None, run_dir={run_dir!r})
while run.step < 5:
    time.sleep(0.1)
dash = None
"""


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


def steps_per_second(client: Client, window: float) -> float:
    # From the trainer's own per-step time stamps, so that a slow model (a few steps/s) is not
    # rounded to whole steps per window.
    client.execute("s0 = run.step")
    client.idle_for(window)
    out, _ = client.execute(
        "h = run.history; t = h['time'][h['step'] > s0]; print((len(t) - 1) / (t[-1] - t[0]))"
    )
    return float(out)


def latencies(client: Client, n: int) -> list[float]:
    times = []
    for _ in range(n):
        times.append(client.execute("1 + 1")[1] * 1000)
        client.idle_for(0.05)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(family: str, preset: str, rounds: int, window: float, cells: int) -> dict[str, Any]:
    """Shown vs headless steps/s, bytes to the frontend and cell latencies of one run of
    `family` (a `PRESETS` entry) in a fresh kernel: the JSON object this script prints."""
    with tempfile.TemporaryDirectory() as tmp:
        client = Client(tmp)
        try:
            client.execute(
                SETUP.format(
                    family=family,
                    data=DATA[family],
                    preset=PRESETS[family][preset],
                    run_dir=os.path.join(tmp, "run"),
                ),
                timeout=300,
            )
            headless: list[float] = []
            shown: list[float] = []
            shown_bytes = shown_seconds = 0.0
            for i in range(rounds):
                # Interleaved, alternating order, so drift (thermal, other load) hits both.
                order = ("headless", "dashboard") if i % 2 == 0 else ("dashboard", "headless")
                for phase in order:
                    if phase == "dashboard":
                        client.execute("dash = run.dashboard(); display(dash)")
                        client.idle_for(1.0)  # first render traffic is not steady state
                        before, t0 = client.iopub_bytes, time.monotonic()
                        shown.append(steps_per_second(client, window))
                        shown_bytes += client.iopub_bytes - before
                        shown_seconds += time.monotonic() - t0
                        client.execute("dash.close(); dash = None")
                    else:
                        client.idle_for(1.0)
                        headless.append(steps_per_second(client, window))
            lat_headless = latencies(client, cells)
            client.execute("dash = run.dashboard(); display(dash)")
            client.idle_for(1.0)
            lat_dashboard = latencies(client, cells)
            client.execute("dash.close(); run.stop(); run.wait(10)")
        finally:
            client.close()

    # Each round's two windows are adjacent in time: their ratio cancels slow drift in the
    # machine's load; the median over rounds drops a round hit by a burst of other work.
    ratio = statistics.median(s / h for s, h in zip(shown, headless, strict=True))
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "family": family,
        "preset": preset,
        "model": PRESETS[family][preset],
        "rounds": rounds,
        "window_s": window,
        "steps_per_s_headless": [round(v, 2) for v in headless],
        "steps_per_s_dashboard": [round(v, 2) for v in shown],
        "ratio_dashboard_vs_headless": round(ratio, 3),
        "ratio_of_means": round(statistics.mean(shown) / statistics.mean(headless), 3),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "ratio_target": 0.97,
        "bytes_per_s_to_frontend": round(shown_bytes / max(shown_seconds, 1e-9)),
        "cell_latency_ms_headless": {
            "p50": round(pct(lat_headless, 0.5), 1),
            "p99": round(pct(lat_headless, 0.99), 1),
        },
        "cell_latency_ms_dashboard": {
            "p50": round(pct(lat_dashboard, 0.5), 1),
            "p99": round(pct(lat_dashboard, 0.99), 1),
        },
        "cell_latency_targets_ms": {"p50": 20, "p99": 100},
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(PRESETS), default="gan")
    parser.add_argument("--preset", choices=("tiny", "default"), default="tiny")
    parser.add_argument("--rounds", type=int, default=6, help="headless/dashboard window pairs")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per window")
    parser.add_argument("--cells", type=int, default=40, help="trivial cells for the latency")
    args = parser.parse_args()
    result = measure(args.family, args.preset, args.rounds, args.window, args.cells)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
