"""Sequence-to-sequence models: a transformer encoder-decoder and a GRU encoder-decoder with Bahdanau attention.

Both follow one contract, so the engine's Seq2Seq task trains them and tinytx.translate decodes them:

    forward(src (B, S), tgt_in (B, T)) -> logits (B, T, V_tgt)      teacher forcing; padding (id 0) is masked
    start(src)                        -> state                       encode the source once
    step(tokens (N,), state)          -> logprobs (N, V_tgt), state  one decoding step for the last tokens
    reorder(state, index)             -> state                       keep/duplicate rows (beam search)

A source row is its tokens followed by [EOS]; the target input starts with [BOS], the target output ends with
[EOS] (see tinytx.recipes.seq2seq).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register
from .transformer import TransformerDecoder, TransformerEncoder

from ..specials import PAD_ID


# --- the transformer encoder-decoder ----------------------------------------------------------------------------

@dataclass
class TransformerSeq2SeqConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 256
    n_head: int = 4
    n_enc_layer: int = 3
    n_dec_layer: int = 3
    d_ff: int | None = None  # None = 4 * d_model
    max_len: int = 256  # most positions on either side
    dropout: float = 0.1
    positions: str = "learned"  # or "sinusoidal"
    share_embeddings: bool = False  # one vocabulary: encoder and decoder share the token embedding
    tie_output: bool = True  # output layer = decoder token embedding (Press & Wolf 2017)
    bias: bool = True
    fast_attention: bool = True
    # Vaswani et al.'s embedding scale: token embeddings drawn with std d_model^-0.5 and multiplied by sqrt(d_model)
    # on the way in (so tokens, not positions, dominate the first residual stream; the tied output layer then starts
    # with logits of std ~1); False: GPT-2's N(0, 0.02) embeddings, unscaled
    scale_embeddings: bool = False


class ScaledEmbedding(nn.Embedding):
    """An embedding whose lookups are multiplied by `scale` (its weight, and so any tie to it, is unchanged)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, scale: float):
        super().__init__(num_embeddings, embedding_dim)
        self.scale = scale

    def forward(self, ids):
        return super().forward(ids) * self.scale


def _scaled(emb: nn.Embedding) -> ScaledEmbedding:
    d = emb.embedding_dim
    new = ScaledEmbedding(emb.num_embeddings, d, math.sqrt(d))
    nn.init.normal_(new.weight, std=d ** -0.5)
    return new


@register("transformer_seq2seq")
class TransformerSeq2Seq(nn.Module):
    """Encoder (self-attention) -> memory; decoder (causal self-attention + cross-attention to memory) -> logits."""

    config_class = TransformerSeq2SeqConfig
    # dtype auto: bf16 autocast from this median Linear width on a CPU with native bf16 matmul (tinytx.engine.trainer.
    # resolve_dtype). Measured, 1 thread, Multi30k batches of ~2k target tokens: 192 wide 1.39x, 256 wide 1.47x faster
    bf16_min_width = 192

    def __init__(self, config: TransformerSeq2SeqConfig):
        super().__init__()
        self.config = c = config
        if c.share_embeddings and c.src_vocab_size != c.tgt_vocab_size:
            raise ValueError("share_embeddings needs one vocabulary (src_vocab_size == tgt_vocab_size)")
        self.encoder = TransformerEncoder(
            c.src_vocab_size, c.d_model, c.n_head, c.n_enc_layer, c.d_ff, c.max_len, c.dropout, c.positions,
            pad_id=PAD_ID, bias=c.bias, fast=c.fast_attention,
        )
        self.decoder = TransformerDecoder(
            c.tgt_vocab_size, c.d_model, c.n_head, c.n_dec_layer, c.d_ff, c.max_len, c.dropout, c.positions,
            cross_attention=True, bias=c.bias, fast=c.fast_attention,
        )
        if c.scale_embeddings:
            self.encoder.tok_emb, self.decoder.tok_emb = _scaled(self.encoder.tok_emb), _scaled(self.decoder.tok_emb)
        if c.share_embeddings:
            self.decoder.tok_emb.weight = self.encoder.tok_emb.weight
        self.lm_head = nn.Linear(c.d_model, c.tgt_vocab_size, bias=False)
        if c.tie_output:
            self.lm_head.weight = self.decoder.tok_emb.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=0.02)

    @property
    def max_len(self) -> int:
        return self.config.max_len

    def encode(self, src):
        src_mask = src != PAD_ID
        return self.encoder(src, src_mask), src_mask

    def forward(self, src, tgt_in):
        memory, src_mask = self.encode(src)
        return self.lm_head(self.decoder(tgt_in, memory, src_mask))

    # decoding: state = {"memory", "mask", "cache" (KVCache or None), "tokens" (only without a cache)}
    def start(self, src, use_cache: bool = True) -> dict:
        memory, mask = self.encode(src)
        state = {"memory": memory, "mask": mask, "cache": self.decoder.new_cache() if use_cache else None}
        state["tokens"] = src.new_zeros(src.size(0), 0)
        return state

    def step(self, tokens, state):
        if state["cache"] is not None:
            # only the new token goes through the decoder; keys/values of earlier ones (and the memory's
            # cross-attention keys/values, computed on the first step) come from the cache
            h = self.decoder(tokens[:, None], state["memory"], state["mask"], cache=state["cache"])
        else:
            state["tokens"] = torch.cat([state["tokens"], tokens[:, None]], dim=1)
            h = self.decoder(state["tokens"], state["memory"], state["mask"])
        return F.log_softmax(self.lm_head(h[:, -1]).float(), dim=-1), state

    def reorder(self, state, index):
        state = dict(state, memory=state["memory"][index], mask=state["mask"][index], tokens=state["tokens"][index])
        cache = state["cache"]
        if cache is not None:
            for layer in cache.layers:
                if layer.k is not None:
                    layer.k, layer.v = layer.k[index], layer.v[index]
                if layer.cross_kv is not None:
                    layer.cross_kv = tuple(t[index] for t in layer.cross_kv)
        return state


