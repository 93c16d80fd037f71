"""word2vec (Mikolov et al., 2013): skip-gram or CBOW, trained with negative sampling.

Two tables: `inp` (the word vectors one keeps) and `out` (context vectors). For a (center, context) pair and K
noise words n_k, skip-gram scores s = inp[center]·out[context] and s_k = inp[center]·out[n_k]; the loss (in the
Word2VecTask, tinytx.recipes.word2vec) is -log σ(s) - Σ_k log σ(-s_k). CBOW swaps the roles: the mean of the window's
`inp` vectors predicts the center word through `out`. The model only computes the scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .registry import register


@dataclass
class Word2VecConfig:
    vocab_size: int
    n_embd: int = 100
    mode: str = "skipgram"  # skipgram | cbow

    def __post_init__(self):
        if self.mode not in ("skipgram", "cbow"):
            raise ValueError(f"word2vec mode must be skipgram or cbow, got {self.mode!r}")


@register("word2vec")
class Word2Vec(nn.Module):
    config_class = Word2VecConfig

    def __init__(self, config: Word2VecConfig):
        super().__init__()
        self.config = config
        self.inp = nn.Embedding(config.vocab_size, config.n_embd)
        self.out = nn.Embedding(config.vocab_size, config.n_embd)
        # the reference initialisation: small uniform input vectors, zero output vectors
        nn.init.uniform_(self.inp.weight, -0.5 / config.n_embd, 0.5 / config.n_embd)
        nn.init.zeros_(self.out.weight)

    def forward(self, center, context, negatives):
        """Scores (pos (B,), neg (B, K)).

        skipgram: center (B,), context (B,) one context word each.
        cbow:     center (B,) the word to predict, context (B, W) its window (0 = padding, left out of the mean)."""
        if self.config.mode == "skipgram":
            h = self.inp(center)  # (B, d)
            target = context
        else:
            m = (context != 0).unsqueeze(-1).float()
            h = (self.inp(context) * m).sum(1) / m.sum(1).clamp(min=1.0)
            target = center
        pos = (h * self.out(target)).sum(-1)
        neg = torch.einsum("bd,bkd->bk", h, self.out(negatives))
        return pos, neg

    @property
    def vectors(self) -> torch.Tensor:
        return self.inp.weight
