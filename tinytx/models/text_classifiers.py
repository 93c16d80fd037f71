"""Sequence classifiers on token ids: a (bi-)GRU, a transformer encoder, and the BERT-style masked LM that
pretrains that encoder.

Inputs are padded (B, L) ids with a mask (True = real token, the transformer's convention); padding never
reaches the prediction: the GRU packs the sequences (pack_padded_sequence) and pools only real positions, the
encoder masks attention and pools only real positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..specials import CLS_ID
from .registry import register
from .transformer.encoder import TransformerEncoder


@dataclass
class GRUClassifierConfig:
    vocab_size: int
    num_classes: int
    n_embd: int = 64
    hidden_size: int = 64
    n_layer: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    freeze_embeddings: bool = False  # the embedding table gets no gradient (vectors from a word2vec run)
    # last = the state after each row's last real token (each direction's); max / mean / maxmean = pooled over every
    # real position's output. On long texts the last state has to carry the whole document through hundreds of
    # steps and learns slowly (0.73 on 5-class news where a bag of words gets 0.97); max+mean pooling gives every
    # position a direct path to the loss. "last" stays the config's default so runs saved before pooling rebuild.
    pooling: str = "last"

    def __post_init__(self):
        if self.pooling not in GRU_POOLINGS:
            raise ValueError(f"gru pooling must be one of {', '.join(GRU_POOLINGS)}, got {self.pooling!r}")


GRU_POOLINGS = ("last", "max", "mean", "maxmean")


@register("gru_classifier")
class GRUClassifier(nn.Module):
    """Embedding -> (bi)GRU over the real tokens only -> last hidden state(s), or the max / mean / both of the
    outputs at real positions -> linear."""

    config_class = GRUClassifierConfig

    def __init__(self, config: GRUClassifierConfig):
        super().__init__()
        self.config = c = config
        self.emb = nn.Embedding(c.vocab_size, c.n_embd, padding_idx=0)
        self.gru = nn.GRU(c.n_embd, c.hidden_size, c.n_layer, batch_first=True, bidirectional=c.bidirectional,
                          dropout=c.dropout if c.n_layer > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        width = c.hidden_size * (2 if c.bidirectional else 1)
        self.head = nn.Linear(width * (2 if c.pooling == "maxmean" else 1), c.num_classes)
        if c.freeze_embeddings:
            self.emb.weight.requires_grad_(False)

    def load_word_vectors(self, vectors: torch.Tensor) -> None:
        """Copy (vocab_size, n_embd) word vectors (a word2vec run's) into the embedding table."""
        c = self.config
        if tuple(vectors.shape) != (c.vocab_size, c.n_embd):
            raise ValueError(f"vectors of shape {tuple(vectors.shape)} do not fit ({c.vocab_size}, {c.n_embd})")
        with torch.no_grad():
            self.emb.weight.copy_(vectors)

    def forward(self, ids, mask=None):
        if mask is None:
            mask = ids != 0
        lengths = mask.sum(1).clamp(min=1).cpu()  # an empty text still runs one (padding) step
        packed = pack_padded_sequence(self.drop(self.emb(ids)), lengths, batch_first=True, enforce_sorted=False)
        out, h = self.gru(packed)  # h (layers * directions, B, H): the state after each row's last REAL token
        if self.config.pooling == "last":
            state = torch.cat([h[-2], h[-1]], dim=-1) if self.config.bidirectional else h[-1]
        else:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))  # (B, L, directions * H)
            state = self.pool(out, mask)
        return self.head(self.drop(state))

    def pool(self, out, mask):
        """The max and/or mean of the padded GRU outputs (B, L, D) over each row's real positions -> (B, D or 2D).
        An empty text ran one padding step (lengths >= 1): position 0 always counts, so no row pools nothing."""
        real = (mask | (torch.arange(out.size(1), device=out.device) == 0)).unsqueeze(-1)
        pooled = []
        if self.config.pooling in ("max", "maxmean"):
            pooled.append(out.masked_fill(~real, float("-inf")).amax(1))
        if self.config.pooling in ("mean", "maxmean"):
            pooled.append((out * real).sum(1) / real.sum(1))
        return torch.cat(pooled, dim=-1)


@dataclass
class EncoderConfig:
    """Shape of the from-scratch transformer encoder (shared by the classifier and the masked LM)."""

    vocab_size: int
    d_model: int = 128
    n_head: int = 4
    n_layer: int = 2
    d_ff: int = 512
    max_len: int = 257  # max tokens + the [CLS] in front
    dropout: float = 0.1
    positions: str = "learned"


def _encoder(c) -> TransformerEncoder:
    return TransformerEncoder(c.vocab_size, c.d_model, c.n_head, c.n_layer, c.d_ff, c.max_len, c.dropout, c.positions)


def with_cls(ids, mask):
    """Put [CLS] in front of every row (cut to fit is the caller's job)."""
    cls = torch.full_like(ids[:, :1], CLS_ID)
    return torch.cat([cls, ids], 1), torch.cat([torch.ones_like(mask[:, :1]), mask], 1)


@dataclass
class TransformerClassifierConfig(EncoderConfig):
    num_classes: int = 2
    pooling: str = "cls"  # cls | mean
    freeze_body: bool = False  # train only the head (transfer learning with a frozen pretrained encoder)

    def __post_init__(self):
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be cls or mean, got {self.pooling!r}")


@register("transformer_classifier")
class TransformerClassifier(nn.Module):
    """[CLS] + ids -> encoder -> the [CLS] state (or the mean of real tokens) -> linear head."""

    config_class = TransformerClassifierConfig

    def __init__(self, config: TransformerClassifierConfig):
        super().__init__()
        self.config = config
        self.encoder = _encoder(config)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.d_model, config.num_classes)
        if config.freeze_body:
            self.freeze_body()

    def forward(self, ids, mask=None):
        if mask is None:
            mask = ids != 0
        ids, mask = with_cls(ids[:, : self.config.max_len - 1], mask[:, : self.config.max_len - 1])
        h = self.encoder(ids, mask)  # (B, T, d)
        if self.config.pooling == "cls":
            pooled = h[:, 0]
        else:
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1)
        return self.head(self.drop(pooled))

    def freeze_body(self) -> None:
        """Train only the head (transfer learning with a frozen pretrained encoder)."""
        for p in self.encoder.parameters():
            p.requires_grad_(False)


@register("masked_lm")
class MaskedLanguageModel(nn.Module):
    """BERT-style pretraining model: encoder -> (dense, GELU, LayerNorm) -> vocabulary logits (tied to the
    token embedding). Rows start with [CLS] (the data adds it) so positions match the classifier's."""

    config_class = EncoderConfig

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.encoder = _encoder(config)
        self.transform = nn.Sequential(nn.Linear(config.d_model, config.d_model), nn.GELU(), nn.LayerNorm(config.d_model))
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, input_ids, predict_at=None):
        """input_ids (B, T) with [PAD]=0 (not attended to) -> logits (B, T, vocab); with `predict_at`, a (B, T)
        bool mask, only those positions' logits (N, vocab). BERT predicts ~15% of the tokens, and the vocabulary
        projection of every position would dominate the step (B·T·V logits), so training asks for the few."""
        h = self.encoder(input_ids)
        if predict_at is not None:
            h = h[predict_at]
        return self.transform(h) @ self.encoder.tok_emb.weight.t() + self.bias