# --- the recurrent baseline: GRU encoder-decoder with additive attention -----------------------------------------

@dataclass
class GRUSeq2SeqConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    emb_dim: int = 256
    hidden_size: int = 256
    n_layer: int = 1  # decoder GRU layers (the encoder is one bidirectional layer per decoder layer)
    dropout: float = 0.1
    share_embeddings: bool = False
    max_len: int = 256  # decoding cap (the GRU itself has no position limit)


class AdditiveAttention(nn.Module):
    """Bahdanau et al. 2015: score(s, h_j) = vᵀ tanh(W s + U h_j); U h_j is computed once per source."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.W = nn.Linear(query_dim, attn_dim, bias=False)
        self.U = nn.Linear(key_dim, attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def keys(self, h):  # (B, S, key_dim) -> (B, S, attn_dim)
        return self.U(h)

    def forward(self, s, keys, values, mask):
        """s (B, q), keys (B, S, a), values (B, S, k), mask (B, S) True = real -> context (B, k), weights (B, S)."""
        scores = self.v(torch.tanh(self.W(s)[:, None, :] + keys)).squeeze(-1)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        return torch.bmm(weights[:, None, :], values).squeeze(1), weights


@register("gru_seq2seq")
class GRUSeq2Seq(nn.Module):
    """Bidirectional GRU encoder; GRU decoder that attends to the encoder states before every step."""

    config_class = GRUSeq2SeqConfig

    def __init__(self, config: GRUSeq2SeqConfig):
        super().__init__()
        self.config = c = config
        if c.share_embeddings and c.src_vocab_size != c.tgt_vocab_size:
            raise ValueError("share_embeddings needs one vocabulary (src_vocab_size == tgt_vocab_size)")
        H, E = c.hidden_size, c.emb_dim
        self.src_emb = nn.Embedding(c.src_vocab_size, E, padding_idx=PAD_ID)
        self.tgt_emb = self.src_emb if c.share_embeddings else nn.Embedding(c.tgt_vocab_size, E, padding_idx=PAD_ID)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.GRU(E, H, num_layers=c.n_layer, batch_first=True, bidirectional=True,
                              dropout=c.dropout if c.n_layer > 1 else 0.0)
        self.bridge = nn.Linear(2 * H, H)  # last encoder states -> first decoder state
        self.attention = AdditiveAttention(H, 2 * H, H)
        self.decoder = nn.GRU(E + 2 * H, H, num_layers=c.n_layer, batch_first=True,
                              dropout=c.dropout if c.n_layer > 1 else 0.0)
        self.out = nn.Linear(H + 2 * H + E, c.tgt_vocab_size)  # from [state; context; input embedding]

    @property
    def max_len(self) -> int:
        return self.config.max_len

    def start(self, src, use_cache: bool = True) -> dict:
        """Encode: packed sequences, so padding never enters the backward direction (batched == unbatched)."""
        mask = src != PAD_ID
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(self.src_emb(src)), lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, h = self.encoder(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        # h: (2 * L, B, H), directions interleaved per layer -> (L, B, 2H) -> decoder's first state per layer
        h = h.view(self.config.n_layer, 2, src.size(0), -1).permute(0, 2, 1, 3).flatten(2)
        hidden = torch.tanh(self.bridge(h)).contiguous()
        return {"values": out, "keys": self.attention.keys(out), "mask": mask, "hidden": hidden}

    def _step(self, emb, state):
        """emb (B, E) of the previous tokens -> output features (B, H+2H+E); updates state["hidden"]."""
        context, _ = self.attention(state["hidden"][-1], state["keys"], state["values"], state["mask"])
        out, hidden = self.decoder(torch.cat([emb, context], -1)[:, None, :], state["hidden"])
        state["hidden"] = hidden
        return torch.cat([out[:, 0], context, emb], dim=-1)

    def forward(self, src, tgt_in):
        state = self.start(src)
        emb = self.drop(self.tgt_emb(tgt_in))
        feats = [self._step(emb[:, t], state) for t in range(tgt_in.size(1))]
        return self.out(self.drop(torch.stack(feats, dim=1)))

    def step(self, tokens, state):
        state = dict(state)
        feats = self._step(self.tgt_emb(tokens), state)
        return F.log_softmax(self.out(feats).float(), dim=-1), state

    def reorder(self, state, index):
        return {"values": state["values"][index], "keys": state["keys"][index], "mask": state["mask"][index],
                "hidden": state["hidden"][:, index]}
