"""Multi-head attention, written out, plus a KV cache for incremental decoding.

Mask convention everywhere: boolean, True = may attend / is a real token (as in scaled_dot_product_attention).
`attention(..., fast=False)` is the textbook softmax(QKᵀ/√d)V; `fast=True` hands the same computation to
`F.scaled_dot_product_attention`, which picks a fused kernel (flash / memory-efficient) when it can. A test
checks that both give the same outputs and gradients.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..dropout import Dropout, dropout


def causal_mask(t: int, s: int, device=None) -> torch.Tensor:
    """(t, s) bool mask for t queries that are the LAST t of s positions: query i sees keys 0 .. s-t+i."""
    return torch.ones(t, s, dtype=torch.bool, device=device).tril(diagonal=s - t)


def attention(q, k, v, mask=None, is_causal=False, dropout_p=0.0, fast=True):
    """q (B, H, T, Dh), k and v (B, H, S, Dh) -> (B, H, T, Dh).

    mask: bool, broadcastable to (B, H, T, S), True = may attend. is_causal: queries are the last T of the S
    key positions (T == S in training; T < S when decoding with a cache). A query row with no key it may
    attend to has no defined output; do not ask for one.
    """
    t, s = q.size(-2), k.size(-2)
    if is_causal and (mask is not None or t != s):
        # SDPA's is_causal aligns the triangle to the top-left corner and cannot be combined with a mask,
        # so fold the causal part into an explicit mask aligned to the bottom-right (the cache case)
        causal = causal_mask(t, s, q.device)
        mask = causal if mask is None else mask & causal
        is_causal = False
    if fast and q.device.type == "cpu" and q.dtype == torch.bfloat16:
        # torch's fused CPU attention is slow in bf16 (its backward ~6x its fp32 one, torch 2.13), while the explicit
        # matmuls below run on the CPU's bf16 units: a bf16 GPT step is 1.5-2x faster this way (docs/benchmarks.md)
        fast = False
    if fast:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (B, H, T, S)
    if is_causal:
        mask = causal_mask(t, s, q.device)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p)
    return weights @ v


class LayerCache:
    """Keys and values seen so far by one layer's self-attention, in a buffer that grows by doubling.

    Also holds the projected keys/values of the encoder memory for cross-attention (computed once).
    """

    def __init__(self):
        self.k = self.v = None  # (B, H, capacity, Dh)
        self.length = 0
        self.cross_kv = None

    def _grow(self, old, new, capacity):
        buf = new.new_empty(new.size(0), new.size(1), capacity, new.size(3))
        if old is not None:
            buf[:, :, : self.length] = old[:, :, : self.length]
        return buf

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add (B, H, T, Dh) new keys/values; return all keys/values so far (views, no copy)."""
        end = self.length + k.size(2)
        if self.k is None or end > self.k.size(2):
            capacity = max(end, 2 * (self.k.size(2) if self.k is not None else 0), 16)
            self.k, self.v = self._grow(self.k, k, capacity), self._grow(self.v, v, capacity)
        self.k[:, :, self.length : end] = k
        self.v[:, :, self.length : end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


class KVCache:
    """Per-layer key/value store for incremental decoding: pass one to a decoder, it fills and reads it.

    cache.layer(i) is layer i's LayerCache; cache.length is the number of positions already processed (the
    position offset of the next token). reset() empties it (used when the context window slides).
    """

    def __init__(self, n_layer: int):
        self.layers = [LayerCache() for _ in range(n_layer)]

    def layer(self, i: int) -> LayerCache:
        return self.layers[i]

    @property
    def length(self) -> int:
        return self.layers[0].length if self.layers else 0

    def reset(self) -> None:
        self.layers = [LayerCache() for _ in self.layers]


class MultiHeadAttention(nn.Module):
    """Self-attention (context=None) or cross-attention (keys/values from `context`).

    One (d, 3d) projection holds the query, key and value weights: self-attention uses it as one matmul,
    cross-attention applies its query rows to x and its key/value rows to the context.
    """

    def __init__(self, d_model: int, n_head: int, dropout: float = 0.0, bias: bool = True, fast: bool = True):
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model {d_model} is not divisible by n_head {n_head}")
        self.d_model, self.n_head, self.dropout, self.fast = d_model, n_head, dropout, fast
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)
        self.resid_drop = Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, H, T, Dh)
        b, t, _ = x.shape
        return x.view(b, t, self.n_head, -1).transpose(1, 2)

    def forward(self, x, context=None, mask=None, is_causal=False, cache=None):
        """x (B, T, d); context (B, S, d) or None; mask (B, S) key padding or bool broadcastable to (B, H, T, S)."""
        b, t, d = x.shape
        if context is None:
            q, k, v = self.qkv(x).split(d, dim=2)
            q, k, v = self._heads(q), self._heads(k), self._heads(v)
            if cache is not None:
                k, v = cache.append(k, v)
        else:
            q = self._heads(F.linear(x, self.qkv.weight[:d], None if self.qkv.bias is None else self.qkv.bias[:d]))
            kv = cache.cross_kv if cache is not None else None
            if kv is None:
                w, bias = self.qkv.weight[d:], None if self.qkv.bias is None else self.qkv.bias[d:]
                k, v = F.linear(context, w, bias).split(d, dim=2)
                kv = (self._heads(k), self._heads(v))
                if cache is not None:
                    cache.cross_kv = kv
            k, v = kv
        if mask is not None:
            if mask.dim() == 2:  # (B, S) key padding -> (B, 1, 1, S)
                mask = mask[:, None, None, :]
            elif mask.dim() == 3:  # (B, T, S) -> (B, 1, T, S)
                mask = mask[:, None]
            mask = mask.to(torch.bool)
        p = self.dropout if self.training else 0.0
        y = attention(q, k, v, mask=mask, is_causal=is_causal, dropout_p=p, fast=self.fast)
        y = y.transpose(1, 2).reshape(b, t, d)
        return self.resid_drop(self.proj(y))
