"""Text classification data: labelled rows read and checked, a seeded validation split, and the inputs (the same
code turns texts into model batches for training, eval and predict).

Bag-of-words models get sparse (feature id, weight) rows; token models get padded token ids cut to `max_len`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import TinytxError
from ..features import BowFeaturizer, collate_bow
from .collate import SequenceBatches, collate_classification
from .sources import read_csv_columns


def read_labelled(path: str, text_col: str, label_col: str) -> tuple[list[str], list[str]]:
    """(texts, labels as strings) from a csv/jsonl file; empty texts are refused with the row number."""
    texts, labels = read_csv_columns(path, text_col, label_col)
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise TinytxError(f"{path}: {len(empty)} row(s) have an empty {text_col!r} (first: data row {empty[0] + 1})")
    return texts, [str(v) for v in labels]


def encode_labels(labels: Sequence[str], known: Sequence[str], path: str) -> list[int]:
    """Label names -> their index in `known` (the run's label list); a label the run never saw is refused."""
    index = {lab: i for i, lab in enumerate(known)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise TinytxError(
            f"{path}: label(s) {', '.join(map(repr, unknown[:5]))} were not seen in training "
            f"(the run knows {', '.join(map(repr, known))})"
        )
    return [index[lab] for lab in labels]


def split_val(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows), both sorted: a seeded random `fraction` of the n rows is held out."""
    if not 0 <= fraction < 1:
        raise TinytxError(f"--val-fraction must be in [0, 1), got {fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction))
    if fraction > 0 and (n_val == 0 or n_val == n):
        raise TinytxError(f"{n} rows are too few to hold out a validation fraction of {fraction}; use 0")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


class Inputs:
    """Turns texts into model batches: sparse bag-of-words rows (bow) or padded token ids (everything else)."""

    def __init__(self, featurizer: BowFeaturizer | None = None, tokenizer=None, max_len: int = 256):
        self.featurizer, self.tokenizer, self.max_len = featurizer, tokenizer, max_len

    def examples(self, texts: Sequence[str], labels: Sequence[int], rows=None) -> list:
        """rows: the texts already featurized (bow) or encoded (token ids), to do it once."""
        if self.featurizer is not None:
            rows = rows if rows is not None else self.featurizer.transform(texts)
            return [(i, w, y) for (i, w), y in zip(rows, labels)]
        ids = rows if rows is not None else self.tokenizer.encode_batch(list(texts))
        return [(x[: self.max_len], y) for x, y in zip(ids, labels)]

    def collate(self, examples) -> dict[str, torch.Tensor]:
        return collate_bow(examples) if self.featurizer is not None else collate_classification(examples)

    def batches(self, texts, labels, batch_size: int, shuffle: bool, seed: int = 0, rows=None) -> SequenceBatches:
        bucket = 0 if self.featurizer is not None or not shuffle else 20  # similar lengths together: less padding
        return SequenceBatches(self.examples(texts, labels, rows), self.collate, batch_size, shuffle, seed, bucket)
