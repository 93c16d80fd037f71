"""Padding variable-length token sequences into batches, and a batch source that does it per batch.

Batch layouts (pad id 0 = [PAD]; masks are bool, True = real token, the transformer's convention):
    classification:  {"ids": (B, L) int64, "mask": (B, L) bool, "y": (B,) int64}
    seq2seq:         {"src": (B, S), "tgt_in": (B, T) = [BOS] + target, "tgt_out": (B, T) = target + [EOS]}
                     (+ "src_mask", "tgt_mask" with masks=True; Seq2Seq ignores pad id 0 in tgt_out)

`SequenceBatches` pads each batch only to its own longest row, and can bucket by length (rows of similar length
batched together, so little compute goes to padding). Like every batch source it is a pure function of the step.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..errors import TinytxError
from ..tokenizers.base import BOS_ID, EOS_ID, PAD_ID
from .batches import Batch, rank_slice


def pad(seqs: Sequence[Sequence[int]], max_length: int | None = None, pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists (cut to max_length) to the longest: (ids (B, L) int64, mask (B, L) bool)."""
    lengths = torch.tensor([len(s) if max_length is None else min(len(s), max_length) for s in seqs], dtype=torch.long)
    width = int(lengths.max()) if len(seqs) else 0
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for row, (s, n) in enumerate(zip(seqs, lengths.tolist())):
        if n:
            ids[row, :n] = torch.as_tensor(s[:n], dtype=torch.long)
    return ids, torch.arange(width)[None, :] < lengths[:, None]


def collate_classification(examples: Sequence[tuple[Sequence[int], int]], max_length: int | None = None) -> Batch:
    """[(ids, label), ...] -> {"ids", "mask", "y"}."""
    ids, mask = pad([e[0] for e in examples], max_length)
    return {"ids": ids, "mask": mask, "y": torch.tensor([int(e[1]) for e in examples], dtype=torch.long)}


def collate_seq2seq(
    examples: Sequence[tuple[Sequence[int], Sequence[int]]], max_src: int | None = None, max_tgt: int | None = None,
    masks: bool = False,
) -> Batch:
    """[(src ids, tgt ids), ...] (no BOS/EOS yet) -> {"src", "tgt_in", "tgt_out"} for teacher forcing.

    tgt_in = [BOS] + tgt and tgt_out = tgt + [EOS], both cut to max_tgt tokens (a cut target loses its EOS)."""
    src, src_mask = pad([e[0] for e in examples], max_src)
    tgt_in, tgt_mask = pad([[BOS_ID, *e[1]] for e in examples], max_tgt)
    tgt_out, _ = pad([[*e[1], EOS_ID] for e in examples], max_tgt)
    batch = {"src": src, "tgt_in": tgt_in, "tgt_out": tgt_out}
    if masks:
        batch.update(src_mask=src_mask, tgt_mask=tgt_mask)
    return batch


class SequenceBatches:
    """Mini-batches of variable-length examples, collated (padded) per batch; reshuffled every epoch.

    examples: a list of anything `collate` accepts a list of (e.g. (ids, label) pairs).
    length: the length of one example, for bucketing (default: len of its first element).
    bucket: 0 = plain shuffle; k > 0 = shuffle, then sort each pool of k*batch_size examples by length, cut into
    batches and shuffle the batch order (every example is still seen once per epoch).
    """

    def __init__(
        self, examples: Sequence, collate: Callable[[list], Batch], batch_size: int = 32, shuffle: bool = True,
        seed: int = 0, bucket: int = 0, length: Callable | None = None,
    ):
        if len(examples) == 0:
            raise TinytxError("no examples to make batches from")
        if batch_size < 1:
            raise TinytxError(f"batch size must be >= 1, got {batch_size}")
        self.examples, self.collate = examples, collate
        self.batch_size, self.shuffle, self.seed, self.bucket = int(batch_size), shuffle, seed, int(bucket)
        length = length or (lambda e: len(e[0]))
        self.lengths = np.array([length(e) for e in examples], dtype=np.int64)
        self.n = len(examples)
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self._epoch, self._batches = -1, None

    def __len__(self) -> int:
        return self.n

    def _plan(self, epoch: int) -> list[np.ndarray]:
        """The batches (arrays of example indices) of one epoch: a pure function of (seed, epoch)."""
        if epoch == self._epoch:
            return self._batches
        g = np.random.default_rng([self.seed, epoch])
        order = g.permutation(self.n) if self.shuffle else np.arange(self.n)
        if self.bucket > 0:
            pool = self.bucket * self.batch_size
            order = np.concatenate([
                part[np.argsort(self.lengths[part], kind="stable")] for part in np.split(order, range(pool, self.n, pool))
            ])
        batches = np.split(order, range(self.batch_size, self.n, self.batch_size))
        if self.bucket > 0 and self.shuffle:
            batches = [batches[i] for i in g.permutation(len(batches))]
        self._epoch, self._batches = epoch, batches
        return batches

    def get(self, step: int, rank: int = 0, world: int = 1) -> Batch:
        epoch, i = divmod(step, self.steps_per_epoch)
        idx = self._plan(epoch)[i]
        batch = self.collate([self.examples[j] for j in idx.tolist()])  # pad to the global batch, then split
        part = rank_slice(len(idx), rank, world)
        return {k: v[part] for k, v in batch.items()}

    def iter_eval(self, max_batches: int | None = None) -> Iterator[Batch]:
        """Every example once, in batches of similar length (sorted), the same every time."""
        order = np.argsort(self.lengths, kind="stable")
        for b, start in enumerate(range(0, self.n, self.batch_size)):
            if max_batches is not None and b >= max_batches:
                return
            yield self.collate([self.examples[j] for j in order[start : start + self.batch_size].tolist()])


def classification_batches(
    tokenizer, texts: Sequence[str], labels: Sequence[int], batch_size: int = 32, max_length: int | None = 256,
    shuffle: bool = True, seed: int = 0, bucket: int = 0,
) -> SequenceBatches:
    """Texts + integer labels -> a batch source of {"ids", "mask", "y"} (texts tokenized once, up front)."""
    if len(texts) != len(labels):
        raise TinytxError(f"{len(texts)} texts but {len(labels)} labels")
    ids = tokenizer.encode_batch(list(texts))
    if max_length is not None:
        ids = [x[:max_length] for x in ids]
    return SequenceBatches(list(zip(ids, labels)), collate_classification, batch_size, shuffle, seed, bucket)


def seq2seq_batches(
    src_tokenizer, tgt_tokenizer, pairs: Sequence[tuple[str, str]], batch_size: int = 32,
    max_src: int | None = 128, max_tgt: int | None = 128, shuffle: bool = True, seed: int = 0, bucket: int = 0,
    masks: bool = False,
) -> SequenceBatches:
    """(source, target) sentence pairs -> a batch source of {"src", "tgt_in", "tgt_out"} (see collate_seq2seq).

    Bucketing sorts by the longer side of a pair. max_tgt counts tgt_in/tgt_out tokens (BOS/EOS included)."""
    src = src_tokenizer.encode_batch([p[0] for p in pairs])
    tgt = tgt_tokenizer.encode_batch([p[1] for p in pairs])
    if max_src is not None:
        src = [x[:max_src] for x in src]
    if max_tgt is not None:
        tgt = [x[: max_tgt - 1] for x in tgt]  # room for BOS / EOS
    return SequenceBatches(
        list(zip(src, tgt)), lambda ex: collate_seq2seq(ex, masks=masks), batch_size, shuffle, seed, bucket,
        length=lambda e: max(len(e[0]), len(e[1]) + 1),
    )
