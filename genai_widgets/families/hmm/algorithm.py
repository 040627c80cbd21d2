"""Baum-Welch for hidden Markov models in PyTorch, batched over sequences of unequal length and
over R restarts (R models in one tensor), with hmmlearn's conventions.

Sequences are *packed* as `torch.nn.utils.rnn.PackedSequence` packs them: sorted by length,
time-major, so that step t of the recursions works on one contiguous slice of the sequences
still running (no padding, no masks to multiply). The forward-backward pass is Rabiner's
scaled one: each step's forward variables are normalised and the scale kept, so that the
log-likelihood is the sum of the log-scales; Gaussian emissions are shifted by their largest
log-density per symbol first, so that no scale underflows.

The E- and M-steps follow hmmlearn 0.3 (`base.py`, `hmm.py`, `_emissions.py`): Dirichlet
priors as `max(prior - 1 + counts, 0)`, zeros of the start and transition probabilities kept,
rows that received nothing left as they are normalised (hmmlearn's `normalize`), Gaussian
means and variances with its priors (`means_prior`, `means_weight`, `covars_prior`,
`covars_weight`); the log-likelihood of an iteration is that of the parameters before its
M-step (hmmlearn's `monitor_.history`)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

EMISSIONS = ("categorical", "gaussian")
COVARIANCES = ("diag", "spherical")


@dataclass
class Packed:
    """Sequences packed time-major: `x[offsets[t]:offsets[t] + sizes[t]]` is step t of the
    `sizes[t]` longest sequences. `index[p]`: where packed symbol p is in the concatenated
    input; `order[j]`: the input sequence that is j-th longest."""

    x: Tensor  # (P,) long symbols, or (P, d) floats
    sizes: list[int]
    offsets: list[int]
    index: Tensor  # (P,) long
    lengths: list[int]  # in input order
    order: list[int]

    @property
    def n_symbols(self) -> int:
        return int(self.index.numel())

    @property
    def n_sequences(self) -> int:
        return len(self.lengths)

    def unpack(self, values: Tensor) -> Tensor:
        """Values per packed symbol (first dimension P) back in input order."""
        out = torch.empty_like(values)
        out[self.index.to(values.device)] = values
        return out


def pack(x: Tensor, lengths: list[int]) -> Packed:
    """Pack the concatenated sequences `x` (P,) or (P, d) cut by `lengths`."""
    lengths = [int(n) for n in lengths]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    order = sorted(range(len(lengths)), key=lambda j: -lengths[j])
    sorted_lengths = np.asarray([lengths[j] for j in order])
    sorted_starts = starts[order]
    longest = int(sorted_lengths[0]) if len(lengths) else 0
    # sizes[t]: how many sequences are longer than t (a non-increasing run).
    sizes = np.searchsorted(-sorted_lengths, -np.arange(longest), side="left")
    sizes = [int(s) for s in sizes]
    pieces = [sorted_starts[:n] + t for t, n in enumerate(sizes)]
    index = torch.from_numpy(np.concatenate(pieces)) if pieces else torch.zeros(0, dtype=torch.long)
    offsets = [0, *np.cumsum(sizes).tolist()]
    return Packed(x[index.to(x.device)], sizes, offsets, index, lengths, order)


@dataclass
class Params:
    """R models of K states: probabilities (not logs), one leading restart dimension."""

    startprob: Tensor  # (R, K)
    transmat: Tensor  # (R, K, K)
    emissionprob: Tensor | None = None  # (R, K, M) categorical
    means: Tensor | None = None  # (R, K, d) gaussian
    covars: Tensor | None = None  # (R, K, d) gaussian: diagonal variances

    def tensors(self) -> dict[str, Tensor]:
        return {k: v for k, v in vars(self).items() if v is not None}

    def select(self, r: int) -> Params:
        return Params(**{k: v[r : r + 1] for k, v in self.tensors().items()})

    def to(self, device: Any = None, dtype: Any = None) -> Params:
        return Params(**{k: v.to(device=device, dtype=dtype) for k, v in self.tensors().items()})

    def clone(self) -> Params:
        return Params(**{k: v.clone() for k, v in self.tensors().items()})

    @property
    def emission(self) -> str:
        return "categorical" if self.emissionprob is not None else "gaussian"


@dataclass
class Priors:
    """hmmlearn's priors (its defaults: maximum likelihood, and a small variance prior)."""

    startprob: float = 1.0
    transmat: float = 1.0
    emissionprob: float = 1.0
    means_prior: float = 0.0
    means_weight: float = 0.0
    covars_prior: float = 1e-2
    covars_weight: float = 1.0


