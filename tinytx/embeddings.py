"""word2vec end to end: corpus -> word tokenizer -> (sub-sampled) token stream -> skip-gram / CBOW pairs with
negative samples -> the one Trainer (through Word2VecTask) -> run dir -> nearest neighbours and analogies.

    from tinytx.embeddings import Word2VecOptions, train_word2vec, nearest, analogy
    train_word2vec(Word2VecOptions(data="corpus.txt", out="runs/w2v"))
    nearest("runs/w2v", "king")                      # [(word, cosine), ...]
    analogy("runs/w2v", "king", "man", "woman")      # words nearest to king - man + woman
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .engine import TrainConfig, Trainer
from .engine.resume import check_same_rows, options_record, refuse_existing, saved_options, word_tokenizer
from .engine.tasks import Task
from .errors import TinytxError
from .models import build, registry
from .tokenizers import SPECIAL_TOKENS

TOKENIZER = "tokenizer.json"
N_SPECIAL = len(SPECIAL_TOKENS)


class Word2VecTask(Task):
    """Negative-sampling loss: -log σ(s_pos) - Σ_k log σ(-s_neg_k), mean over the batch's pairs."""

    name = "word2vec"
    target_key = "center"  # every pair has one center word; all keys go to the model (see inputs)

    def inputs(self, batch):
        return batch

    def loss(self, model, batch, with_metrics=True):
        pos, neg = model(**batch)
        loss = -(F.logsigmoid(pos.float()) + F.logsigmoid(-neg.float()).sum(-1)).mean()
        return loss, ({"pair_accuracy": (pos > 0).float().mean()} if with_metrics else {})


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

    def _batch(self, kept, pos, g):
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

    def get(self, step: int, rank: int = 0, world: int = 1):
        from .data.batches import rank_slice

        epoch, i = divmod(step, self.steps_per_epoch)
        kept, perm = self._plan(epoch)
        pos = perm[(i * self.batch_size + np.arange(self.batch_size)) % len(kept)]
        batch = self._batch(kept, pos, np.random.default_rng([self.seed, step, 1]))
        part = rank_slice(self.batch_size, rank, world)
        return {k: v[part] for k, v in batch.items()}

    def iter_eval(self, max_batches=None):
        """A fixed handful of batches from the whole (not sub-sampled) stream: a steady loss to watch."""
        g = np.random.default_rng([self.seed, 10**9])
        for _ in range(min(max_batches or 5, 5)):
            yield self._batch(self.stream, g.integers(0, len(self.stream), self.batch_size), g)


@dataclass
class Word2VecOptions:
    data: str
    out: str
    text_col: str = "text"  # csv/jsonl input; plain text is read line by line
    mode: str = "skipgram"  # skipgram | cbow
    n_embd: int = 100
    window: int = 5
    negatives: int = 5
    min_count: int = 5
    vocab_size: int = 30_000
    lowercase: bool = True
    subsample: float = 1e-3
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 512
    lr: float = 5e-3
    seed: int = 1337
    device: str = "auto"
    progress: bool = True
    resume: bool = False  # continue the run in `out` with its saved options


