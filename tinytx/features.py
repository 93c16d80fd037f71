"""Bag-of-words features: binary presence, counts or TF-IDF over word n-grams, kept SPARSE.

    feats = BowFeaturizer(mode="tfidf", ngrams=2, vocab_size=50_000).fit(train_texts)
    rows = feats.transform(texts)          # per text: (feature ids int64, weights float32), only non-zeros
    ids, weights = pad_rows(rows)          # (B, L) tensors for nn.EmbeddingBag(mode="sum", per_sample_weights)

Why sparse: a 50k-feature vocabulary as dense (B, 50000) float batches costs 200 KB per row and a 50000-wide
matmul, while an e-mail has a few hundred distinct n-grams. `EmbeddingBag(mode="sum")` with per-sample weights
computes sum_j w_j * W[id_j], which is exactly x @ W for the sparse row x: a sparse linear layer. Feature id 0 is
reserved for padding (weight 0, and the bag skips it), so padded (B, L) rows add nothing.

Words come from the word tokenizer's split (same regex, lowercasing and stop-word list). The vocabulary keeps the
`vocab_size` n-grams with the highest document frequency (at least `min_df` documents); ties break alphabetically,
so fitting is deterministic. TF-IDF uses the smoothed idf log((1 + N) / (1 + df)) + 1 and L2-normalised rows
(scikit-learn's defaults, so numbers compare).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch

from .data.collate import SequenceBatches
from .errors import TinytxError
from .tokenizers import WordTokenizer

MODES = ("binary", "count", "tfidf")
PAD = "[PAD]"  # feature id 0


@dataclass
class BowFeaturizer:
    mode: str = "tfidf"
    ngrams: int = 1  # 1 = words, 2 = words + word pairs
    vocab_size: int = 50_000  # features kept, the padding id included
    min_df: int = 1
    lowercase: bool = True
    stop_words: bool = False
    vocab: list[str] = field(default_factory=list)
    idf: list[float] = field(default_factory=list)

    def __post_init__(self):
        if self.mode not in MODES:
            raise TinytxError(f"features must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.ngrams not in (1, 2):
            raise TinytxError(f"ngrams must be 1 or 2, got {self.ngrams}")
        if self.vocab_size < 2:
            raise TinytxError(f"vocab size must be >= 2, got {self.vocab_size}")
        self._splitter = WordTokenizer([], self.lowercase, self.stop_words)
        self._index = {t: i for i, t in enumerate(self.vocab)}
        self._idf = np.asarray(self.idf, dtype=np.float32)

    @property
    def num_features(self) -> int:
        return len(self.vocab)

    def terms(self, text: str) -> list[str]:
        """The n-grams of one text, in order (bigrams are two words joined by a space)."""
        words = self._splitter.split(text)
        if self.ngrams == 2:
            return words + list(map(" ".join, zip(words, words[1:])))
        return words

    def fit(self, texts: Sequence[str]) -> "BowFeaturizer":
        self._fit_terms([self.terms(t) for t in texts])
        return self

    def _fit_terms(self, docs: list[list[str]]) -> None:
        if not docs:
            raise TinytxError("no texts to build a bag-of-words vocabulary from")
        df = Counter()
        for terms in docs:
            df.update(set(terms))
        kept = sorted(((t, n) for t, n in df.items() if n >= self.min_df), key=lambda tn: (-tn[1], tn[0]))
        kept = kept[: self.vocab_size - 1]
        if not kept:
            raise TinytxError("no words to build a bag-of-words vocabulary from (are the texts empty?)")
        self.vocab = [PAD] + [t for t, _ in kept]
        n = len(docs)
        self.idf = [0.0] + [math.log((1 + n) / (1 + d)) + 1.0 for _, d in kept]
        self._index = {t: i for i, t in enumerate(self.vocab)}
        self._idf = np.asarray(self.idf, dtype=np.float32)

    def fit_transform(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """fit + transform, splitting each text once."""
        terms = [self.terms(t) for t in texts]
        self._fit_terms(terms)
        return [self._weights(t) for t in terms]

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """One text -> (sorted feature ids, their weights); unknown n-grams are dropped."""
        return self._weights(self.terms(text))

    def _weights(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if not self.vocab:
            raise TinytxError("the featurizer is not fitted")
        counts = Counter(map(self._index.get, terms))
        counts.pop(None, None)  # n-grams outside the vocabulary
        ids = np.array(sorted(counts), dtype=np.int64)
        if self.mode == "binary":
            w = np.ones(len(ids), dtype=np.float32)
        else:
            w = np.array([counts[i] for i in ids], dtype=np.float32)
            if self.mode == "tfidf":
                w *= self._idf[ids]
                norm = float(np.linalg.norm(w))
                if norm > 0:
                    w /= norm
        return ids, w

    def transform(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        return [self.transform_one(t) for t in texts]

    def dense(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, num_features) dense matrix: for tests and small data only."""
        x = torch.zeros(len(texts), self.num_features)
        for row, (ids, w) in enumerate(self.transform(texts)):
            x[row, torch.from_numpy(ids)] = torch.from_numpy(w)
        return x

    # --- files: the run keeps vocabulary + idf in features.json ------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BowFeaturizer":
        try:
            return cls(**d)
        except TypeError as e:
            raise TinytxError(f"corrupt bag-of-words features file ({e})") from None


def pad_rows(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse rows -> (ids (B, L) int64, weights (B, L) float32), padded with id 0 / weight 0 (L >= 1)."""
    width = max([1] + [len(r[0]) for r in rows])
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    w = torch.zeros(len(rows), width, dtype=torch.float32)
    for row, (i, v) in enumerate(rows):
        ids[row, : len(i)] = torch.from_numpy(i)
        w[row, : len(v)] = torch.from_numpy(v)
    return ids, w


def collate_bow(examples) -> dict[str, torch.Tensor]:
    """[(ids, weights, label), ...] -> {"feat_ids", "feat_weights", "y"} (the BowClassifier's inputs)."""
    ids, w = pad_rows([(e[0], e[1]) for e in examples])
    return {"feat_ids": ids, "feat_weights": w, "y": torch.tensor([int(e[2]) for e in examples], dtype=torch.long)}


def bow_batches(rows, labels, batch_size: int = 64, shuffle: bool = True, seed: int = 0):
    """A batch source of sparse bag-of-words rows (see tinytx.data.collate.SequenceBatches)."""
    examples = [(i, w, y) for (i, w), y in zip(rows, labels)]
    return SequenceBatches(examples, collate_bow, batch_size, shuffle, seed)
