"""`char-gpt`: a decoder-only Transformer for character (or byte) language modelling, in the
style of nanoGPT (github.com/karpathy/nanoGPT, model.py): pre-LayerNorm blocks, causal
self-attention through `scaled_dot_product_attention`, learned positions and tied input /
output embeddings. Beyond nanoGPT it has a KV cache for generation (`forward_cached`) and an
explicit-softmax pass that returns the attention weights (`attention_weights`), so that
training keeps the fused kernel."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._registry import register_model

#: Per layer: (keys, values), each (B, n_head, T_cached, head_dim).
KVCache = list[tuple[Tensor, Tensor]]


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # queries, keys and values at once
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)

    def _heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        shape = (b, t, self.n_head, c // self.n_head)
        return (a.view(shape).transpose(1, 2) for a in (q, k, v))  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self._heads(x)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(b, t, c)))

    def forward_cached(self, x: Tensor, cache: tuple[Tensor, Tensor] | None):
        """New positions `x` attending to the cached ones and to themselves (causally)."""
        b, t, c = x.shape
        q, k, v = self._heads(x)
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        past = k.shape[2] - t
        if t == 1:  # one new token sees everything: no mask
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            mask = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c)), (k, v)

    def weights(self, x: Tensor) -> Tensor:
        """(B, n_head, T, T) softmax attention weights, computed explicitly."""
        q, k, _ = self._heads(x)
        t = x.shape[1]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))

    def forward_cached(self, x: Tensor, cache: tuple[Tensor, Tensor] | None):
        a, cache = self.attn.forward_cached(self.ln_1(x), cache)
        x = x + a
        return x + self.mlp(self.ln_2(x)), cache


class CharGPT(nn.Module):
    """A GPT over a vocabulary of `vocab_size` tokens with a context of `block_size`:
    `forward(idx)` maps (B, T) token ids (T <= block_size) to (B, T, vocab_size) logits."""

    def __init__(
        self,
        vocab_size: int,
        block_size: int = 128,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.vocab_size = vocab_size  # tokens: the tokenizer's vocabulary
        self.block_size = block_size  # longest context, in tokens
        self.n_layer = n_layer  # transformer blocks
        self.n_head = n_head  # attention heads per block
        self.n_embd = n_embd  # residual stream width
        self.wte = nn.Embedding(vocab_size, n_embd)  # token embeddings, tied to the output
        self.wpe = nn.Embedding(block_size, n_embd)  # learned position embeddings
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf 2017)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("c_proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _check(self, t: int, start: int = 0) -> None:
        if start + t > self.block_size:
            raise ValueError(
                f"a sequence of {start + t} tokens is longer than block_size={self.block_size}"
            )

    def forward(self, idx: Tensor) -> Tensor:
        t = idx.shape[1]
        self._check(t)
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def forward_cached(self, idx: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """Logits of the new positions `idx` (B, T) after the `cache` of earlier ones, and the
        longer cache. Positions continue from the cache's length (at most block_size)."""
        start = 0 if not cache else cache[0][0].shape[2]
        t = idx.shape[1]
        self._check(t, start)
        pos = torch.arange(start, start + t, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        new: KVCache = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block.forward_cached(x, cache[i] if cache else None)
            new.append(layer_cache)
        return self.lm_head(self.ln_f(x)), new

    @torch.no_grad()
    def attention_weights(self, idx: Tensor) -> Tensor:
        """(n_layer, B, n_head, T, T) attention weights of `idx`, by an explicit softmax."""
        t = idx.shape[1]
        self._check(t)
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        out = []
        for block in self.blocks:
            out.append(block.attn.weights(block.ln_1(x)))
            x = block(x)
        return torch.stack(out)


@register_model("char-gpt", family="text")
def char_gpt(
    vocab_size: int,
    block_size: int = 128,
    n_layer: int = 4,
    n_head: int = 4,
    n_embd: int = 128,
    dropout: float = 0.0,
) -> CharGPT:
    """The text family's built-in model."""
    return CharGPT(vocab_size, block_size, n_layer, n_head, n_embd, dropout)


__all__ = ["CharGPT", "KVCache", "char_gpt"]
