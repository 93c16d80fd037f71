"""Position information added to token embeddings: fixed sinusoids (Vaswani et al.) or learned vectors.

Both are called as `pos(T, offset=0) -> (T, d_model)`: the vectors for positions offset .. offset+T-1
(offset > 0 when decoding with a KV cache).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _check(t: int, offset: int, max_len: int) -> None:
    if offset + t > max_len:
        raise ValueError(f"positions {offset}..{offset + t - 1} exceed the model's context of {max_len} tokens")


class SinusoidalPositions(nn.Module):
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)); no parameters."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len = max_len
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)[:, : d_model // 2]
        self.register_buffer("pe", pe, persistent=False)  # rebuilt, not saved

    def forward(self, t: int, offset: int = 0) -> torch.Tensor:
        _check(t, offset, self.max_len)
        return self.pe[offset : offset + t]


class LearnedPositions(nn.Module):
    """One trained vector per position (GPT-2 style)."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len = max_len
        self.emb = nn.Embedding(max_len, d_model)

    def forward(self, t: int, offset: int = 0) -> torch.Tensor:
        _check(t, offset, self.max_len)
        return self.emb.weight[offset : offset + t]


def make_positions(kind: str, max_len: int, d_model: int) -> nn.Module:
    if kind == "learned":
        return LearnedPositions(max_len, d_model)
    if kind == "sinusoidal":
        return SinusoidalPositions(max_len, d_model)
    raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {kind!r}")
