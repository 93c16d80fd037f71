"""Baseline language models: a bigram table ("bigram") and a makemore-style MLP ("mlp_lm", Bengio et al. 2003).

Both follow the LM contract `forward(idx, cache=None) -> logits (B, T, V)`. The bigram needs only the current
token, so its cache is ignored. The MLP looks at the last `block_size` tokens (positions before the start see
a learned "start" token); its cache keeps the last block_size - 1 tokens so generation can feed one token a step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .registry import register


@dataclass
class BigramConfig:
    vocab_size: int


@register("bigram")
class BigramLM(nn.Module):
    """logits for the next token = a row of a V×V table, looked up by the current token."""

    config_class = BigramConfig
    context_size = 1

    def __init__(self, config: BigramConfig):
        super().__init__()
        self.config = config
        self.table = nn.Embedding(config.vocab_size, config.vocab_size)
        nn.init.zeros_(self.table.weight)  # start uniform

    def new_cache(self):
        return None  # nothing to remember

    def forward(self, idx, cache=None):
        return self.table(idx)


@dataclass
class MLPLMConfig:
    vocab_size: int
    block_size: int = 8  # tokens of context
    n_embd: int = 24
    hidden_size: int = 256
    dropout: float = 0.0


class TokenHistory:
    """The MLP LM's cache: the last block_size - 1 tokens seen (B, block_size - 1)."""

    def __init__(self):
        self.tokens = None
        self.length = 0

    def reset(self) -> None:
        self.tokens, self.length = None, 0


@register("mlp_lm")
class MLPLM(nn.Module):
    """Embed each of the last block_size tokens, concatenate, one tanh hidden layer, logits."""

    config_class = MLPLMConfig
    context_size = None  # looks back a fixed number of tokens by itself; any length works

    def __init__(self, config: MLPLMConfig):
        super().__init__()
        self.config = c = config
        self.start = c.vocab_size  # an extra embedding row for "before the start"
        self.emb = nn.Embedding(c.vocab_size + 1, c.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(c.block_size * c.n_embd, c.hidden_size), nn.Tanh(), nn.Dropout(c.dropout),
            nn.Linear(c.hidden_size, c.vocab_size),
        )

    def new_cache(self) -> TokenHistory:
        return TokenHistory()

    def forward(self, idx, cache: TokenHistory | None = None):
        b, t = idx.shape
        k = self.config.block_size
        past = cache.tokens if cache is not None and cache.tokens is not None else idx.new_full((b, k - 1), self.start)
        seq = torch.cat([past, idx], dim=1)  # (B, k-1+T)
        if cache is not None:
            cache.tokens, cache.length = seq[:, seq.size(1) - (k - 1):], cache.length + t
        windows = seq.unfold(1, k, 1)  # (B, T, k): window t ends at token t
        x = self.emb(windows).flatten(2)  # (B, T, k*E)
        return self.mlp(x)
