"""Generation and scoring with (a copy of) a text model: sampling with temperature, top-k and
top-p, with the KV cache of the built-in model or by re-running the cropped context for any
other, and per-token surprisal of a text in bits with up to `block_size` tokens of context."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LN2 = math.log(2.0)


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """ValueError for sampling options outside what is accepted."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not (temperature > 0 and math.isfinite(temperature))
    ):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 (or None: all tokens), got {top_k!r}")
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1
    ):
        raise ValueError(f"top_p must be in (0, 1] (or None: off), got {top_p!r}")


def filter_logits(logits: Tensor, top_k: int | None, top_p: float | None) -> Tensor:
    """(B, V) logits with everything outside the top k / the top-p nucleus set to -inf."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens before it already reach top_p (the first always stays).
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def logits_of(model: nn.Module, idx: Tensor) -> Tensor:
    """A model's (B, T, V) logits for `idx` (B, T): its output, or the first element of a
    tuple it returns (nanoGPT's models return (logits, loss))."""
    out = model(idx)
    return out[0] if isinstance(out, (tuple, list)) else out


def has_cache(model: nn.Module) -> bool:
    return callable(getattr(model, "forward_cached", None))


@torch.no_grad()
def generate_ids(
    model: nn.Module,
    prompt: list[int],
    max_new_tokens: int,
    block_size: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    device: torch.device | None = None,
    vocab_size: int | None = None,
) -> list[int]:
    """`max_new_tokens` sampled token ids after `prompt` (at least one id). With the KV cache
    (models with `forward_cached`), the context is re-read from its last `block_size // 2`
    tokens when it fills up; without, each token re-runs the last `block_size` tokens."""
    device = device or next(model.parameters()).device
    ids = torch.tensor([prompt[-block_size:]], dtype=torch.long, device=device)
    out: list[int] = []
    cache = None
    cached = use_cache and has_cache(model)
    logits: Tensor | None = None
    for _ in range(max_new_tokens):
        if cached:
            if cache is None:
                logits, cache = model.forward_cached(ids)  # type: ignore[operator]
            elif cache[0][0].shape[2] >= block_size:  # full: re-read the recent half
                ids = ids[:, -max(1, block_size // 2) :]
                logits, cache = model.forward_cached(ids)  # type: ignore[operator]
            else:
                logits, cache = model.forward_cached(ids[:, -1:], cache)  # type: ignore[operator]
        else:
            logits = logits_of(model, ids[:, -block_size:])
        assert logits is not None
        last = logits[:, -1, :vocab_size].float()  # a model may have more outputs than tokens
        next_logits = filter_logits(last / temperature, top_k, top_p)
        probs = next_logits.softmax(dim=-1)
        token = torch.multinomial(probs, 1, generator=generator)
        out.append(int(token))
        ids = torch.cat([ids, token], dim=1)
    return out


@torch.no_grad()
def token_logits(model: nn.Module, ids: list[int] | Tensor, block_size: int) -> Tensor:
    """(N - 1, V) logits predicting tokens 1..N-1 of `ids`, each with as much context as
    fits: the first window reads `block_size` tokens; later windows start half a block back
    and score only their new second half."""
    device = next(model.parameters()).device
    ids = torch.as_tensor(ids, dtype=torch.long, device=device)
    n = len(ids)
    parts: list[Tensor] = []
    done = 1  # tokens 1..done-1 are scored
    start = 0
    while done < n:
        end = min(n, start + block_size + 1)
        window = ids[start:end]
        logits = logits_of(model, window[None, :-1])[0]  # predicts window[1:]
        first = done - start - 1  # first new prediction within the window
        parts.append(logits[first:].float())
        done = end
        start = max(0, end - 1 - block_size + block_size // 2) if end < n else end
        start = min(start, end - 1)
    if not parts:
        return torch.zeros(0, 0)
    return torch.cat(parts)


def surprisal_bits(logits: Tensor, targets: Tensor) -> Tensor:
    """Bits of each target under the logits: -log2 p(target)."""
    return F.cross_entropy(logits, targets.to(logits.device), reduction="none") / LN2


@torch.no_grad()
def mean_loss(model: nn.Module, windows: Tensor, batch_size: int, device: torch.device) -> float:
    """Mean cross-entropy in nats per token over windows (W, T + 1) of held-out tokens."""
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        chunk = windows[i : i + batch_size].to(device)
        logits = logits_of(model, chunk[:, :-1])
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), chunk[:, 1:].reshape(-1), reduction="sum"
        )
        total += float(loss)
        count += chunk[:, 1:].numel()
    return total / max(1, count)


__all__ = [
    "LN2",
    "check_sampling",
    "filter_logits",
    "generate_ids",
    "has_cache",
    "logits_of",
    "mean_loss",
    "surprisal_bits",
    "token_logits",
]