# ----------------------------------------------------------------------------- emissions
def emission_log_shift(params: Params, x: Tensor) -> tuple[Tensor, Tensor]:
    """(B, m): B (R, P, K) emission probabilities divided by exp(m), m (R, P) the log of that
    divisor (0 for categorical emissions: their probabilities do not underflow)."""
    if params.emissionprob is not None:
        b = params.emissionprob.transpose(1, 2)[:, x]  # (R, P, K), contiguous per symbol
        return b, torch.zeros(b.shape[:2], dtype=b.dtype, device=b.device)
    lpr = gaussian_log_density(x, params.means, params.covars)
    m = lpr.amax(-1)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return torch.exp(lpr - m.unsqueeze(-1)), m


def gaussian_log_density(x: Tensor, means: Tensor, covars: Tensor) -> Tensor:
    """log N(x | mean_k, diag(covar_k)) (R, P, K), as hmmlearn's
    `_log_multivariate_normal_density_diag` computes it."""
    d = x.shape[-1]
    const = d * math.log(2 * math.pi) + covars.log().sum(-1) + (means**2 / covars).sum(-1)
    cross = torch.matmul(x, (means / covars).transpose(1, 2))
    square = torch.matmul(x**2, (1.0 / covars).transpose(1, 2))
    return -0.5 * (const.unsqueeze(1) - 2 * cross + square)


# ----------------------------------------------------------------------------- E-step
@dataclass
class EStep:
    log_likelihood: Tensor  # (R,) total over the sequences
    gamma: Tensor  # (R, P, K) posteriors per packed symbol
    start: Tensor  # (R, K) posteriors of the first symbols
    trans: Tensor  # (R, K, K) expected transition counts


