"""The HMM family: `HMMConfig` (config.py), the sequences and their held-out part (data.py),
Baum-Welch, Viterbi and sampling in PyTorch (algorithm.py) and `HMMFamily` (family.py).

Names load on first use (PEP 562): `hmm.config` alone (the flags) needs no torch."""

from __future__ import annotations

from ..._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("HMMConfig", "make_hmm_config"), ".config"),
    **dict.fromkeys(("HMMFamily", "HMM_METHODS"), ".family"),
    **dict.fromkeys(("read_data", "CASINO"), ".data"),
    "train_hmm": ".api",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
