"""Tokenizers of the text family: `"char"` (the characters of the training text, sorted) and
`"byte"` (UTF-8 bytes: a vocabulary of 256 that covers every language). Both are plain data
that a checkpoint holds (`state()` / `tokenizer_from_state`). No torch here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Characters shown for tokens that print as nothing (in listings and hover cards).
_VISIBLE = {"\n": "\\n", "\t": "\\t", "\r": "\\r", " ": "␣"}


class CharTokenizer:
    """One token per character of the training text (its distinct characters, sorted)."""

    kind = "char"

    def __init__(self, chars: Sequence[str]):
        self.chars = list(chars)
        if not self.chars:
            raise ValueError("the char tokenizer needs at least one character")
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of `text` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    def encode(self, text: str, *, what: str = "the text") -> list[int]:
        """Token ids of `text`; ValueError naming characters outside the vocabulary."""
        try:
            return [self.index[c] for c in text]
        except KeyError:
            missing = self.unknown(text)
            shown = ", ".join(repr(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise ValueError(
                f"{what} has {len(missing)} character(s) the char tokenizer never saw in the "
                f"training text: {shown}; remove them, or train with tokenizer='byte' (UTF-8 "
                f"bytes, any text)"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def token_text(self, token: int) -> str:
        """One token as text."""
        return self.chars[int(token)]

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": "".join(self.chars)}

    def chars_per_token(self, text: str) -> float:
        return 1.0


class ByteTokenizer:
    """One token per UTF-8 byte: a vocabulary of 256, for text in any language. Decoding a cut
    through a multi-byte character shows U+FFFD for the partial character."""

    kind = "byte"
    vocab_size = 256

    def unknown(self, text: str) -> list[str]:
        return []

    def encode(self, text: str, *, what: str = "the text") -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def token_text(self, token: int) -> str:
        b = int(token)
        return chr(b) if b < 128 else f"\\x{b:02x}"

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def chars_per_token(self, text: str) -> float:
        """Characters per byte of `text` (< 1 outside ASCII)."""
        n = len(text.encode("utf-8"))
        return len(text) / n if n else 1.0


Tokenizer = CharTokenizer | ByteTokenizer


def make_tokenizer(kind: str, text: str) -> Tokenizer:
    """The tokenizer `kind` ("char" or "byte") for training on `text`."""
    if kind == "char":
        return CharTokenizer.from_text(text)
    if kind == "byte":
        return ByteTokenizer()
    raise ValueError(f"tokenizer must be 'char' or 'byte'; got {kind!r}")


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """The tokenizer a checkpoint (or `tokenizer.json`) recorded."""
    if state.get("kind") == "char":
        return CharTokenizer(list(state["chars"]))
    if state.get("kind") == "byte":
        return ByteTokenizer()
    raise ValueError(f"unknown tokenizer state {state!r}")


def visible(token: str) -> str:
    """A token as it can be read in a list: newlines, tabs and spaces made visible."""
    return _VISIBLE.get(token, token)


__all__ = [
    "ByteTokenizer",
    "CharTokenizer",
    "Tokenizer",
    "make_tokenizer",
    "tokenizer_from_state",
    "visible",
]
