"""GPT: a decoder-only transformer language model (registered as "gpt").

    idx (B, T) -> token + position embeddings -> n_layer causal DecoderBlocks -> LayerNorm -> logits (B, T, V)

The output layer shares its matrix with the token embedding (weight tying, Press & Wolf 2017) unless
tie_weights=False. For incremental decoding pass a cache from `new_cache()`: each call then processes only the
new tokens and appends their keys/values.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..registry import register
from .attention import KVCache
from .decoder import TransformerDecoder


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 256  # context window (max positions)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    d_ff: int | None = None  # MLP width; None = 4 * n_embd
    dropout: float = 0.0
    bias: bool = True
    positions: str = "learned"  # or "sinusoidal"
    tie_weights: bool = True
    fast_attention: bool = True  # scaled_dot_product_attention; False = the explicit softmax(QKᵀ/√d)V
    activation: str = "gelu"  # or "gelu_tanh": GELU's tanh approximation, as in GPT-2 (an imported GPT-2 uses it)


@register("gpt")
class GPT(nn.Module):
    config_class = GPTConfig

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        self.decoder = TransformerDecoder(
            c.vocab_size, c.n_embd, c.n_head, c.n_layer, c.d_ff, c.block_size, c.dropout, c.positions,
            cross_attention=False, bias=c.bias, fast=c.fast_attention, activation=c.activation,
        )
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.decoder.tok_emb.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=0.02)

    @property
    def context_size(self) -> int:
        """The most tokens the model can look at; generation crops the context to this."""
        return self.config.block_size

    def new_cache(self) -> KVCache:
        return self.decoder.new_cache()

    def forward(self, idx, cache: KVCache | None = None):
        return self.lm_head(self.decoder(idx, cache=cache))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
