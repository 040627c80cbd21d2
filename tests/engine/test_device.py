"""Device choice and the deferred (GPU-style) metric path, exercised on the CPU."""

import numpy as np
import pytest
import torch
from torch import nn

import genai_widgets as gw
from genai_widgets.engine.metrics import MetricSink
from genai_widgets.engine.run import resolve_device
from genai_widgets.families import build_run
from genai_widgets.families.gan.config import make_config


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    # The GPU cannot run here: only the availability probes are replaced.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"


def test_asking_for_a_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def deferred_run(kw, chunk=4):
    run = build_run(make_config(**kw))
    run._sink = MetricSink(run, run.device, deferred=True, chunk=chunk)
    return run.start()


def test_deferred_metrics_match_immediate_ones(tiny):
    immediate = gw.train_gan(**tiny(max_steps=23, seed=7))
    deferred = deferred_run(tiny(max_steps=23, seed=7))
    assert immediate.wait(60) == "finished" and deferred.wait(60) == "finished"
    for col in ("step", "loss_d", "loss_g", "d_real", "d_fake"):
        assert np.array_equal(immediate.history[col], deferred.history[col]), col


def test_deferred_path_pauses_on_non_finite_loss_and_names_the_step(tiny, wait_until, NaNAfter):
    gen = nn.Sequential(nn.Linear(16, 256), nn.Tanh(), nn.Unflatten(1, (1, 16, 16)))
    run = deferred_run(dict(tiny(), model=(gen, NaNAfter(after=1 + 3 * 5))), chunk=3)
    wait_until(lambda: run.status == "paused")
    assert "step 6" in run.message and "nan" in run.message
    run.stop()
    run.wait(30)