def forward(params: Params, packed: Packed) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(alpha, scale, B, m): scaled forward variables (R, P, K), their scales (R, P), the
    shifted emission probabilities and their shifts."""
    b, m = emission_log_shift(params, packed.x)
    r, p, k = b.shape
    alpha = torch.empty_like(b)
    scale = torch.empty((r, p), dtype=b.dtype, device=b.device)
    sizes, offsets, a_mat = packed.sizes, packed.offsets, params.transmat
    n = sizes[0] if sizes else 0
    if n:
        a = params.startprob.unsqueeze(1) * b[:, :n]
        s = a.sum(-1)
        alpha[:, :n] = a / s.unsqueeze(-1)
        scale[:, :n] = s
    for t in range(1, len(sizes)):
        o, n, po = offsets[t], sizes[t], offsets[t - 1]
        a = torch.bmm(alpha[:, po : po + n], a_mat) * b[:, o : o + n]
        s = a.sum(-1)
        alpha[:, o : o + n] = a / s.unsqueeze(-1)
        scale[:, o : o + n] = s
    return alpha, scale, b, m


def log_likelihood(params: Params, packed: Packed) -> Tensor:
    """The total log-likelihood (R,) of the packed sequences under each model."""
    _, scale, _, m = forward(params, packed)
    return scale.log().sum(-1) + m.sum(-1)


def e_step(params: Params, packed: Packed) -> EStep:
    alpha, scale, b, m = forward(params, packed)
    sizes, offsets, a_mat = packed.sizes, packed.offsets, params.transmat
    beta = torch.empty_like(alpha)
    w = torch.empty_like(alpha)  # B * beta / scale, for the steps t >= 1
    last = len(sizes) - 1
    if last >= 0:
        beta[:, offsets[last] :] = 1.0
    a_t = a_mat.transpose(1, 2)
    for t in range(last - 1, -1, -1):
        o, n, no, nn = offsets[t], sizes[t], offsets[t + 1], sizes[t + 1]
        wt = b[:, no : no + nn] * beta[:, no : no + nn] / scale[:, no : no + nn].unsqueeze(-1)
        w[:, no : no + nn] = wt
        beta[:, o : o + nn] = torch.bmm(wt, a_t)
        beta[:, o + nn : o + n] = 1.0
    gamma = alpha * beta
    gamma = gamma / gamma.sum(-1, keepdim=True)  # hmmlearn normalises each frame
    first = sizes[0] if sizes else 0
    start = gamma[:, :first].sum(1)
    if len(sizes) > 1:
        prev = torch.cat(
            [torch.arange(offsets[t - 1], offsets[t - 1] + sizes[t]) for t in range(1, len(sizes))]
        ).to(alpha.device)
        trans = torch.bmm(alpha[:, prev].transpose(1, 2), w[:, first:]) * a_mat
    else:
        trans = torch.zeros_like(a_mat)
    total = scale.log().sum(-1) + m.sum(-1)
    return EStep(total, gamma, start, trans)


# ----------------------------------------------------------------------------- M-step
def _normalize_rows(a: Tensor) -> Tensor:
    s = a.sum(-1, keepdim=True)
    return a / torch.where(s == 0, torch.ones_like(s), s)


def m_step(
    params: Params, packed: Packed, e: EStep, priors: Priors, covariance: str = "diag"
) -> Params:
    """New parameters from the E-step's statistics (hmmlearn's `_do_mstep`)."""
    start = torch.clamp(priors.startprob - 1 + e.start, min=0)
    start = torch.where(params.startprob == 0, torch.zeros_like(start), start)
    start = start / start.sum(-1, keepdim=True)
    trans = torch.clamp(priors.transmat - 1 + e.trans, min=0)
    trans = _normalize_rows(torch.where(params.transmat == 0, torch.zeros_like(trans), trans))
    if params.emissionprob is not None:
        r, k, n_symbols = params.emissionprob.shape
        counts = torch.zeros((r, n_symbols, k), dtype=e.gamma.dtype, device=e.gamma.device)
        counts.index_add_(1, packed.x, e.gamma)
        emission = torch.clamp(priors.emissionprob - 1 + counts.transpose(1, 2), min=0)
        return Params(start, trans, emissionprob=_normalize_rows(emission))
    x = packed.x
    post = e.gamma.sum(1).unsqueeze(-1)  # (R, K, 1)
    obs = torch.matmul(e.gamma.transpose(1, 2), x)
    obs2 = torch.matmul(e.gamma.transpose(1, 2), x**2)
    mw, mp = priors.means_weight, priors.means_prior
    means = (mw * mp + obs) / (mw + post)
    meandiff = means - mp
    c_n = mw * meandiff**2 + obs2 - 2 * means * obs + means**2 * post
    c_d = max(priors.covars_weight - 1, 0) + post
    covars = (priors.covars_prior + c_n) / torch.clamp(c_d, min=1e-5)
    if covariance == "spherical":
        covars = spherical(covars)
    return Params(start, trans, means=means, covars=covars)


def spherical(covars: Tensor) -> Tensor:
    """Tie each state's variances over the dimensions (hmmlearn's "spherical")."""
    return covars.mean(-1, keepdim=True).expand_as(covars).clone()


# ----------------------------------------------------------------------------- Viterbi
def viterbi(params: Params, packed: Packed) -> tuple[Tensor, Tensor]:
    """(log probability of the best path of each sequence (N,) in input order, the states of
    every symbol (P,) in input order), for a single model (R = 1)."""
    b, m = emission_log_shift(params, packed.x)
    with torch.no_grad():
        log_b = (b.log() + m.unsqueeze(-1))[0]
        log_a = params.transmat[0].log()
        sizes, offsets = packed.sizes, packed.offsets
        back = torch.zeros(log_b.shape, dtype=torch.long, device=log_b.device)
        n_seq = packed.n_sequences
        best = torch.empty(n_seq, dtype=log_b.dtype, device=log_b.device)
        final = torch.empty((n_seq, log_b.shape[-1]), dtype=log_b.dtype, device=log_b.device)
        delta = params.startprob[0].log() + log_b[: sizes[0]]
        for t in range(1, len(sizes)):
            o, n = offsets[t], sizes[t]
            ended = delta[n:]
            final[n : n + len(ended)] = ended
            scores = delta[:n].unsqueeze(-1) + log_a  # (n, K_from, K_to)
            top, arg = scores.max(1)
            back[o : o + n] = arg
            delta = top + log_b[o : o + n]
        final[: len(delta)] = delta
        best, cur = final.max(-1)
        states = torch.empty(packed.n_symbols, dtype=torch.long, device=log_b.device)
        for t in range(len(sizes) - 1, -1, -1):
            o, n = offsets[t], sizes[t]
            if t + 1 < len(sizes):
                no, nn = offsets[t + 1], sizes[t + 1]
                cur = cur.clone()
                cur[:nn] = back[no : no + nn].gather(1, cur[:nn].unsqueeze(1)).squeeze(1)
            states[o : o + n] = cur[:n]
        in_order = torch.empty_like(best)
        in_order[torch.tensor(packed.order, device=best.device)] = best
    return in_order, packed.unpack(states)


# ----------------------------------------------------------------------------- init
def random_init(
    k: int, seed: int, emission: str, n_symbols: int | None, x: np.ndarray | None, min_covar: float
) -> dict[str, np.ndarray]:
    """hmmlearn's own initialisation for `random_state=seed`, drawn in its order: Dirichlet
    (1/K) start and transition probabilities; uniform emission probabilities normalised
    (categorical: `init="random"`), or k-means means and the data's variance plus `min_covar`
    (gaussian: `init="kmeans"`)."""
    rs = np.random.RandomState(seed)
    out = {
        "startprob": rs.dirichlet(np.full(k, 1.0 / k)),
        "transmat": rs.dirichlet(np.full(k, 1.0 / k), size=k),
    }
    if emission == "categorical":
        e = np.random.RandomState(seed).rand(k, n_symbols)
        out["emissionprob"] = e / e.sum(1, keepdims=True)
        return out
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=k, random_state=seed, n_init=10).fit(x)
    out["means"] = kmeans.cluster_centers_
    cv = np.atleast_2d(np.cov(x.T)) + min_covar * np.eye(x.shape[1])
    out["covars"] = np.tile(np.diag(cv), (k, 1))
    return out


# ----------------------------------------------------------------------------- sampling
def sample(params: Params, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(symbols, states) of one chain of `n` steps from a single model (R = 1). The state
    chain is drawn with one uniform per step against cumulative rows (a bisection each); the
    emissions are drawn at once for all states."""
    start = params.startprob[0].double().cpu()
    trans = params.transmat[0].double().cpu()
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    start_cdf = start.cumsum(0).tolist()
    trans_cdf = trans.cumsum(1).tolist()
    k = len(start_cdf)
    states = [0] * n
    s = min(bisect.bisect_right(start_cdf, float(u[0])), k - 1) if n else 0
    u_list = u.tolist()
    for t in range(n):
        if t:
            row = trans_cdf[s]
            s = min(bisect.bisect_right(row, u_list[t]), k - 1)
        states[t] = s
    st = torch.tensor(states, dtype=torch.long)
    if params.emissionprob is not None:
        cdf = params.emissionprob[0].double().cpu().cumsum(1)[st]
        v = torch.rand(n, 1, generator=generator, dtype=torch.float64)
        symbols = (cdf <= v).sum(1).clamp(max=cdf.shape[1] - 1)
        return symbols, st
    means = params.means[0].double().cpu()[st]
    std = params.covars[0].double().cpu()[st].sqrt()
    return means + std * torch.randn(means.shape, generator=generator, dtype=torch.float64), st
