"""The batch-source protocol the Trainer reads from, and its simplest form: in-memory tensors.

A batch source is a pure function of the global micro-step: `get(step, rank, world)` always returns the same
batch for the same arguments. That one rule gives exact resume (the data position is the step; nothing to save),
and DDP equality (each rank takes its slice of the same global batch).
"""
from __future__ import annotations

import math
from typing import Iterator, Protocol

import torch

Batch = dict[str, torch.Tensor]


class Batches(Protocol):
    steps_per_epoch: int | None  # None for sources without epochs (random LM windows)

    def get(self, step: int, rank: int = 0, world: int = 1) -> Batch: ...

    def iter_eval(self, max_batches: int | None = None) -> Iterator[Batch]: ...


def rank_slice(n: int, rank: int, world: int) -> slice:
    """The part of a global batch of n rows that `rank` of `world` processes works on."""
    if n % world:
        raise ValueError(f"global batch of {n} rows does not split evenly over {world} processes")
    per = n // world
    return slice(rank * per, (rank + 1) * per)


class TensorBatches:
    """Mini-batches from equal-length tensors, reshuffled every epoch by a seeded generator.

    batch_size: an int (1 = stochastic GD, n = mini-batch) or "full" (batch GD). The last, short batch of an
    epoch is kept, so every example is seen once per epoch.
    """

    def __init__(self, tensors: Batch, batch_size: int | str = 32, shuffle: bool = True, seed: int = 0):
        lengths = {len(t) for t in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"tensors have different lengths: { {k: len(v) for k, v in tensors.items()} }")
        self.tensors = tensors
        self.n = lengths.pop()
        if self.n == 0:
            raise ValueError("no examples")
        self.batch_size = self.n if batch_size == "full" else int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1 or 'full', got {batch_size!r}")
        self.shuffle, self.seed = shuffle, seed
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self._perm_epoch, self._perm = -1, None

    def __len__(self) -> int:
        return self.n

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._perm = torch.randperm(self.n, generator=g)
            else:
                self._perm = torch.arange(self.n)
            self._perm_epoch = epoch
        return self._perm

    def get(self, step: int, rank: int = 0, world: int = 1) -> Batch:
        epoch, i = divmod(step, self.steps_per_epoch)
        idx = self._permutation(epoch)[i * self.batch_size : (i + 1) * self.batch_size]
        idx = idx[rank_slice(len(idx), rank, world)]
        return {k: v[idx] for k, v in self.tensors.items()}

    def iter_eval(self, max_batches: int | None = None) -> Iterator[Batch]:
        size = min(self.batch_size, 1024) if self.batch_size < self.n else self.n
        for b, start in enumerate(range(0, self.n, size)):
            if max_batches is not None and b >= max_batches:
                return
            yield {k: v[start : start + size] for k, v in self.tensors.items()}