def train_word2vec(opts: Word2VecOptions, callbacks=()) -> dict[str, Any]:
    """Train word vectors into opts.out (tokenizer.json + model.safetensors, task "word2vec")."""
    from .data.sources import load_texts
    run_dir = Path(opts.out)
    if opts.resume:
        opts = saved_options(opts, "word2vec", "word2vec")
    else:
        refuse_existing(run_dir)
    if opts.mode not in ("skipgram", "cbow"):
        raise TinytxError(f"--mode must be skipgram or cbow, got {opts.mode!r}")
    for name in ("window", "negatives", "n_embd", "batch_size"):
        if getattr(opts, name) < 1:
            raise TinytxError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(opts, name)}")
    texts = load_texts(opts.data, by="line", column=opts.text_col)
    if opts.resume:
        check_same_rows(run_dir, len(texts), opts.data)
    tokenizer = word_tokenizer(run_dir, opts.resume, texts, vocab_size=opts.vocab_size, min_frequency=opts.min_count,
                               lowercase=opts.lowercase)
    # one stream of known words (unknown words and punctuation-free specials dropped, as word2vec's min_count does)
    stream = np.concatenate([tokenizer.encode_array(t) for t in texts] or [np.zeros(0, np.int64)])
    stream = stream[stream >= N_SPECIAL]
    V = tokenizer.vocab_size
    data = Word2VecBatches(stream, V, opts.mode, opts.window, opts.negatives, opts.batch_size, opts.subsample, opts.seed)
    torch.manual_seed(opts.seed)
    model = build("word2vec", dict(vocab_size=V, n_embd=opts.n_embd, mode=opts.mode))
    cfg = TrainConfig(epochs=opts.epochs, max_steps=opts.max_steps, batch_size=opts.batch_size, optimizer="adam",
                      lr=opts.lr, schedule="cosine", min_lr=opts.lr / 20, eval_interval=None, device=opts.device,
                      seed=opts.seed, progress=opts.progress, restore_best=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not opts.resume:
        tokenizer.save(run_dir / TOKENIZER)
    extra = {"data": str(opts.data), "window": opts.window, "negatives": opts.negatives, "subsample": opts.subsample,
             "tokens": int(len(stream)), "rows": len(texts), "options": options_record(opts)}
    run_info = {"task": "word2vec", "model": registry.describe(model), "extra": extra}
    t0 = time.perf_counter()
    result = Trainer(model, Word2VecTask(), data, data, cfg, out_dir=run_dir, run_info=run_info,
                     callbacks=callbacks, resume=opts.resume).fit()
    result.update(seconds=time.perf_counter() - t0, params=sum(p.numel() for p in model.parameters()),
                  vocab_size=V, tokens=int(len(stream)))
    return result


# --- queries -----------------------------------------------------------------------------------------------------

class WordVectors:
    """Unit-length word vectors of a word2vec run, with cosine-similarity queries."""

    def __init__(self, tokenizer, vectors: torch.Tensor):
        self.tokenizer = tokenizer
        self.unit = F.normalize(vectors.detach().float(), dim=-1)

    @classmethod
    def load(cls, run) -> "WordVectors":
        from .run import Run, load_run

        run = run if isinstance(run, Run) else load_run(run, device="cpu")
        if run.task != "word2vec":
            raise TinytxError(f"{run.path}: not a word2vec run (task {run.task!r})")
        return cls(run.tokenizer, run.model.vectors.cpu())

    def vector(self, word: str) -> torch.Tensor:
        key = word.lower() if self.tokenizer.lowercase else word
        i = self.tokenizer.token_to_id(key)
        if i is None or i < N_SPECIAL:
            raise TinytxError(f"{word!r} is not in the vocabulary ({self.tokenizer.vocab_size - N_SPECIAL} words)")
        return self.unit[i]

    def nearest_to(self, v: torch.Tensor, k: int = 10, exclude: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        sims = self.unit @ F.normalize(v, dim=-1)
        sims[:N_SPECIAL] = -2.0
        for w in exclude:
            sims[self.tokenizer.token_to_id(w.lower() if self.tokenizer.lowercase else w)] = -2.0
        k = min(k, int((sims > -2).sum()))
        top = sims.topk(k)
        return [(self.tokenizer.id_to_token(int(i)), float(s)) for s, i in zip(top.values, top.indices)]

    def similarity(self, a: str, b: str) -> float:
        return float(self.vector(a) @ self.vector(b))


def nearest(run, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The k words with the highest cosine similarity to `word` (itself left out)."""
    wv = WordVectors.load(run)
    return wv.nearest_to(wv.vector(word), k, exclude=(word,))


def analogy(run, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
    """Words nearest to a - b + c (king - man + woman ~ queen), the three query words left out."""
    wv = WordVectors.load(run)
    return wv.nearest_to(wv.vector(a) - wv.vector(b) + wv.vector(c), k, exclude=(a, b, c))
