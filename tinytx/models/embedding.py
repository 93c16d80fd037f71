"""fastText-style classifier: the average of word (and hashed word-bigram) embeddings, then a linear layer.

`nn.EmbeddingBag(mode="mean", padding_idx=0)` averages the embeddings of each row's real tokens in one kernel
(padding id 0 is left out of the mean). With `bigram_buckets > 0`, each pair of neighbouring words is hashed
into one of that many extra rows of the same table (fastText's trick: bigrams without a bigram vocabulary).
The word rows can be initialised from a word2vec run (`load_word_vectors`), frozen (`freeze_embeddings=True` in the
config, so a model rebuilt from its config is frozen the same way) or fine-tuned.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .registry import register

_PRIME = 1_000_003  # multiplier of the bigram hash (any large odd number spreads pairs over the buckets)


@dataclass
class EmbeddingClassifierConfig:
    vocab_size: int
    num_classes: int
    n_embd: int = 64
    bigram_buckets: int = 0  # 0 = words only
    dropout: float = 0.0
    freeze_embeddings: bool = False  # the word rows get no gradient (vectors from a word2vec run)


@register("embedding")
class EmbeddingClassifier(nn.Module):
    config_class = EmbeddingClassifierConfig

    def __init__(self, config: EmbeddingClassifierConfig):
        super().__init__()
        self.config = config
        self.emb = nn.EmbeddingBag(config.vocab_size + config.bigram_buckets, config.n_embd, mode="mean", padding_idx=0)
        nn.init.normal_(self.emb.weight, std=0.1)
        with torch.no_grad():
            self.emb.weight[0].zero_()
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.n_embd, config.num_classes)
        if config.freeze_embeddings:
            self.freeze_word_vectors()

    def bigram_ids(self, ids, mask):
        """(B, L) word ids -> (B, L-1) hashed bigram ids in [vocab_size, vocab_size + buckets); 0 where padded."""
        c = self.config
        h = (ids[:, :-1] * _PRIME + ids[:, 1:]) % c.bigram_buckets + c.vocab_size
        return torch.where(mask[:, :-1] & mask[:, 1:], h, torch.zeros_like(h))

    def forward(self, ids, mask=None):
        """ids (B, L) (0 = padding) -> logits (B, num_classes)."""
        if mask is None:
            mask = ids != 0
        ids = torch.where(mask, ids, torch.zeros_like(ids))
        if self.config.bigram_buckets and ids.size(1) > 1:
            ids = torch.cat([ids, self.bigram_ids(ids, mask)], dim=1)
        return self.head(self.drop(self.emb(ids)))

    def load_word_vectors(self, vectors: torch.Tensor) -> None:
        """Copy (vocab_size, n_embd) word vectors (a word2vec run's) into the word rows."""
        c = self.config
        if tuple(vectors.shape) != (c.vocab_size, c.n_embd):
            raise ValueError(f"vectors of shape {tuple(vectors.shape)} do not fit ({c.vocab_size}, {c.n_embd})")
        with torch.no_grad():
            self.emb.weight[: c.vocab_size].copy_(vectors)
            self.emb.weight[0].zero_()

    def freeze_word_vectors(self) -> None:
        """The word rows get no gradient. Freezing a slice of one table is a gradient hook that zeroes the word
        rows' gradient (bigram rows, if any, still learn); with AdamW and zero gradients the rows only move by
        weight decay, so use none."""
        c = self.config
        if not c.bigram_buckets:
            self.emb.weight.requires_grad_(False)
        else:
            keep = torch.ones(self.emb.weight.size(0), 1)
            keep[: c.vocab_size] = 0
            self.emb.weight.register_hook(lambda g: g * keep.to(g.device))
