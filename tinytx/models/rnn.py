"""Recurrent language models (registered "rnn", "gru", "lstm") and a hand-written GRU cell.

    idx (B, T) -> embedding -> n_layer recurrent layers -> dropout -> linear -> logits (B, T, V)

The LMs use torch's fused recurrent layers (one call per sequence, no Python loop per token). `GRUCell` /
`HandGRU` spell the GRU equations out for learning; a test checks them against nn.GRU, and `hand_cell=True`
trains the "gru" model with them (slow: a Python loop over time).

The cache of a recurrent LM is its carried hidden state (`RecurrentState`): generation feeds one token per
step and the state remembers everything before it, so there is no context window to crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .registry import register


class GRUCell(nn.Module):
    """One GRU step, with nn.GRU's parameter layout (gates stacked as reset, update, new):

        r  = σ(W_ir x + b_ir + W_hr h + b_hr)          reset gate
        z  = σ(W_iz x + b_iz + W_hz h + b_hz)          update gate
        n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))  candidate
        h' = (1 − z) ⊙ n + z ⊙ h
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        bound = hidden_size**-0.5  # nn.GRU's default: U(-1/sqrt(H), 1/sqrt(H))
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x, h):
        gi = x @ self.weight_ih.T + self.bias_ih  # (B, 3H)
        gh = h @ self.weight_hh.T + self.bias_hh
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h


class HandGRU(nn.Module):
    """A stack of GRUCells run over time, with nn.GRU(batch_first=True)'s interface and parameter names."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.cells = nn.ModuleList(GRUCell(input_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, h0=None):
        """x (B, T, I), h0 (L, B, H) -> output (B, T, H), h_n (L, B, H)."""
        b, t, _ = x.shape
        h = list(h0.unbind(0)) if h0 is not None else [x.new_zeros(b, self.hidden_size)] * self.num_layers
        out = x
        for layer, cell in enumerate(self.cells):
            if layer > 0:
                out = self.drop(out)  # nn.GRU applies dropout between layers, not after the last
            steps = []
            for s in range(t):
                h[layer] = cell(out[:, s], h[layer])
                steps.append(h[layer])
            out = torch.stack(steps, dim=1)
        return out, torch.stack(h, 0)

    def load_from_torch(self, gru: nn.GRU) -> None:
        """Copy weights from an nn.GRU (batch_first, bias=True) with the same sizes."""
        with torch.no_grad():
            for i, cell in enumerate(self.cells):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(cell, name).copy_(getattr(gru, f"{name}_l{i}"))


@dataclass
class RecurrentLMConfig:
    vocab_size: int
    n_embd: int = 64  # embedding size
    hidden_size: int = 256
    n_layer: int = 1
    dropout: float = 0.0
    block_size: int = 64  # training window; generation carries the state and is not limited by it
    tie_weights: bool = False  # needs n_embd == hidden_size
    hand_cell: bool = False  # gru only: use the hand-written GRUCell (slow; for learning)


class RecurrentState:
    """The cache of a recurrent LM: its hidden state (for LSTM the pair (h, c)) and how many tokens it has read."""

    def __init__(self):
        self.hidden = None
        self.length = 0

    def reset(self) -> None:
        self.hidden, self.length = None, 0


class RecurrentLM(nn.Module):
    config_class = RecurrentLMConfig
    kind = "gru"
    context_size = None  # no window: the hidden state carries the past

    def __init__(self, config: RecurrentLMConfig):
        super().__init__()
        self.config = c = config
        self.emb = nn.Embedding(c.vocab_size, c.n_embd)
        drop_between = c.dropout if c.n_layer > 1 else 0.0
        if c.hand_cell:
            if self.kind != "gru":
                raise ValueError("hand_cell is only available for the gru model")
            self.rnn = HandGRU(c.n_embd, c.hidden_size, c.n_layer, drop_between)
        else:
            layer = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[self.kind]
            self.rnn = layer(c.n_embd, c.hidden_size, c.n_layer, batch_first=True, dropout=drop_between)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)
        if c.tie_weights:
            if c.n_embd != c.hidden_size:
                raise ValueError("tie_weights needs n_embd == hidden_size")
            self.head.weight = self.emb.weight

    def new_cache(self) -> RecurrentState:
        return RecurrentState()

    def forward(self, idx, cache: RecurrentState | None = None):
        x = self.drop(self.emb(idx))
        out, hidden = self.rnn(x, cache.hidden if cache is not None else None)
        if cache is not None:
            cache.hidden, cache.length = hidden, cache.length + idx.size(1)
        return self.head(self.drop(out))


@register("rnn")
class RNNLM(RecurrentLM):
    """Elman RNN (tanh): the simplest recurrence; struggles with long-range gradients."""

    kind = "rnn"


@register("gru")
class GRULM(RecurrentLM):
    kind = "gru"


@register("lstm")
class LSTMLM(RecurrentLM):
    kind = "lstm"
