"""word2vec: corpus -> word tokenizer -> (sub-sampled) token stream -> skip-gram / CBOW examples with noise words
-> the negative-sampling loss -> word vectors, queried by nearest neighbours and analogies.

The defaults are word2vec's and gensim's: 5 epochs, each one every (sub-sampled) position with its whole window,
5 noise words, window 5, plain SGD at 0.025 per example falling linearly to 0.0001. word2vec steps every example
by lr (its loss is a sum over examples); the engine sees the batch's mean loss, so with `--optimizer sgd` the task
scales the gradient (not the loss it reports) by the batch size: one step is the sum of the batch's per-example
steps, and resume, gradient accumulation and torchrun keep that exact. (Adam, scale-free, gets dense gradients.)

    from tinytx.recipes import train
    from tinytx.options import Word2VecOptions
    from tinytx.recipes.word2vec import nearest, analogy
    train("word2vec", "runs/w2v", Word2VecOptions(data="corpus.txt"))
    nearest("runs/w2v", "king")                      # [(word, cosine), ...]
    analogy("runs/w2v", "king", "man", "woman")      # words nearest to king - man + woman

`tinytx eval RUN --data corpus.txt` scores the run's vectors on a text: the mean negative-sampling loss over one
example per word of the text (noise words drawn from that text's own unigram^0.75 distribution) and the share of its
words the vocabulary covers.
"""
from __future__ import annotations

import itertools
import math
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.sources import load_texts
from ..data.word2vec import Word2VecBatches
from ..engine import Task
from ..errors import TinytxError
from ..models import build
from ..options import WORD2VEC_MODES, Word2VecOptions
from ..rundir import Run, RunDir, load_run, require
from ..specials import SPECIAL_TOKENS, UNK_ID
from ..tokenizers import Tokenizer, train_tokenizer
from .base import Prepared, default_summary

N_SPECIAL = len(SPECIAL_TOKENS)  # ids below this are never words
MIN_STEPS = 256  # an epoch has at least this many steps: --batch-size shrinks on small data
MAX_SHARED = 16  # nor does an example's target word recur in its batch more often than this (summed steps overshoot)


class _ScaleGrad(torch.autograd.Function):
    """The identity, with its gradient multiplied by `scale`."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


class Word2VecTask(Task):
    """Negative-sampling loss: -log σ(s) - Σ_k log σ(-s_k), mean over the batch's examples.

    step_scale: the gradient's factor. The global batch size makes an SGD step the sum of per-example steps, as
    word2vec's; the reported loss stays the mean per example."""

    name = "word2vec"
    target_key = "targets"  # every example predicts one word; all keys go to the model (see inputs)

    def __init__(self, step_scale: float = 1.0):
        self.step_scale = step_scale

    def inputs(self, batch):
        return batch

    def loss(self, model, batch, with_metrics=True):
        scores = model(**batch).float()  # (B, 1+K): the target, then the noise words
        labels = torch.zeros_like(scores)
        labels[:, 0] = 1.0
        targets, noise = batch["targets"], batch["negatives"]
        n, K = noise.shape
        # a noise word that is the target itself is left out, as word2vec does
        clash = (noise.view(n, 1, K) == targets.view(n, -1, 1)).view(-1, K)
        weight = None
        if bool(clash.any()):
            weight = torch.ones_like(scores)
            weight[:, 1:].masked_fill_(clash, 0.0)
        loss = F.binary_cross_entropy_with_logits(scores, labels, weight, reduction="sum") / len(scores)
        if self.step_scale != 1 and loss.requires_grad:
            loss = _ScaleGrad.apply(loss, self.step_scale)
        return loss, ({"pair_accuracy": (scores[:, 0] > 0).float().mean()} if with_metrics else {})


