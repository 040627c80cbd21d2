"""No host sync per training step on the GPU path (issue 18), checked on the CPU.

A GPU cannot run here, so the deferred metric path (the one CUDA takes: rows stay on the
device and come back in chunks) is forced on the CPU, and every Python-level read of a tensor's
value on the host (`.item()`, `.tolist()`, `bool()`, `float()`, `int()`, `.numpy()`, `.cpu()`)
made by the trainer thread is counted. On CUDA each of those would wait for the device. A read
of an optimiser's own step counter (a CPU tensor unless the optimiser is "capturable") is not a
sync and is left out. What remains must come in chunks, not once per step. (On a GPU machine
`torch.cuda.set_sync_debug_mode("warn")` is the real proof: benchmarks/overhead.py's docs.)"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

import pytest
import torch

import genai_widgets as gw
from genai_widgets.engine import run as run_module
from genai_widgets.engine.metrics import MetricSink

READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu")
CHUNK = 16
STEPS = 96

FAMILIES = {
    "gan": (
        gw.train_gan,
        dict(data="digits", image_size=16, width=8, batch_size=16, latent_dim=16),
    ),
    "vae": (gw.train_vae, dict(data="digits", image_size=16, batch_size=16)),
    "text": (
        gw.train_text,
        dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=8, eval_every=10_000),
    ),
}


def _in_optimiser() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if "torch/optim/" in frame.f_code.co_filename.replace("\\", "/"):
            return True
        frame = frame.f_back
    return False


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_trainer_reads_the_device_in_chunks_not_every_step(family, monkeypatch, tmp_path):
    train, options = FAMILIES[family]
    counting = threading.Event()
    trainer: dict[str, threading.Thread] = {}
    reads: Counter[str] = Counter()

    def counted(name: str):
        original = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            if (
                counting.is_set()
                and threading.current_thread() is trainer.get("thread")
                and not _in_optimiser()
            ):
                reads[name] += 1
            return original(self, *args, **kwargs)

        return read

    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counted(name))
    start = run_module.Run.start

    def deferred_start(self, *args, **kwargs):  # the CUDA metric path, on the CPU
        self._sink = MetricSink(self, self.device, deferred=True, chunk=CHUNK, max_delay=60.0)
        return start(self, *args, **kwargs)

    monkeypatch.setattr(run_module.Run, "start", deferred_start)
    run = train(
        max_steps=None, sample_every=100_000, run_dir=tmp_path / f"sync-{family}", **options
    )
    try:
        deadline = time.monotonic() + 120
        while (run._thread is None or run.step < 5) and time.monotonic() < deadline:
            time.sleep(0.01)
        trainer["thread"] = run._thread
        first = run.step
        counting.set()
        while run.step < first + STEPS and time.monotonic() < deadline:
            time.sleep(0.01)
        counting.clear()
        steps = run.step - first
    finally:
        run.stop()
        run.wait(60)
    assert steps >= STEPS, f"only {steps} steps"
    total = sum(reads.values())
    # One collection per chunk, and a few for periodic work (a health check); a read per step
    # would be >= `steps`.
    assert total <= steps // CHUNK + 12, (total, dict(reads))
