"""Transformer blocks: pre-LayerNorm (normalise, transform, add back), as in GPT-2.

    x = x + attention(LN(x))
    x = x + mlp(LN(x))

Pre-LN keeps an unnormalised residual stream from input to output, which trains stably without warmup tricks.
Dropout sits inside the sub-layers (on attention weights and on each sub-layer's output).
"""
from __future__ import annotations

import math

from torch import nn

from ..dropout import Dropout

from .attention import MultiHeadAttention


ACTIVATIONS = ("gelu", "gelu_tanh")  # exact GELU, or its tanh approximation (GPT-2's "gelu_new")


class MLP(nn.Module):
    """Position-wise feed-forward: d -> d_ff -> GELU -> d. activation "gelu_tanh" is GELU's tanh approximation,
    the one GPT-2 was trained with (so an imported GPT-2 computes what it computed in transformers)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, bias: bool = True, activation: str = "gelu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.fc = nn.Linear(d_model, d_ff, bias=bias)
        self.act = nn.GELU(approximate="tanh" if activation == "gelu_tanh" else "none")
        self.proj = nn.Linear(d_ff, d_model, bias=bias)
        self.drop = Dropout(dropout)

    def forward(self, x):
        return self.drop(self.proj(self.act(self.fc(x))))


class EncoderBlock(nn.Module):
    """Bidirectional self-attention + MLP. pad_mask (B, T): True = real token (padding is never attended to)."""

    def __init__(self, d_model: int, n_head: int, d_ff: int, dropout: float = 0.0, bias: bool = True, fast: bool = True):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_head, dropout, bias, fast)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, d_ff, dropout, bias)

    def forward(self, x, pad_mask=None):
        x = x + self.attn(self.ln1(x), mask=pad_mask)
        return x + self.mlp(self.ln2(x))


class DecoderBlock(nn.Module):
    """Causal self-attention (+ cross-attention to an encoder's memory) + MLP.

    cache: a LayerCache (see attention.py) when decoding token by token; it also keeps the memory's keys/values.
    """

    def __init__(
        self, d_model: int, n_head: int, d_ff: int, dropout: float = 0.0, cross_attention: bool = False,
        bias: bool = True, fast: bool = True, activation: str = "gelu",
    ):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_head, dropout, bias, fast)
        self.cross_attention = cross_attention
        if cross_attention:
            self.ln_cross = nn.LayerNorm(d_model, bias=bias)
            self.cross = MultiHeadAttention(d_model, n_head, dropout, bias, fast)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, d_ff, dropout, bias, activation)

    def forward(self, x, memory=None, memory_mask=None, cache=None):
        x = x + self.attn(self.ln1(x), is_causal=True, cache=cache)
        if self.cross_attention:
            if memory is None:
                raise ValueError("this decoder block has cross-attention: pass the encoder memory")
            x = x + self.cross(self.ln_cross(x), context=memory, mask=memory_mask, cache=cache)
        return x + self.mlp(self.ln2(x))


def init_weights(model: nn.Module, n_layer: int, std: float = 0.02) -> None:
    """GPT-2 initialisation: N(0, 0.02) weights, zero biases, and residual output projections scaled by
    1/sqrt(2·n_layer) so the residual stream's variance does not grow with depth."""
    for name, p in model.named_parameters():
        if p.dim() < 2:
            continue  # biases and LayerNorm parameters keep their defaults (0 and 1)
        scale = 1 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 1.0
        nn.init.normal_(p, mean=0.0, std=std * scale)
    for m in model.modules():
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
