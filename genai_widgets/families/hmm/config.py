"""`HMMConfig`: every field of a hidden Markov model run (`gw.train_hmm(**kw)`,
`%%hmm_train`). No torch here: the magics' flags read it without it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ...engine.config import RunConfig, build_config, finite_non_negative, positive_int

EMISSIONS = ("categorical", "gaussian")
COVARIANCES = ("diag", "spherical")
INITS = ("random", "kmeans")
PRECISIONS = ("auto", "float64", "float32")


@dataclass(frozen=True)
class HMMConfig(RunConfig):
    """A hidden Markov model fitted by Baum-Welch (EM): one EM iteration is one step of the
    run, so pause, step once and stop act between iterations."""

    family: ClassVar[str] = "hmm"
    settable: ClassVar[tuple[str, ...]] = ("tol", "max_steps", "sample_every", "step_delay")
    #: Names a `%%hmm_train` cell body may bind to give the data (the first one bound wins).
    data_names: ClassVar[tuple[str, ...]] = ("data", "X")

    data: Any = "python-docs"  # python-docs, casino, a str, int or float sequences (list / X)
    model: Any = None  # none to give: n_states, emission and covariance define the model
    batch_size: int = 64  # unused: each EM iteration reads all the data
    lr: float = 2e-4  # unused: EM has no learning rate
    beta1: float = 0.5  # unused (no optimizer)
    beta2: float = 0.999  # unused (no optimizer)
    lengths: Any = None  # with data= one concatenated array: the length of each sequence
    n_states: int = 32  # hidden states K
    emission: str = "categorical"  # one of EMISSIONS: categorical (symbols), gaussian (vectors)
    covariance: str = "diag"  # one of COVARIANCES: diag (per dimension), spherical (one)
    max_iters: int | None = 200  # EM iterations (steps) at most; None: until converged
    tol: float = 1e-4  # stop when an iteration gains less log-likelihood per symbol (nats)
    restarts: int = 1  # models fitted at once from different inits; the best is kept
    init: Any = "random"  # random (hmmlearn's Dirichlet), kmeans (gaussian means) or a dict
    val_fraction: float = 0.1  # held-out share: the text's tail, or the last sequences (0: none)
    precision: str = "auto"  # float64 (auto on CPU and CUDA) or float32 (faster on a GPU)
    min_covar: float = 1e-3  # added to the data's variance when gaussian variances start
    startprob_prior: float = 1.0  # Dirichlet prior of the start probabilities (1: none)
    transmat_prior: float = 1.0  # Dirichlet prior of each transition row (1: none)
    emissionprob_prior: float = 1.0  # Dirichlet prior of each emission row (1: none)
    means_prior: float = 0.0  # prior mean of the gaussian means
    means_weight: float = 0.0  # weight of means_prior (0: none)
    covars_prior: float = 1e-2  # prior of the gaussian variances (keeps them off zero)
    covars_weight: float = 1.0  # weight of covars_prior
    sample_symbols: int = 200  # length of the live sample kept every sample_every steps
    sample_every: int | None = 1  # EM iterations between snapshots (sample, matrix)
    checkpoint_every: int = 10  # EM iterations between checkpoints (0: only on save/stop)

    def __post_init__(self) -> None:
        # The engine counts steps: max_iters is this family's name for max_steps.
        if self.max_steps is None and self.max_iters is not None:
            object.__setattr__(self, "max_steps", self.max_iters)

    def replace(self, **changes: Any) -> HMMConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if isinstance(self.data, str) and ("\n" in self.data or len(self.data) > 200):
            out["data"] = f"<str of {len(self.data)} characters>"
        return out

    def validate(self, resolved: bool = False) -> None:
        super().validate(resolved)
        c = self
        positive_int("n_states", c.n_states)
        positive_int("max_iters", c.max_iters, allow_none=True)
        positive_int("restarts", c.restarts)
        positive_int("sample_symbols", c.sample_symbols)
        for name, value, accepted in (
            ("emission", c.emission, EMISSIONS),
            ("covariance", c.covariance, COVARIANCES),
            ("precision", c.precision, PRECISIONS),
        ):
            if value not in accepted:
                raise ValueError(
                    f"{name} must be one of {', '.join(map(repr, accepted))}; got {value!r}"
                )
        if not isinstance(c.init, dict) and c.init not in INITS:
            raise ValueError(
                f"init must be 'random', 'kmeans' or a dict of starting parameters "
                f"(startprob, transmat, emissionprob or means and covars); got {c.init!r}"
            )
        if c.init == "kmeans" and c.emission != "gaussian":
            raise ValueError(
                "init='kmeans' places gaussian means; a categorical HMM takes init='random' "
                "or a dict"
            )
        if isinstance(c.tol, bool) or not isinstance(c.tol, (int, float)) or math.isnan(c.tol):
            raise ValueError(f"tol must be a number (nats per symbol), got {c.tol!r}")
        value = c.val_fraction
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {value!r}")
        for name in ("min_covar", "covars_prior", "means_weight"):
            finite_non_negative(name, getattr(c, name))
        for name in ("startprob_prior", "transmat_prior", "emissionprob_prior", "covars_weight"):
            finite_non_negative(name, getattr(c, name))
        if c.model is not None:
            raise ValueError(
                "an HMM has no model= to give: n_states, emission and covariance define it"
            )


def make_hmm_config(**kwargs: Any) -> HMMConfig:
    """Build and validate an HMMConfig; unknown keys raise TypeError listing the valid ones."""
    return build_config(HMMConfig, kwargs)


__all__ = ["COVARIANCES", "EMISSIONS", "HMMConfig", "INITS", "make_hmm_config"]
