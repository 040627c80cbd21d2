"""The HMM family: hidden Markov models fitted by Baum-Welch, one EM iteration per step of the
`Run`, R restarts fitted at once in one tensor (`algorithm.py`). Its capability `HMM_METHODS`
is what a run offers beyond the shared engine: `run.score`, `run.decode` (Viterbi),
`run.predict_proba`, `run.view` (what the dashboard draws), and the parameters of the best
restart as numpy arrays: `run.startprob`, `run.transmat`, `run.emissionprob` (categorical),
`run.means`, `run.covars` (gaussian)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from ...engine.family import (
    Built,
    Capability,
    Columns,
    Family,
    NextBatch,
    NonFiniteLossError,
    Settings,
    Warnings,
)
from ...engine.registry import register_family
from . import algorithm as alg
from .config import HMMConfig
from .data import HMMData, _arrays, read_data

if TYPE_CHECKING:
    from ...engine.run import Run

HMM_METHODS = Capability(
    "hidden Markov model inference",
    "hidden Markov model inference",
    methods=("score", "decode", "predict_proba", "view", "matched_errors"),
    attributes=("startprob", "transmat", "emissionprob", "means", "covars", "n_states"),
)
#: Restarts up to this many get history columns of their own (the leaderboard).
MAX_RESTART_COLUMNS = 16
#: A state whose expected share of the symbols is below this is reported dead.
DEAD_SHARE = 1e-3
#: A variance below this share of the data's variance (per dimension) is collapsing.
COLLAPSE_SHARE = 1e-4
#: Transition matrices up to this size go into each snapshot (the scrubbable heatmap).
MAX_SNAPSHOT_STATES = 64
#: Symbols of the held-out passage whose posteriors and Viterbi path each snapshot keeps.
PASSAGE_SYMBOLS = 80
#: Training vectors (first two dimensions) drawn under the Gaussian states' ellipses.
EMISSION_POINTS = 300


class HMMParameters(nn.Module):
    """The R models' parameters as buffers (probabilities; leading restart dimension), so a
    checkpoint and `run.inference_copy("hmm")` treat them like any module's."""

    def __init__(self, params: alg.Params):
        super().__init__()
        self.set(params)

    def set(self, params: alg.Params) -> None:
        for name, value in params.tensors().items():
            self.register_buffer(name, value)

    def params(self) -> alg.Params:
        return alg.Params(**{name: buf for name, buf in self.named_buffers()})


