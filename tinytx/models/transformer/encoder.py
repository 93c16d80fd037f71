"""A transformer encoder: token embedding + positions -> EncoderBlocks -> final LayerNorm.

Used by the encoder classifier, BERT-style masked LM and the encoder-decoder translator.
"""
from __future__ import annotations

from torch import nn

from ..dropout import Dropout

from .blocks import EncoderBlock, init_weights
from .positional import make_positions


class TransformerEncoder(nn.Module):
    bf16_min_width = 128  # bf16 autocast pays on a CPU from this width (engine.trainer.resolve_dtype)

    def __init__(
        self, vocab_size: int, d_model: int = 128, n_head: int = 4, n_layer: int = 2, d_ff: int | None = None,
        max_len: int = 512, dropout: float = 0.0, positions: str = "learned", pad_id: int = 0,
        bias: bool = True, fast: bool = True,
    ):
        super().__init__()
        self.pad_id, self.max_len = pad_id, max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos = make_positions(positions, max_len, d_model)
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_head, d_ff or 4 * d_model, dropout, bias, fast) for _ in range(n_layer)
        )
        self.ln_f = nn.LayerNorm(d_model, bias=bias)
        init_weights(self, n_layer)

    def forward(self, ids, pad_mask=None):
        """ids (B, T) -> hidden (B, T, d_model). pad_mask (B, T), True = real token; None = ids != pad_id."""
        if pad_mask is None:
            pad_mask = ids != self.pad_id
        x = self.drop(self.tok_emb(ids) + self.pos(ids.size(1)))
        for block in self.blocks:
            x = block(x, pad_mask)
        return self.ln_f(x)
