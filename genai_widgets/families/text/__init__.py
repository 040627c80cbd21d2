"""The text family: `TextConfig` (config.py), the tokenizers (tokenizer.py), the text and its
held-out split (data.py), generation and scoring (generation.py), `TextFamily` (family.py),
the baselines (baselines.py) and the memorisation meter (memorisation.py).

Names load on first use (PEP 562): `text.config` alone (the flags) needs no torch."""

from __future__ import annotations

from ..._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("TextConfig", "TOKENIZERS", "lr_at", "make_text_config"), ".config"),
    **dict.fromkeys(("CharTokenizer", "ByteTokenizer", "make_tokenizer"), ".tokenizer"),
    **dict.fromkeys(("TextSource", "python_docs", "read_text", "split_text"), ".data"),
    **dict.fromkeys(("TextFamily", "TEXT_GENERATION", "TEXT_METRICS"), ".family"),
    "train_text": ".api",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