class HMMFamily(Family):
    name = "hmm"
    config_class = HMMConfig
    module_names = ()  # nothing of the user's: the parameters are `run.hmm`
    sample_kind = "sequences"
    dashboard = "genai_widgets.widgets.hmm.dashboard:HMMDashboard"
    panels = ("controls", "curves", "transition heatmap", "emissions", "sample", "restarts")
    capabilities = (HMM_METHODS,)
    description = "hidden Markov model fitted by Baum-Welch (EM), categorical or gaussian"
    sparse_metrics = ("val_log_likelihood",)
    health_every = 1
    single_process = (
        "each EM iteration reads all the data; its statistics are not averaged gradients"
    )

    def __init__(
        self, config: HMMConfig, data: HMMData | None, params: alg.Params, device: torch.device
    ):
        self.config = config
        self.data = data
        self.device = device
        self.dtype = params.startprob.dtype
        self.k = params.startprob.shape[1]
        self.restarts = params.startprob.shape[0]
        self.model = HMMParameters(params)
        self.kind = data.kind if data is not None else "symbols"
        self.alphabet = data.alphabet if data is not None else None
        self.priors = alg.Priors(
            config.startprob_prior,
            config.transmat_prior,
            config.emissionprob_prior,
            config.means_prior,
            config.means_weight,
            config.covars_prior,
            config.covars_weight,
        )
        names = ["log_likelihood", "val_log_likelihood", "gain", "best_restart"]
        if 1 < self.restarts <= MAX_RESTART_COLUMNS:
            for r in range(self.restarts):
                names += [f"r{r}_log_likelihood", f"r{r}_val_log_likelihood"]
        self.metric_names = tuple(names)
        self._train = self._held = None
        self._emission_points: list[list[float]] | None = None
        if data is not None:
            self._train = alg.pack(data.train.x.to(device, self._xdtype()), data.train.lengths)
            if data.held is not None:
                self._held = alg.pack(data.held.x.to(device, self._xdtype()), data.held.lengths)
        self.prev: Tensor | None = None  # total log-likelihood of the last iteration (R,)
        self.best = 0
        self.converged: str | None = None
        self.decreases: list[tuple[int, int, float]] = []  # (step, restart, drop in nats)
        self._occupancy: Tensor | None = None
        self._order: list[int] | None = None  # display order of the states (snapshots)
        self._data_var = (
            data.train.x.double().var(0).to(device, self.dtype)
            if data is not None and data.kind == "vectors"
            else None
        )

    def _xdtype(self) -> torch.dtype:
        return torch.long if self.kind != "vectors" else self.dtype

    # ------------------------------------------------------------------ training
    def step(
        self, next_batch: NextBatch, settings: Settings, step: int, *, check_finite: bool
    ) -> Tensor:
        assert self._train is not None
        params = self.model.params()
        e = alg.e_step(params, self._train)
        ll = e.log_likelihood
        if not bool(torch.isfinite(ll).all()):
            bad = int((~torch.isfinite(ll)).nonzero()[0])
            raise NonFiniteLossError(f"log_likelihood of restart {bad}", float(ll[bad]))
        val = alg.log_likelihood(params, self._held) if self._held is not None else None
        new = alg.m_step(params, self._train, e, self.priors, self.config.covariance)
        n = self._train.n_symbols
        per = ll / n
        gain = torch.full_like(per, math.inf)
        if self.prev is not None:
            gain = per - self.prev / n
            drop = self.prev - ll
            # hmmlearn#410, #494: EM never lowers the likelihood beyond float resolution
            # (priors other than 1 make it MAP, which may).
            tolerance = 1e3 * torch.finfo(self.dtype).eps * self.prev.abs() + 1e-9
            for r in (drop > tolerance).nonzero().flatten().tolist():
                self.decreases.append((step, r, float(drop[r])))
                del self.decreases[:-20]
        self.prev = ll
        self.model.set(new)
        self._occupancy = e.gamma.sum(1) / n  # (R, K) expected share of the symbols
        val_per = val / self._held.n_symbols if val is not None else None
        score = val_per if val_per is not None else per
        self.best = int(torch.argmax(score))
        tol = settings["tol"]
        if self.prev is not None and bool((gain < tol).all()):
            self.converged = (
                f"converged at iteration {step}: the log-likelihood gained "
                f"{float(gain.max()):.2e} nats per symbol (< tol={tol:g})"
            )
        else:
            self.converged = None
        nan = torch.tensor(math.nan, dtype=self.dtype, device=per.device)
        row = [
            per[self.best],
            val_per[self.best] if val_per is not None else nan,
            gain[self.best] if math.isfinite(float(gain[self.best])) else nan,
            torch.tensor(float(self.best), dtype=self.dtype, device=per.device),
        ]
        if 1 < self.restarts <= MAX_RESTART_COLUMNS:
            for r in range(self.restarts):
                row += [per[r], val_per[r] if val_per is not None else nan]
        return torch.stack(row)

    def finished(self) -> str | None:
        return self.converged

    def apply_settings(self, settings: dict[str, Any]) -> None:
        pass  # tol is read from the settings at each step; EM has no learning rate

    def health(
        self, history: Columns, step: int, settings: Settings, evaluations: Columns | None = None
    ) -> Warnings:
        out: Warnings = []
        recent = [d for d in self.decreases if d[0] > step - 5]
        if recent:
            s, r, drop = recent[-1]
            out.append(
                (
                    "LikelihoodDecreased",
                    f"the log-likelihood of restart {r} went down by {drop:.3g} nats at iteration "
                    f"{s}: EM never lowers it; priors other than 1 (MAP) or float32 can",
                )
            )
        if self._occupancy is not None:
            occ = self._occupancy[self.best]
            dead = (occ < DEAD_SHARE).nonzero().flatten().tolist()
            if dead:
                out.append(
                    (
                        "DeadStates",
                        f"{len(dead)} of {self.k} states explain almost none of the data "
                        f"(occupancy < {DEAD_SHARE:g}): states {dead[:10]}; fewer states may do",
                    )
                )
        if self._data_var is not None:
            covars = self.model.covars[self.best]
            ratio = covars / self._data_var.clamp(min=1e-300)
            low = (ratio < COLLAPSE_SHARE).any(-1).nonzero().flatten().tolist()
            if low:
                out.append(
                    (
                        "VarianceCollapse",
                        f"the variance of states {low[:10]} collapsed below {COLLAPSE_SHARE:g} of "
                        "the data's: a state is fitting a handful of points (raise covars_prior)",
                    )
                )
        return out

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        return {
            "params": {k: v.clone() for k, v in self.model.params().tensors().items()},
            "prev": None if self.prev is None else self.prev.clone(),
            "best": self.best,
            "alphabet": self.alphabet,
            "kind": self.kind,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        params = alg.Params(
            **{k: v.to(self.device, self.dtype) for k, v in state["params"].items()}
        )
        self.model.set(params)
        self.prev = None if state.get("prev") is None else state["prev"].to(self.device)
        self.best = int(state.get("best", 0))

    def store_meta(self) -> dict[str, Any]:
        return {"alphabet": self.alphabet, "kind": self.kind, "n_states": self.k}

    def modules(self) -> dict[str, nn.Module]:
        return {"hmm": self.model}

    def result(self) -> Any:
        return self.model

    # ------------------------------------------------------------------ parameters
    def _best_params(self, run: Run | None = None) -> alg.Params:
        if run is None:
            return self.model.params().select(self.best)
        with run.inference_copy("hmm") as copy:
            return copy.params().select(self.best)

    def _numpy(self, name: str) -> np.ndarray | None:
        value = getattr(self.model.params(), name)
        return None if value is None else value[self.best].detach().cpu().numpy().copy()

    @property
    def startprob(self) -> np.ndarray:
        return self._numpy("startprob")

    @property
    def transmat(self) -> np.ndarray:
        return self._numpy("transmat")

    @property
    def emissionprob(self) -> np.ndarray | None:
        return self._numpy("emissionprob")

    @property
    def means(self) -> np.ndarray | None:
        return self._numpy("means")

    @property
    def covars(self) -> np.ndarray | None:
        """The best restart's variances, (K, d) diagonals (hmmlearn's `_covars_`)."""
        return self._numpy("covars")

    @property
    def n_states(self) -> int:
        return self.k

    # ------------------------------------------------------------------ inference
    def _packed(self, x: Any, lengths: Any) -> alg.Packed:
        if isinstance(x, str):
            if self.data is None or self.alphabet is None:
                raise ValueError("this run's symbols are not characters; pass integer symbols")
            ids = self.data.encode(x)
            seqs = [ids]
        else:
            seqs = [torch.as_tensor(s) for s in _arrays(x, lengths)]
        for j, s in enumerate(seqs):
            if not len(s):
                raise ValueError(f"sequence {j} is empty")
        if self.kind == "vectors":
            seqs = [s.to(torch.float64).reshape(len(s), -1) for s in seqs]
            d = self.model.means.shape[-1]
            if seqs[0].shape[1] != d:
                raise ValueError(f"this model emits {d}-D vectors; got {seqs[0].shape[1]}-D")
            dtype = self.dtype
        else:
            seqs = [s.reshape(-1) for s in seqs]
            m = self.model.emissionprob.shape[-1]
            for s in seqs:
                if s.is_floating_point() or (len(s) and (int(s.min()) < 0 or int(s.max()) >= m)):
                    raise ValueError(f"symbols must be integers in [0, {m - 1}] for this model")
            dtype = torch.long
        x_all = torch.cat(seqs).to(self.device, dtype)
        return alg.pack(x_all, [len(s) for s in seqs])

    def score(self, run: Run, X: Any, lengths: Any = None) -> float:
        """The log-likelihood of `X` (nats, summed over its sequences) under the best model."""
        packed = self._packed(X, lengths)
        return float(alg.log_likelihood(self._best_params(run), packed)[0])

    def decode(self, run: Run, X: Any, lengths: Any = None) -> tuple[float, np.ndarray]:
        """Viterbi: (log probability of the best state path, its states), as hmmlearn's."""
        packed = self._packed(X, lengths)
        log_prob, states = alg.viterbi(self._best_params(run), packed)
        return float(log_prob.sum()), states.cpu().numpy()

    def predict_proba(self, run: Run, X: Any, lengths: Any = None) -> np.ndarray:
        """The posterior probability of each state at each symbol, (T, K)."""
        packed = self._packed(X, lengths)
        e = alg.e_step(self._best_params(run), packed)
        return packed.unpack(e.gamma[0]).cpu().numpy()

    def sample(self, run: Run, n: int = 200, seed: int | None = None, **options: Any) -> Any:
        """`n` symbols of one chain from the best model: a str for text, an array of symbols
        (n,) or of vectors (n, d) otherwise. `states=True` also returns the states."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        generator = torch.Generator().manual_seed(
            seed if seed is not None else int(torch.randint(2**31, ()))
        )
        symbols, states = alg.sample(self._best_params(run), n, generator)
        out: Any = symbols.numpy()
        if self.kind == "text" and self.alphabet is not None:
            out = "".join(self.alphabet[int(i)] for i in symbols)
        return (out, states.numpy()) if options.get("states") else out

    def matched_errors(self, run: Run | None, truth: dict[str, Any] | None = None) -> dict:
        """The best model against known parameters (`truth`; the casino's by default) after
        matching its states to theirs (Hungarian, on the emissions): the largest absolute
        errors of the transition and emission probabilities, and the matching."""
        truth = truth or (self.data.truth if self.data is not None else None)
        if truth is None:
            raise ValueError("no known parameters to compare with: pass truth={...}")
        t_trans = np.asarray(truth["transmat"], dtype=float)
        est = {k: self._numpy(k) for k in ("startprob", "transmat", "emissionprob", "means")}
        key = "emissionprob" if est["emissionprob"] is not None else "means"
        t_emit = np.asarray(truth[key], dtype=float)
        order = match_states(est[key], t_emit)  # est state order[i] plays true state i
        out = {
            "order": order,
            "transmat": float(np.abs(est["transmat"][np.ix_(order, order)] - t_trans).max()),
        }
        out[key] = float(np.abs(est[key][order] - t_emit).max())
        return out

    # ------------------------------------------------------------------ the views
    def _align(self, emission: np.ndarray) -> list[int]:
        """A display order of the states that follows the previous one (Hungarian matching
        of the emissions), so the heatmap does not shuffle between iterations."""
        if self._order is None or self._last_emission is None:
            order = list(range(len(emission)))
        else:
            order = match_states(emission, self._last_emission)
        self._order = order
        self._last_emission = emission[order]
        return order

    _last_emission: np.ndarray | None = None

    def view(self, run: Run | None = None, top: int = 5) -> dict[str, Any]:
        """What the dashboard draws, JSON-able: the aligned transition matrix, the emissions
        (top symbols, or means and variances), the occupancy, the restarts' leaderboard, the
        true parameters and errors where known."""
        p = self._best_params(run) if run is not None else self._best_params()
        emission = (p.emissionprob if p.emissionprob is not None else p.means)[0].cpu().numpy()
        order = self._align(emission)
        trans = p.transmat[0].cpu().numpy()[np.ix_(order, order)]
        out: dict[str, Any] = {
            "n_states": self.k,
            "order": order,
            "transmat": trans.round(5).tolist() if self.k <= MAX_SNAPSHOT_STATES else None,
            "startprob": p.startprob[0].cpu().numpy()[order].round(5).tolist(),
        }
        if self._occupancy is not None:
            out["occupancy"] = self._occupancy[self.best].cpu().numpy()[order].round(5).tolist()
        if p.emissionprob is not None:
            e = p.emissionprob[0].cpu().numpy()[order]
            idx = np.argsort(-e, axis=1)[:, :top]
            names = self.alphabet or [str(i) for i in range(e.shape[1])]
            out["top_symbols"] = [
                [[names[j], round(float(e[s, j]), 4)] for j in idx[s]] for s in range(self.k)
            ]
        else:
            out["means"] = p.means[0].cpu().numpy()[order].round(5).tolist()
            out["covars"] = p.covars[0].cpu().numpy()[order].round(5).tolist()
            out["points"] = self._points()
        if self._held is not None and self.k <= MAX_SNAPSHOT_STATES:
            out["passage"] = self._passage(p, order)
        if self.data is not None and self.data.truth is not None:
            out["truth"] = self.data.truth
            out["errors"] = self.matched_errors(run)
        if self.prev is not None and self.restarts > 1:
            out["restarts"] = sorted(
                (
                    {"restart": r, "log_likelihood": float(self.prev[r]) / self._train.n_symbols}
                    for r in range(self.restarts)
                ),
                key=lambda row: -row["log_likelihood"],
            )
        return out

    def _points(self) -> list[list[float]]:
        """Up to EMISSION_POINTS training vectors, evenly spaced, first two dimensions: the
        data under the Gaussian states' ellipses (the same points at every snapshot)."""
        if self._emission_points is None:
            x = self.data.train.x if self.data is not None else torch.zeros(0, 1)
            idx = torch.linspace(0, len(x) - 1, min(EMISSION_POINTS, len(x))).long()
            self._emission_points = x[idx, :2].double().numpy().round(4).tolist()
        return self._emission_points

    def _passage(self, p: alg.Params, order: list[int]) -> dict[str, Any]:
        """The start of the held-out data: each symbol's state posteriors (columns in the
        display order) and the Viterbi path (display positions), for the posterior ribbon."""
        assert self.data is not None and self.data.held is not None
        pieces, total = [], 0
        for seq in self.data.held.split():
            if total >= PASSAGE_SYMBOLS:
                break
            part = seq[: max(2, PASSAGE_SYMBOLS - total)]
            pieces.append(part)
            total += len(part)
        x = torch.cat(pieces).to(self.device, self._xdtype())
        packed = alg.pack(x, [len(s) for s in pieces])
        gamma = packed.unpack(alg.e_step(p, packed).gamma[0]).cpu().numpy()[:, order]
        _, states = alg.viterbi(p, packed)
        position = {state: i for i, state in enumerate(order)}
        out: dict[str, Any] = {
            "posterior": gamma.round(2).tolist(),
            "viterbi": [position[int(s)] for s in states.tolist()],
            "symbols": None,
        }
        if self.kind != "vectors":
            names = self.alphabet or [str(i) for i in range(int(self.model.emissionprob.shape[-1]))]
            out["symbols"] = [names[int(i)] for i in x.tolist()]
        return out

    def snapshot(self, run: Run) -> dict[str, Any] | None:
        """This iteration's record: a sample from a fixed seed, and the view."""
        record = self.view()
        generator = torch.Generator().manual_seed(self.config.seed + 7919)
        symbols, _ = alg.sample(self._best_params(), self.config.sample_symbols, generator)
        if self.kind == "text" and self.alphabet is not None:
            record["text"] = "".join(self.alphabet[int(i)] for i in symbols)
        elif self.kind == "symbols":
            record["symbols"] = symbols.tolist()
        return record

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, config: HMMConfig, device: torch.device) -> Built:  # type: ignore[override]
        data = read_data(
            config.data, config.lengths, config.emission, config.val_fraction, config.seed
        )
        dtype = precision(config.precision, device)
        params = initial_params(config, data, dtype, device)
        family = cls(config, data, params, device)
        return Built(family, config, data, data.held)


def precision(name: str, device: torch.device) -> torch.dtype:
    if name == "float32" or (name == "auto" and device.type == "mps"):
        return torch.float32
    return torch.float64


def initial_params(
    config: HMMConfig, data: HMMData, dtype: torch.dtype, device: torch.device
) -> alg.Params:
    """R models: hmmlearn's random init for seeds seed, seed + 1, ... or the user's dict."""
    k, emission = config.n_states, config.emission
    if isinstance(config.init, dict):
        if config.restarts > 1:
            raise ValueError("restarts > 1 needs init='random' (or 'kmeans'): a dict is one start")
        given = explicit_init(config.init, k, emission, data)
        inits = [given]
    else:
        x = data.train.x.numpy() if emission == "gaussian" else None
        inits = []
        for r in range(config.restarts):
            seed = config.seed + r
            if emission == "gaussian" and config.init == "random":
                rs = np.random.RandomState(seed)
                one = {
                    "startprob": rs.dirichlet(np.full(k, 1.0 / k)),
                    "transmat": rs.dirichlet(np.full(k, 1.0 / k), size=k),
                }
                rows = rs.choice(len(x), size=k, replace=len(x) < k)
                one["means"] = x[rows]
                var = np.atleast_1d(x.var(0)) + config.min_covar
                one["covars"] = np.tile(var, (k, 1))
            else:
                one = alg.random_init(k, seed, emission, data.n_symbols, x, config.min_covar)
            inits.append(one)
    stacked = {
        name: torch.tensor(np.stack([i[name] for i in inits]), dtype=dtype, device=device)
        for name in inits[0]
    }
    if emission == "gaussian" and config.covariance == "spherical":
        stacked["covars"] = alg.spherical(stacked["covars"])
    return alg.Params(**stacked)


def explicit_init(init: dict[str, Any], k: int, emission: str, data: HMMData) -> dict:
    need = ("startprob", "transmat") + (
        ("emissionprob",) if emission == "categorical" else ("means", "covars")
    )
    missing = [n for n in need if n not in init]
    extra = sorted(set(init) - set(need))
    if missing or extra:
        raise ValueError(
            f"init= as a dict needs exactly {', '.join(need)}; "
            + (f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}")
        )
    out = {n: np.asarray(init[n], dtype=np.float64) for n in need}
    m = data.n_symbols
    d = data.train.x.shape[1] if emission == "gaussian" else None
    shapes = {
        "startprob": (k,),
        "transmat": (k, k),
        "emissionprob": (k, m),
        "means": (k, d),
        "covars": (k, d),
    }
    for n in need:
        if out[n].shape != shapes[n]:
            raise ValueError(f"init[{n!r}] must have shape {shapes[n]}; got {out[n].shape}")
    for n in ("startprob", "transmat", "emissionprob"):
        if n not in out:
            continue
        rows = np.atleast_2d(out[n])
        if (rows < 0).any():
            raise ValueError(f"init[{n!r}] has negative probabilities")
        sums = rows.sum(1)
        bad = np.flatnonzero(~np.isclose(sums, 1.0))
        if len(bad):
            where = "" if n == "startprob" else f" row {int(bad[0])}"
            raise ValueError(f"init[{n!r}]{where} must sum to 1; it sums to {sums[bad[0]]:.6g}")
    if "covars" in out and (out["covars"] <= 0).any():
        raise ValueError("init['covars'] must be positive variances")
    return out


def match_states(estimated: np.ndarray, reference: np.ndarray) -> list[int]:
    """order[i]: the estimated state matched to reference state i (Hungarian assignment on
    the L1 distance of their emission rows)."""
    from scipy.optimize import linear_sum_assignment

    cost = np.abs(reference[:, None, :] - estimated[None, :, :]).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    order = [0] * len(reference)
    for r, c in zip(rows, cols, strict=True):
        order[r] = int(c)
    return order


register_family(HMMFamily)