def encode_words(tokenizer: Tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All the texts' token ids as one stream (specials and [UNK] included), and the text each token is from.
    One encode_batch call: the word tokenizer encodes a batch in one numpy pass (2-3x faster than line by line)."""
    encoded = tokenizer.encode_batch(texts)
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    ids = np.fromiter(itertools.chain.from_iterable(encoded), np.int64, int(lengths.sum()))
    return ids, np.repeat(np.arange(len(encoded), dtype=np.int32), lengths)


def known_words(ids: np.ndarray, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stream of known words: unknown words and specials dropped, as word2vec's min_count does."""
    known = ids >= N_SPECIAL
    return ids[known], texts[known]


def batch_size_for(batch_size: int, share: int, examples: int, collision: float) -> tuple[int, int]:
    """The batch size and noise-word sharing a run uses: at most `batch_size`, but small enough for MIN_STEPS
    steps an epoch, and for an example's target word to recur in its batch at most MAX_SHARED times on average
    (batch x `collision`, the targets' summed squared shares). The summed SGD step of a batch that holds the same
    words many times overshoots where word2vec's one-by-one updates would not: on the Bible (collision 0.003)
    batches of 8192 (26 recurrences) diverge and 4096 (13) train as well as gensim; on a 10-word text (collision
    0.1) 256 trains and 512 diverges. A batch has at least 8 groups of examples sharing noise words, so that it
    splits over up to 8 processes. Applied again on resume, it keeps what it gave."""
    most = max(8, min(examples // MIN_STEPS, int(MAX_SHARED / collision)))
    if batch_size > most:
        unit = 8 * share if most >= 8 * share else 8
        batch_size = most - most % unit
    if batch_size % share or batch_size // share < 8:
        share = math.gcd(share, max(1, batch_size // 8))
    return batch_size, share


class Word2VecRecipe:
    task = "word2vec"
    options = Word2VecOptions

    def prepare(self, opts: Word2VecOptions, run: RunDir, fitted: bool) -> Prepared:
        if opts.mode not in WORD2VEC_MODES:
            raise TinytxError(f"--mode must be one of {', '.join(WORD2VEC_MODES)}, got {opts.mode!r}")
        for name in ("window", "negatives", "n_embd"):
            if getattr(opts, name) < 1:
                raise TinytxError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(opts, name)}")
        if not isinstance(opts.train.batch_size, int):
            raise TinytxError(f"--batch-size must be a number of pairs for word2vec, got {opts.train.batch_size!r}")
        if opts.subsample < 0:
            raise TinytxError(f"--subsample must be >= 0 (0 = off), got {opts.subsample}")
        if opts.share_negatives < 1:
            raise TinytxError(f"--share-negatives must be >= 1, got {opts.share_negatives}")
        texts = load_texts(opts.data, by="line", column=opts.text_col)
        if fitted:  # the run's own tokenizer (resume, torchrun followers)
            tokenizer = run.load_tokenizer()
        else:
            tokenizer = train_tokenizer("word", texts, vocab_size=opts.vocab_size, min_frequency=opts.min_count,
                                        lowercase=opts.lowercase)
            run.save_tokenizer(tokenizer)
        stream, text_of = known_words(*encode_words(tokenizer, texts))
        V, cfg = tokenizer.vocab_size, opts.train
        data = Word2VecBatches(stream, V, opts.mode, opts.window, opts.negatives, 1, opts.subsample, cfg.seed,
                               texts=text_of)
        B, share = batch_size_for(cfg.batch_size, opts.share_negatives, data.examples_per_epoch,
                                  data.target_collision)
        data.batch_size, data.share, cfg = B, share, cfg.replace(batch_size=B)
        info = {"rows": len(texts), "tokens": int(len(stream)), "vocab_size": V,
                "examples_per_epoch": data.examples_per_epoch, "share_negatives": share}
        # val: a few fixed batches of the whole stream
        return Prepared(data, data, info, config=cfg, state={"vocab_size": V, "batch_size": cfg.batch_size})

    def build_model(self, opts: Word2VecOptions, prep: Prepared) -> torch.nn.Module:
        return build("word2vec", dict(vocab_size=prep.state["vocab_size"], n_embd=opts.n_embd, mode=opts.mode,
                                      sparse=opts.train.optimizer == "sgd"))

    def objective(self, opts: Word2VecOptions, prep: Prepared) -> Word2VecTask:
        # word2vec's lr is per example: an SGD step sums the (global) batch's per-example steps
        return Word2VecTask(prep.state["batch_size"] if opts.train.optimizer == "sgd" else 1.0)

    def summary(self, opts: Word2VecOptions, result: dict[str, Any], prep: Prepared) -> str:
        what = f"word2vec ({opts.mode}, {prep.info['vocab_size']:,} words, {prep.info['tokens']:,} tokens)"
        return default_summary(opts, result, what=what)

    @torch.no_grad()
    def evaluate(self, run: Run, data: str | None = None, batch_size: int = 4096, device: str = "auto",
                 **_) -> dict[str, Any]:
        """Mean negative-sampling loss (and pair accuracy: targets scored above 0) with every known word of `data`
        the target of one example (skip-gram: one word of its window; CBOW: the window), noise words from the
        text's own unigram^0.75 distribution; and the share of the text's words that the run's vocabulary covers."""
        if data is None:
            raise TinytxError("a word2vec run has no held-out text; give one with --data")
        opts: Word2VecOptions = run.options
        ids, text_of = encode_words(run.tokenizer, load_texts(data, by="line", column=opts.text_col))
        stream, text_of = known_words(ids, text_of)
        words = len(stream) + int(np.count_nonzero(ids == UNK_ID))
        if len(stream) < 2:
            raise TinytxError(f"{data}: fewer than 2 words of the run's vocabulary; nothing to evaluate")
        pairs = Word2VecBatches(stream, run.tokenizer.vocab_size, opts.mode, opts.window, opts.negatives,
                                subsample=0, seed=opts.train.seed, texts=text_of)
        dev = next(run.model.parameters()).device
        batches = ({k: v.to(dev) for k, v in b.items()} for b in pairs.iter_all(batch_size))
        m = Word2VecTask().evaluate(run.model, batches)
        return {"loss": m["loss"], "pair_accuracy": m["pair_accuracy"], "coverage": len(stream) / words,
                "tokens": int(len(stream))}


RECIPE = Word2VecRecipe()


# --- queries -----------------------------------------------------------------------------------------------------

class WordVectors:
    """Unit-length word vectors of a word2vec run, with cosine-similarity queries."""

    def __init__(self, tokenizer: Tokenizer, vectors: torch.Tensor):
        self.tokenizer = tokenizer
        self.unit = F.normalize(vectors.detach().float(), dim=-1)

    @classmethod
    def load(cls, run: Run | str | os.PathLike) -> "WordVectors":
        """From a loaded Run or a run directory (refused unless it is a word2vec run)."""
        if not isinstance(run, Run):
            run = load_run(run, device="cpu", task="word2vec")
        elif run.task != "word2vec":
            require(run.path, "word2vec")  # says which task it is instead
        return cls(run.tokenizer, run.model.vectors.cpu())

    def _key(self, word: str) -> str:
        return word.lower() if self.tokenizer.lowercase else word

    def vector(self, word: str) -> torch.Tensor:
        i = self.tokenizer.token_to_id(self._key(word))
        if i is None or i < N_SPECIAL:
            raise TinytxError(f"{word!r} is not in the vocabulary ({self.tokenizer.vocab_size - N_SPECIAL} words)")
        return self.unit[i]

    def nearest_to(self, v: torch.Tensor, k: int = 10, exclude: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        sims = self.unit @ F.normalize(v, dim=-1)
        sims[:N_SPECIAL] = -2.0
        for w in exclude:
            sims[self.tokenizer.token_to_id(self._key(w))] = -2.0
        k = min(k, int((sims > -2).sum()))
        top = sims.topk(k)
        return [(self.tokenizer.id_to_token(int(i)), float(s)) for s, i in zip(top.values, top.indices)]

    def similarity(self, a: str, b: str) -> float:
        return float(self.vector(a) @ self.vector(b))


def nearest(run: Run | str | os.PathLike, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The k words with the highest cosine similarity to `word` (itself left out)."""
    wv = WordVectors.load(run)
    return wv.nearest_to(wv.vector(word), k, exclude=(word,))


def analogy(run: Run | str | os.PathLike, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
    """Words nearest to a - b + c (king - man + woman ~ queen), the three query words left out."""
    wv = WordVectors.load(run)
    return wv.nearest_to(wv.vector(a) - wv.vector(b) + wv.vector(c), k, exclude=(a, b, c))
