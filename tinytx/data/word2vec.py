"""word2vec data: skip-gram / CBOW training pairs with negative samples, drawn from one token stream.

`Word2VecBatches.get(step)` is a pure function of the step, as the Trainer's batch-source protocol asks: each epoch
sub-samples the stream and permutes its positions with a generator seeded by (seed, epoch), and each step draws its
windows and noise words from one seeded by (seed, step).
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from ..errors import TinytxError
from .batches import Batch, rank_slice


class Word2VecBatches:
    """Training pairs as a pure function of the step.

    Each epoch draws a sub-sampled copy of the token stream (a word of frequency f is kept with probability
    (sqrt(f/t) + 1) t/f, the reference implementation's rule, so "the" is mostly dropped and rare words kept) and a
    permutation of its positions; a step takes `batch_size` center positions, a random window size r in [1, window]
    (nearer words count more, as in the original), and noise words from the unigram distribution to the 3/4 power.
    skipgram: one context word per center; cbow: the whole window (0 = padding) predicts the center.
    """

    def __init__(self, stream: np.ndarray, vocab_size: int, mode: str = "skipgram", window: int = 5,
                 negatives: int = 5, batch_size: int = 512, subsample: float = 1e-3, seed: int = 0):
        if len(stream) < 2:
            raise TinytxError("the corpus has fewer than 2 known words: nothing to learn from")
        self.stream, self.mode, self.window, self.negatives = stream, mode, window, negatives
        self.batch_size, self.seed = batch_size, seed
        counts = np.bincount(stream, minlength=vocab_size).astype(np.float64)
        freq = counts / counts.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = (np.sqrt(freq / subsample) + 1) * subsample / freq if subsample > 0 else np.ones_like(freq)
        self.keep = np.nan_to_num(np.minimum(keep, 1.0))
        noise = counts ** 0.75
        self.noise_cdf = np.cumsum(noise / noise.sum())
        expected = float(self.keep[stream].sum())
        self.steps_per_epoch = max(1, math.ceil(expected / batch_size))
        self._epoch, self._kept, self._perm = -1, None, None

    def _plan(self, epoch: int):
        if epoch != self._epoch:
            g = np.random.default_rng([self.seed, epoch])
            kept = self.stream[g.random(len(self.stream)) < self.keep[self.stream]]
            if len(kept) < 2:
                kept = self.stream
            self._epoch, self._kept, self._perm = epoch, kept, g.permutation(len(kept))
        return self._kept, self._perm

    def _batch(self, kept, pos, g) -> Batch:
        n, B, w = len(kept), len(pos), self.window
        r = g.integers(1, w + 1, B)
        neg = np.searchsorted(self.noise_cdf, g.random((B, self.negatives)))
        neg = np.minimum(neg, len(self.noise_cdf) - 1)
        if self.mode == "skipgram":
            off = g.integers(1, r + 1) * np.where(g.random(B) < 0.5, -1, 1)
            ctx = pos + off
            ctx = np.where((ctx < 0) | (ctx >= n), pos - off, ctx)  # at the stream's ends look the other way
            ctx = np.clip(ctx, 0, n - 1)
            context = kept[ctx]
        else:
            offs = np.concatenate([np.arange(-w, 0), np.arange(1, w + 1)])
            at = pos[:, None] + offs[None, :]
            ok = (at >= 0) & (at < n) & (np.abs(offs)[None, :] <= r[:, None])
            context = np.where(ok, kept[np.clip(at, 0, n - 1)], 0)
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
        return {"center": as_t(kept[pos]), "context": as_t(context), "negatives": as_t(neg)}

    def get(self, step: int, rank: int = 0, world: int = 1) -> Batch:
        epoch, i = divmod(step, self.steps_per_epoch)
        kept, perm = self._plan(epoch)
        pos = perm[(i * self.batch_size + np.arange(self.batch_size)) % len(kept)]
        batch = self._batch(kept, pos, np.random.default_rng([self.seed, step, 1]))
        part = rank_slice(self.batch_size, rank, world)
        return {k: v[part] for k, v in batch.items()}

    def iter_eval(self, max_batches: int | None = None) -> Iterator[Batch]:
        """A fixed handful of batches from the whole (not sub-sampled) stream: a steady loss to watch."""
        g = np.random.default_rng([self.seed, 10**9])
        for _ in range(min(max_batches or 5, 5)):
            yield self._batch(self.stream, g.integers(0, len(self.stream), self.batch_size), g)

    def iter_all(self) -> Iterator[Batch]:
        """Every position of the whole (not sub-sampled) stream once, in order, as the center of one pair; windows
        and noise words from a generator seeded by `seed`: a full, repeatable evaluation pass."""
        g = np.random.default_rng([self.seed, 10**9 + 1])
        for start in range(0, len(self.stream), self.batch_size):
            yield self._batch(self.stream, np.arange(start, min(start + self.batch_size, len(self.stream))), g)
