"""The HMM family against hmmlearn (its reference), from the same initial parameters, and the
textbook fixtures: per-iteration log-likelihoods, final parameters, score and Viterbi."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genai_widgets.families.hmm import algorithm as alg

hmm = pytest.importorskip("hmmlearn.hmm")

LENGTHS = [300, 500, 200]
K, M, ITERS = 4, 6, 20


def _fit_ours(params: alg.Params, packed: alg.Packed, iters: int) -> tuple[list[float], alg.Params]:
    history = []
    for _ in range(iters):
        e = alg.e_step(params, packed)
        history.append(float(e.log_likelihood[0]))
        params = alg.m_step(params, packed, e, alg.Priors())
    return history, params


def _one(init: dict) -> alg.Params:
    return alg.Params(**{k: torch.tensor(v, dtype=torch.float64)[None] for k, v in init.items()})


def test_categorical_matches_hmmlearn_iteration_by_iteration():
    rs = np.random.RandomState(1)
    x = rs.randint(0, M, size=sum(LENGTHS))
    init = alg.random_init(K, 3, "categorical", M, None, 1e-3)
    ref = hmm.CategoricalHMM(
        n_components=K, n_iter=ITERS, tol=-np.inf, init_params="", n_features=M
    )
    ref.startprob_, ref.transmat_ = init["startprob"], init["transmat"]
    ref.emissionprob_ = init["emissionprob"]
    ref.fit(x[:, None], LENGTHS)
    assert len(ref.monitor_.history) == ITERS  # it never stopped early
    packed = alg.pack(torch.tensor(x), LENGTHS)
    history, params = _fit_ours(_one(init), packed, ITERS)
    np.testing.assert_allclose(history, ref.monitor_.history, rtol=1e-6)
    np.testing.assert_allclose(params.startprob[0].numpy(), ref.startprob_, atol=1e-6)
    np.testing.assert_allclose(params.transmat[0].numpy(), ref.transmat_, atol=1e-6)
    np.testing.assert_allclose(params.emissionprob[0].numpy(), ref.emissionprob_, atol=1e-6)
    ours = float(alg.log_likelihood(params, packed)[0])
    np.testing.assert_allclose(ours, ref.score(x[:, None], LENGTHS), rtol=1e-6)
    log_prob, _ = alg.viterbi(params, packed)
    np.testing.assert_allclose(float(log_prob.sum()), ref.decode(x[:, None], LENGTHS)[0], rtol=1e-9)


def test_random_init_is_hmmlearns_own_for_the_same_seed():
    rs = np.random.RandomState(2)
    x = rs.randint(0, M, size=200)
    ref = hmm.CategoricalHMM(n_components=K, random_state=5, n_features=M)
    ref._init(x[:, None], [200])
    ours = alg.random_init(K, 5, "categorical", M, None, 1e-3)
    for name in ("startprob", "transmat", "emissionprob"):
        np.testing.assert_array_equal(ours[name], getattr(ref, name + "_"))
    xg = rs.randn(200, 2)
    ref = hmm.GaussianHMM(n_components=3, random_state=5)
    ref._init(xg, [200])
    ours = alg.random_init(3, 5, "gaussian", None, xg, 1e-3)
    np.testing.assert_allclose(ours["means"], ref.means_)
    np.testing.assert_allclose(ours["covars"], ref._covars_)


@pytest.mark.parametrize("covariance", ["diag", "spherical"])
def test_gaussian_matches_hmmlearn_iteration_by_iteration(covariance):
    rs = np.random.RandomState(4)
    n = sum(LENGTHS)
    x = rs.randn(n, 2) + 3.0 * (rs.rand(n, 1) > 0.5)
    init = alg.random_init(K, 3, "gaussian", None, x, 1e-3)
    if covariance == "spherical":
        init["covars"] = np.tile(init["covars"].mean(1, keepdims=True), (1, 2))
    ref = hmm.GaussianHMM(
        n_components=K, covariance_type=covariance, n_iter=ITERS, tol=-np.inf, init_params=""
    )
    ref.startprob_, ref.transmat_, ref.means_ = init["startprob"], init["transmat"], init["means"]
    ref.covars_ = init["covars"][:, 0] if covariance == "spherical" else init["covars"]
    ref.fit(x, LENGTHS)
    packed = alg.pack(torch.tensor(x), LENGTHS)
    params = _one(init)
    history = []
    for _ in range(ITERS):
        e = alg.e_step(params, packed)
        history.append(float(e.log_likelihood[0]))
        params = alg.m_step(params, packed, e, alg.Priors(), covariance)
    np.testing.assert_allclose(history, ref.monitor_.history, rtol=1e-6)
    np.testing.assert_allclose(params.means[0].numpy(), ref.means_, atol=1e-6)
    # hmmlearn keeps spherical variances tiled over the dimensions after an M-step, as we do.
    np.testing.assert_allclose(params.covars[0].numpy(), ref._covars_, atol=1e-6)
    np.testing.assert_allclose(params.transmat[0].numpy(), ref.transmat_, atol=1e-6)
    ours = float(alg.log_likelihood(params, packed)[0])
    np.testing.assert_allclose(ours, ref.score(x, LENGTHS), rtol=1e-6)


def test_the_weather_hmm_textbook_fixture():
    params = alg.Params(
        torch.tensor([[0.6, 0.4]], dtype=torch.float64),
        torch.tensor([[[0.7, 0.3], [0.4, 0.6]]], dtype=torch.float64),
        emissionprob=torch.tensor([[[0.1, 0.4, 0.5], [0.6, 0.3, 0.1]]], dtype=torch.float64),
    )
    packed = alg.pack(torch.tensor([0, 1, 2]), [3])
    log_prob, states = alg.viterbi(params, packed)
    assert float(log_prob.exp()) == pytest.approx(0.01344, abs=1e-9)
    assert states.tolist() == [1, 0, 0]
    ref = hmm.CategoricalHMM(n_components=2, n_features=3)
    ref.startprob_ = params.startprob[0].numpy()
    ref.transmat_ = params.transmat[0].numpy()
    ref.emissionprob_ = params.emissionprob[0].numpy()
    gamma = packed.unpack(alg.e_step(params, packed).gamma[0]).numpy()
    np.testing.assert_allclose(gamma, ref.predict_proba(np.array([[0], [1], [2]])), atol=1e-6)


def test_packing_restarts_and_unequal_lengths_equal_one_model_at_a_time():
    rs = np.random.RandomState(7)
    lengths = [5, 40, 2, 17, 17, 9]
    x = torch.tensor(rs.randint(0, 3, size=sum(lengths)))
    inits = [alg.random_init(3, s, "categorical", 3, None, 1e-3) for s in range(3)]
    stacked = alg.Params(**{k: torch.tensor(np.stack([i[k] for i in inits])) for k in inits[0]})
    together = alg.e_step(stacked, alg.pack(x, lengths)).log_likelihood
    for r, init in enumerate(inits):
        alone = sum(
            float(alg.log_likelihood(_one(init), alg.pack(s, [len(s)]))[0])
            for s in torch.split(x, lengths)
        )
        assert float(together[r]) == pytest.approx(alone, rel=1e-12)


def test_a_long_sequence_stays_finite():
    rs = np.random.RandomState(0)
    x = torch.tensor(rs.randint(0, 4, size=100_000))
    params = _one(alg.random_init(3, 0, "categorical", 4, None, 1e-3))
    packed = alg.pack(x, [len(x)])
    e = alg.e_step(params, packed)
    assert torch.isfinite(e.log_likelihood).all() and torch.isfinite(e.gamma).all()
    new = alg.m_step(params, packed, e, alg.Priors())
    assert all(torch.isfinite(t).all() for t in new.tensors().values())
    log_prob, states = alg.viterbi(new, packed)
    assert torch.isfinite(log_prob).all() and len(states) == 100_000
    xg = torch.tensor(rs.randn(100_000, 1) * 50.0)  # far tails: the shifted emissions
    params = _one(alg.random_init(3, 0, "gaussian", None, xg.numpy()[:2000], 1e-3))
    e = alg.e_step(params, alg.pack(xg, [len(xg)]))
    assert torch.isfinite(e.log_likelihood).all()
