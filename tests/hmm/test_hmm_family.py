"""The HMM family on the shared engine: parameter recovery on the dishonest casino, the
run's inference methods, convergence, warnings, and pause / step / stop / save / resume."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import genai_widgets as gw
from genai_widgets.families.hmm import algorithm as alg
from genai_widgets.families.hmm.data import CASINO


def _truth() -> alg.Params:
    return alg.Params(**{k: torch.tensor(v, dtype=torch.float64)[None] for k, v in CASINO.items()})


def test_the_casino_is_recovered(tmp_path):
    run = gw.train_hmm(
        data="casino", n_states=2, restarts=10, max_iters=500, tol=1e-6, run_dir=tmp_path / "c"
    )
    run.wait(timeout=300)
    assert run.status == "finished", run.message
    assert run.family.data.train.n_symbols + run.family.data.held.n_symbols == 30_000
    errors = run.matched_errors()
    assert errors["transmat"] <= 0.03 and errors["emissionprob"] <= 0.03, errors
    held = run.family._held
    generating = float(alg.log_likelihood(_truth(), held)[0]) / held.n_symbols
    assert abs(run.history["val_log_likelihood"][-1] - generating) <= 0.005
    # hmmlearn#410/#494: the likelihood of EM with its default priors never goes down.
    for r in range(10):
        ll = np.asarray(run.history[f"r{r}_log_likelihood"])
        assert (np.diff(ll) >= -1e-12 * np.abs(ll[:-1])).all(), r
    assert not run.warnings
    view = run.view()
    assert view["errors"] == errors and len(view["restarts"]) == 10
    assert np.asarray(view["transmat"]).shape == (2, 2)


def test_inference_methods_on_text(tmp_path):
    run = gw.train_hmm(data="python-docs", n_states=8, max_iters=3, run_dir=tmp_path / "t")
    run.wait(timeout=300)
    assert run.status == "finished" and run.step == 3
    ll = run.history["log_likelihood"]
    assert ll[-1] > ll[0] and np.isfinite(run.history["val_log_likelihood"]).all()
    text = "def f(x):\n    return x\n"
    log_prob, states = run.decode(text)
    assert states.shape == (len(text),) and states.max() < 8
    assert run.score(text) >= log_prob  # all paths together are at least the best one
    proba = run.predict_proba(text)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    sample = run.sample(100, seed=1)
    assert isinstance(sample, str) and len(sample) == 100 and sample == run.sample(100, seed=1)
    assert run.startprob.shape == (8,) and run.emissionprob.shape[0] == 8
    np.testing.assert_allclose(run.transmat.sum(1), 1.0)
    record = run.get_snapshot(run.snapshot_count - 1)
    assert isinstance(record["text"], str) and len(record["top_symbols"]) == 8
    with pytest.raises(ValueError, match="outside the model"):
        run.score("\u2603 snowman")


def test_gaussian_sequences_and_convergence(tmp_path):
    rs = np.random.RandomState(0)
    seqs = [np.cumsum(rs.randn(80, 2) * 0.1, 0) + 4.0 * (rs.rand() > 0.5) for _ in range(20)]
    run = gw.train_hmm(
        data=seqs, n_states=3, emission="gaussian", init="kmeans", max_iters=400, tol=1e-3,
        run_dir=tmp_path / "gaussian-hmm",
    )  # fmt: skip
    run.wait(timeout=300)
    assert run.status == "finished" and run.message.startswith("converged at iteration")
    assert run.step < 400 and run.means.shape == (3, 2) and run.covars.shape == (3, 2)
    assert run.sample(50).shape == (50, 2)
    logp, states = run.decode(seqs[0])
    assert states.shape == (80,)


def test_a_likelihood_that_goes_down_is_reported(tmp_path):
    # Priors other than 1 make the M-step a MAP estimate, which may lower the likelihood.
    x = np.random.RandomState(0).randint(0, 6, size=60)
    run = gw.train_hmm(
        data=x, lengths=[30, 30], n_states=5, val_fraction=0, emissionprob_prior=0.0,
        transmat_prior=0.0, max_iters=30, tol=-1.0, run_dir=tmp_path / "d",
    )  # fmt: skip
    run.wait(timeout=120)
    assert np.diff(run.history["log_likelihood"]).min() < 0
    kinds = [w["kind"] for w in run.warnings]
    assert "LikelihoodDecreased" in kinds, run.warnings


def test_pause_step_stop_save_resume_equals_one_uninterrupted_run(tmp_path):
    options = dict(data="casino", n_states=3, restarts=2, tol=-1.0, seed=3)
    straight = gw.train_hmm(max_iters=12, run_dir=tmp_path / "straight", **options)
    straight.wait(timeout=120)
    run = gw.build_run(
        gw.HMMConfig(max_iters=12, step_delay=0.2, run_dir=str(tmp_path / "cut"), **options)
    ).start()
    try:
        while run.step < 2:
            time.sleep(0.05)
        run.pause()
        at = run.step
        run.step_once()
        assert run.step == at + 1
        run.stop()
        run.wait(timeout=30)
    finally:
        run.stop()
    again = gw.load_run(tmp_path / "cut")
    assert again.step == at + 1
    again.set(step_delay=0.0)
    again.resume()
    again.wait(timeout=120)
    assert again.step == 12
    np.testing.assert_array_equal(
        again.history["log_likelihood"], straight.history["log_likelihood"]
    )
    np.testing.assert_array_equal(again.transmat, straight.transmat)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_states": 0}, "n_states must be an integer >= 1, got 0"),
        ({"data": [np.array([1, 2, 3]), np.array([4])]}, "sequence 1 has 1"),
        ({"data": np.arange(10), "lengths": [3, 3]}, "lengths must sum to len(X) = 10"),
        ({"data": [np.array([0, -1, 2])]}, "non-negative integers; sequence 0 holds [-1]"),
        (
            {"data": [np.array([[0.0], [np.nan], [1.0]])], "emission": "gaussian"},
            "sequence 0 holds NaN at row 1",
        ),
        ({"data": [np.random.randn(5, 2)]}, "for float vectors use emission='gaussian'"),
        ({"data": "casino", "emission": "gaussian"}, "use emission='categorical'"),
        (
            {
                "data": "casino",
                "n_states": 2,
                "init": {
                    "startprob": [0.5, 0.5],
                    "transmat": [[0.9, 0.1], [0.3, 0.6]],
                    "emissionprob": [[1 / 6] * 6, [1 / 6] * 6],
                },
            },
            "init['transmat'] row 1 must sum to 1; it sums to 0.9",
        ),
        ({"emission": "poisson"}, "emission must be one of 'categorical', 'gaussian'"),
        ({"init": "kmeans"}, "init='kmeans' places gaussian means"),
        ({"nproc": 2}, "nproc=2, nnodes=1: the hmm family trains in one process"),
    ],
)
def test_bad_input_gets_one_line_and_starts_nothing(tmp_path, options, message):
    with pytest.raises(ValueError) as info:
        gw.train_hmm(run_dir=tmp_path / "bad", **{"max_iters": 2, **options})
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "bad").exists()
