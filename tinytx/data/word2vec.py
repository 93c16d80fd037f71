"""word2vec data: skip-gram / CBOW examples with noise words, drawn from one token stream.

An epoch is what it is in word2vec and gensim: every position of the (sub-sampled) stream once, with a window of
random size r in [1, window] around it (nearer words count more). skip-gram pairs the position's word with every
word of its window (about window + 1 pairs per position), CBOW predicts it from the whole window (one example per
position). `Word2VecBatches.get(step)` is a pure function of the step, as the Trainer's batch-source protocol asks:
each epoch's sub-sample, windows and order come from a generator seeded by (seed, epoch), each step's noise words
from one seeded by (seed, step). Everything is numpy over whole arrays; no Python runs per token.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from ..errors import TinytxError
from .batches import Batch, rank_slice


def keep_probability(counts: np.ndarray, subsample: float) -> np.ndarray:
    """word2vec's sub-sampling: a word of frequency f is kept with probability (sqrt(f/t) + 1) t/f (at most 1)."""
    if subsample <= 0:
        return np.ones(len(counts))
    freq = counts / max(counts.sum(), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = (np.sqrt(freq / subsample) + 1) * subsample / freq
    return np.nan_to_num(np.minimum(keep, 1.0))


def noise_table(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """word2vec's noise table: word w fills a share count(w)^0.75 / sum of its slots, so a uniform slot is a draw
    from the unigram distribution to the 3/4 power (rounding is at most one slot per word)."""
    weights = counts.astype(np.float64) ** power
    cdf = np.cumsum(weights / weights.sum())
    size = max(1 << 20, 64 * len(counts))
    table = np.searchsorted(cdf, (np.arange(size) + 0.5) / size)
    return np.minimum(table, len(counts) - 1).astype(np.int64)


class Word2VecBatches:
    """Training examples as a pure function of the step.

    skipgram: `inputs` (B,) a window word, `targets` (B,) the center it predicts; cbow: `inputs` (B, 2*window)
    the window (0 = padding), `targets` (B,) the center. `negatives` (B/G, K): K noise words from the unigram^0.75
    distribution shared by each group of G = `share` consecutive examples (1 = every example its own, as word2vec).
    `texts` (optional, one per token) says which text (line, row) each token belongs to: windows stay inside their
    text, as word2vec's and gensim's stay inside a sentence. An epoch is `steps_per_epoch` batches, sized from the
    first epoch's examples; each epoch draws its own sub-sample and windows, so its count varies a little: a batch
    past the end wraps to the epoch's start.
    """

    def __init__(self, stream: np.ndarray, vocab_size: int, mode: str = "skipgram", window: int = 5,
                 negatives: int = 5, batch_size: int = 4096, subsample: float = 1e-3, seed: int = 0, share: int = 1,
                 texts: np.ndarray | None = None):
        if len(stream) < 2:
            raise TinytxError("the corpus has fewer than 2 known words: nothing to learn from")
        if batch_size % share:
            raise TinytxError(f"--batch-size {batch_size} must be a multiple of --share-negatives {share}")
        self.stream = np.ascontiguousarray(stream, dtype=np.int64)
        self.texts = None if texts is None else np.ascontiguousarray(texts, dtype=np.int32)
        self.mode, self.window, self.negatives, self.share = mode, window, negatives, share
        self.batch_size, self.seed = batch_size, seed
        counts = np.bincount(self.stream, minlength=vocab_size).astype(np.float64)
        self.keep = keep_probability(counts, subsample)
        self.table = noise_table(counts)
        self._epoch, self._plan_arrays, self._first = -1, None, None

    @property
    def examples_per_epoch(self) -> int:
        """The first epoch's examples (pairs for skip-gram, positions for CBOW); later epochs have about as many."""
        if self._first is None:
            self._first = len(self._plan(0)[-1])
        return self._first

    @property
    def target_collision(self) -> float:
        """The chance that two examples of the first epoch predict the same word (the sum of the targets' squared
        shares): a batch of B examples gives each example's target to about B x this many others."""
        plan = self._plan(0)
        targets = plan[0] & 0xFFFFFFFF if self.mode == "skipgram" else plan[0]
        share = np.bincount(targets) / len(targets)
        return float(share @ share)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.examples_per_epoch / self.batch_size))

    # --- one epoch: the sub-sampled stream, its windows, its order --------------------------------------------

    def _plan(self, epoch: int):
        if epoch != self._epoch:
            g = np.random.default_rng([self.seed, epoch])
            kept = g.random(len(self.stream)) < self.keep[self.stream]
            if np.count_nonzero(kept) < 2:
                kept[:] = True
            texts = None if self.texts is None else self.texts[kept]
            kept = self.stream[kept]
            r = g.integers(1, self.window + 1, len(kept), dtype=np.int8)
            if self.mode == "skipgram":
                pairs = self._pairs(kept, texts, r)
                if not len(pairs):
                    raise TinytxError("no word has a neighbour in its own line or text: nothing to learn from")
                g.shuffle(pairs)  # in place: one array of 8-byte pairs, no permutation array beside it
                plan = (pairs,)
            else:
                plan = (kept.astype(np.int32), texts, r, g.permutation(len(kept)))
            self._epoch, self._plan_arrays = epoch, plan
        return self._plan_arrays

    def _pairs(self, kept: np.ndarray, texts: np.ndarray | None, r: np.ndarray) -> np.ndarray:
        """Every (window word, center) pair of the epoch, packed as window word << 32 | center: position p with
        window r[p] pairs with p-r[p] .. p-1 and p+1 .. p+r[p], those in its own text."""
        parts = []
        for o in range(1, self.window + 1):  # a loop over offsets (window of them), each a whole-array operation
            right, left = r[:-o] >= o, r[o:] >= o  # centers whose window reaches o to the right / to the left
            if texts is not None:
                same = texts[:-o] == texts[o:]
                right &= same
                left &= same
            right, left = np.flatnonzero(right), np.flatnonzero(left) + o
            parts += [(kept[right + o] << 32) | kept[right], (kept[left - o] << 32) | kept[left]]
        return np.concatenate(parts)

    def _windows(self, kept: np.ndarray, texts: np.ndarray | None, r: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """CBOW inputs: the window words of each position in `pos` (0 where the window is shorter)."""
        offs = np.concatenate([np.arange(-self.window, 0), np.arange(1, self.window + 1)])
        at = np.clip(pos[:, None] + offs[None, :], -1, len(kept))
        ok = (at >= 0) & (at < len(kept)) & (np.abs(offs)[None, :] <= r[pos][:, None])
        at = np.clip(at, 0, len(kept) - 1)
        if texts is not None:
            ok &= texts[at] == texts[pos][:, None]
        return np.where(ok, kept[at], 0)

    def _noise(self, g: np.random.Generator, groups: int) -> np.ndarray:
        return self.table[g.integers(0, len(self.table), (groups, self.negatives))]

    # --- the protocol --------------------------------------------------------------------------------------------

    def get(self, step: int, rank: int = 0, world: int = 1) -> Batch:
        epoch, i = divmod(step, self.steps_per_epoch)
        plan = self._plan(epoch)
        n = len(plan[-1])
        start = (i * self.batch_size) % n
        at = (slice(start, start + self.batch_size) if start + self.batch_size <= n
              else (start + np.arange(self.batch_size)) % n)
        if self.mode == "skipgram":
            pairs = plan[0][at]
            inputs, targets = pairs >> 32, pairs & 0xFFFFFFFF
        else:
            kept, texts, r, order = plan
            pos = order[at]
            inputs, targets = self._windows(kept, texts, r, pos).astype(np.int64), kept[pos].astype(np.int64)
        groups = self.batch_size // self.share
        negatives = self._noise(np.random.default_rng([self.seed, step, 1]), groups)
        part, gpart = rank_slice(self.batch_size, rank, world), rank_slice(groups, rank, world)
        return {"inputs": torch.from_numpy(inputs[part]), "targets": torch.from_numpy(targets[part]),
                "negatives": torch.from_numpy(negatives[gpart])}

    def _batch(self, pos: np.ndarray, r: np.ndarray, g: np.random.Generator) -> Batch:
        """Every position in `pos` of the whole stream as a target once: skip-gram with one word of its window
        (window size r), CBOW with the whole window; each with its own noise words."""
        s, n, texts = self.stream, len(self.stream), self.texts
        if self.mode == "skipgram":
            off = g.integers(1, r[pos] + 1) * np.where(g.random(len(pos)) < 0.5, -1, 1)
            inside = lambda at: (at >= 0) & (at < n) & (texts is None or texts[np.clip(at, 0, n - 1)] == texts[pos])
            ctx = np.where(inside(pos + off), pos + off, pos - off)  # at an end of the text look the other way
            ctx = np.where(inside(ctx), ctx, pos)  # a one-word text pairs its word with itself
            inputs = s[ctx]
        else:
            inputs = self._windows(s, texts, r, pos)
        return {"inputs": torch.from_numpy(inputs), "targets": torch.from_numpy(s[pos]),
                "negatives": torch.from_numpy(self._noise(g, len(pos)))}

    def iter_eval(self, max_batches: int | None = None) -> Iterator[Batch]:
        """A fixed handful of batches from the whole (not sub-sampled) stream: a steady loss to watch."""
        g = np.random.default_rng([self.seed, 10**9])
        r = g.integers(1, self.window + 1, len(self.stream))
        for _ in range(min(max_batches or 5, 5)):
            yield self._batch(g.integers(0, len(self.stream), min(self.batch_size, 4096)), r, g)

    def iter_all(self, batch_size: int = 4096) -> Iterator[Batch]:
        """Every position of the whole (not sub-sampled) stream once, in order, as the target of one example;
        windows and noise words from a generator seeded by `seed`: a full, repeatable evaluation pass."""
        g = np.random.default_rng([self.seed, 10**9 + 1])
        r = g.integers(1, self.window + 1, len(self.stream))
        for start in range(0, len(self.stream), batch_size):
            yield self._batch(np.arange(start, min(start + batch_size, len(self.stream))), r, g)
