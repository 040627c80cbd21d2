"""`gw.train_hmm`: an HMM run from keyword arguments, started at once."""

from __future__ import annotations

import os
from typing import Any

from ...engine.api import start_run
from ...engine.run import Run
from . import family as _family  # noqa: F401  (registers HMMFamily)
from .config import HMMConfig


def train_hmm(
    data: Any = "python-docs",
    n_states: int = 32,
    emission: str = "categorical",
    max_iters: int | None = 200,
    tol: float = 1e-4,
    restarts: int = 1,
    init: Any = "random",
    seed: int = 0,
    device: str = "auto",
    run_dir: str | os.PathLike | None = None,
    **options: Any,
) -> Run:
    """Fit a hidden Markov model by Baum-Welch in a background thread; returns its `Run`
    (one EM iteration per step: pause, step_once and stop act between iterations).

    `data`: "python-docs" (characters as symbols, a line per sequence), "casino" (Durbin's
    dishonest casino, known parameters), a str, sequences of integer symbols (a list of 1-D
    arrays, or one array with `lengths=`), or float sequences (T, d) with
    emission="gaussian" (`covariance="diag"` or "spherical"). `init`: "random" (hmmlearn's
    Dirichlet draws for `seed`, `seed + 1`, ... per restart), "kmeans" (gaussian means) or a
    dict of starting parameters. Training stops after `max_iters`, or when an iteration gains
    less than `tol` nats per symbol. Then `run.history["log_likelihood"]` (per symbol, nats),
    `run.transmat`, `run.score(X)`, `run.decode(X)`, `run.predict_proba(X)`, `run.sample(n)`."""
    return start_run(HMMConfig, locals())
