"""Masked-LM data (BERT): rows of [CLS] + word ids, and a batch source that chooses and masks the words to predict.

`MLMBatches.get(step)` masks with a generator seeded by (seed, step): a pure function of the step, as the Trainer's
batch-source protocol asks, so resume is exact.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

from ..specials import CLS_ID, MASK_ID, SPECIAL_TOKENS, UNK_ID
from .batches import Batch, rank_slice
from .collate import SequenceBatches, pad


def mlm_rows(tokenizer, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """[CLS] + the first `max_len` ids of each text; texts with no token are left out."""
    rows = [[CLS_ID] + ids[:max_len] for ids in tokenizer.encode_batch(list(texts))]
    return [r for r in rows if len(r) > 1]


class MLMBatches:
    """Batches for MaskedLM: rows [CLS] + ids, `mask_prob` of the real tokens chosen for prediction, of which
    80% become [MASK], 10% a random word, 10% stay (BERT). The choice is seeded by the step: a pure function."""

    def __init__(self, rows: Sequence[list[int]], vocab_size: int, batch_size: int, shuffle: bool, seed: int,
                 mask_prob: float = 0.15):
        self.vocab_size, self.mask_prob, self.seed = vocab_size, mask_prob, seed
        self.inner = SequenceBatches([(r,) for r in rows], lambda ex: {"ids": pad([e[0] for e in ex])[0]},
                                     batch_size, shuffle, seed, bucket=20 if shuffle else 0)
        self.steps_per_epoch = self.inner.steps_per_epoch

    def mask(self, ids: torch.Tensor, seed: int) -> Batch:
        g = torch.Generator().manual_seed(seed)
        eligible = ids >= len(SPECIAL_TOKENS)  # words only: never [PAD] / [CLS]
        eligible |= ids == UNK_ID  # an [UNK] is a word too
        r = torch.rand(ids.shape, generator=g).masked_fill(~eligible, 2.0)
        chosen = r < self.mask_prob
        # every row with a word predicts at least one (its lowest draw), so no batch has zero targets
        lowest = r == r.min(1, keepdim=True).values
        chosen |= lowest & eligible & ~chosen.any(1, keepdim=True)
        labels = torch.where(chosen, ids, torch.full_like(ids, -100))
        action = torch.rand(ids.shape, generator=g)
        random_words = torch.randint(len(SPECIAL_TOKENS), self.vocab_size, ids.shape, generator=g)
        inp = torch.where(chosen & (action < 0.8), torch.full_like(ids, MASK_ID), ids)
        inp = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_words, inp)
        return {"input_ids": inp, "labels": labels}

    def get(self, step: int, rank: int = 0, world: int = 1) -> Batch:
        batch = self.mask(self.inner.get(step)["ids"], self.seed * 1_000_003 + step)
        part = rank_slice(len(batch["labels"]), rank, world)
        return {k: v[part] for k, v in batch.items()}

    def iter_eval(self, max_batches: int | None = None) -> Iterator[Batch]:
        for i, b in enumerate(self.inner.iter_eval(max_batches)):
            yield self.mask(b["ids"], self.seed * 7919 + i)
