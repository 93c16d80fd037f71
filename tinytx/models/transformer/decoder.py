"""A transformer decoder: token embedding + positions -> DecoderBlocks -> final LayerNorm.

Decoder-only (GPT) with cross_attention=False; the decoder half of an encoder-decoder with cross_attention=True.
With a KVCache, each call processes only the new tokens; their positions continue from cache.length.
"""
from __future__ import annotations

from torch import nn

from ..dropout import Dropout

from .attention import KVCache
from .blocks import DecoderBlock, init_weights
from .positional import make_positions


class TransformerDecoder(nn.Module):
    bf16_min_width = 128  # bf16 autocast pays on a CPU from this width (engine.trainer.resolve_dtype)

    def __init__(
        self, vocab_size: int, d_model: int = 128, n_head: int = 4, n_layer: int = 2, d_ff: int | None = None,
        max_len: int = 512, dropout: float = 0.0, positions: str = "learned", cross_attention: bool = False,
        bias: bool = True, fast: bool = True, activation: str = "gelu",
    ):
        super().__init__()
        self.n_layer, self.max_len = n_layer, max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos = make_positions(positions, max_len, d_model)
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(
            DecoderBlock(d_model, n_head, d_ff or 4 * d_model, dropout, cross_attention, bias, fast, activation)
            for _ in range(n_layer)
        )
        self.ln_f = nn.LayerNorm(d_model, bias=bias)
        init_weights(self, n_layer)

    def new_cache(self) -> KVCache:
        return KVCache(self.n_layer)

    def forward(self, ids, memory=None, memory_mask=None, cache=None, offset=0):
        """ids (B, T) -> hidden (B, T, d_model). memory (B, S, d), memory_mask (B, S) True = real token."""
        if cache is not None:
            offset = cache.length
        x = self.drop(self.tok_emb(ids) + self.pos(ids.size(1), offset))
        for i, block in enumerate(self.blocks):
            x = block(x, memory, memory_mask, None if cache is None else cache.layer(i))
        return self.ln_f(x)
