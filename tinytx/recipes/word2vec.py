"""word2vec: corpus -> word tokenizer -> (sub-sampled) token stream -> skip-gram / CBOW pairs with negative samples
-> the negative-sampling loss -> word vectors, queried by nearest neighbours and analogies.

    from tinytx.recipes import train
    from tinytx.options import Word2VecOptions
    from tinytx.recipes.word2vec import nearest, analogy
    train("word2vec", "runs/w2v", Word2VecOptions(data="corpus.txt"))
    nearest("runs/w2v", "king")                      # [(word, cosine), ...]
    analogy("runs/w2v", "king", "man", "woman")      # words nearest to king - man + woman

`tinytx eval RUN --data corpus.txt` scores the run's vectors on a text: the mean negative-sampling loss over one
pair per word of the text (noise words drawn from that text's own unigram^0.75 distribution) and the share of its
words the vocabulary covers.
"""
from __future__ import annotations

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


def encode_words(tokenizer: Tokenizer, texts: list[str]) -> np.ndarray:
    """All the texts' token ids, one stream (specials and [UNK] included)."""
    return np.concatenate([tokenizer.encode_array(t) for t in texts] or [np.zeros(0, np.int64)])


def known_words(ids: np.ndarray) -> np.ndarray:
    """The stream of known words: unknown words and specials dropped, as word2vec's min_count does."""
    return ids[ids >= N_SPECIAL]


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
        texts = load_texts(opts.data, by="line", column=opts.text_col)
        if fitted:  # the run's own tokenizer (resume, torchrun followers)
            tokenizer = run.load_tokenizer()
        else:
            tokenizer = train_tokenizer("word", texts, vocab_size=opts.vocab_size, min_frequency=opts.min_count,
                                        lowercase=opts.lowercase)
            run.save_tokenizer(tokenizer)
        stream = known_words(encode_words(tokenizer, texts))
        V, cfg = tokenizer.vocab_size, opts.train
        data = Word2VecBatches(stream, V, opts.mode, opts.window, opts.negatives, cfg.batch_size, opts.subsample,
                               cfg.seed)
        info = {"rows": len(texts), "tokens": int(len(stream)), "vocab_size": V}
        return Prepared(data, data, info, state={"vocab_size": V})  # val: a few fixed batches of the whole stream

    def build_model(self, opts: Word2VecOptions, prep: Prepared) -> torch.nn.Module:
        return build("word2vec", dict(vocab_size=prep.state["vocab_size"], n_embd=opts.n_embd, mode=opts.mode))

    def objective(self, opts: Word2VecOptions, prep: Prepared) -> Word2VecTask:
        return Word2VecTask()

    def summary(self, opts: Word2VecOptions, result: dict[str, Any], prep: Prepared) -> str:
        what = f"word2vec ({opts.mode}, {prep.info['vocab_size']:,} words, {prep.info['tokens']:,} tokens)"
        return default_summary(opts, result, what=what)

    @torch.no_grad()
    def evaluate(self, run: Run, data: str | None = None, batch_size: int = 64, device: str = "auto",
                 **_) -> dict[str, Any]:
        """Mean negative-sampling loss (and pair accuracy: positive pairs scored above 0) with every known word of
        `data` the center of one pair, noise words from the text's own unigram^0.75 distribution; and the share
        of the text's words that the run's vocabulary covers."""
        if data is None:
            raise TinytxError("a word2vec run has no held-out text; give one with --data")
        opts: Word2VecOptions = run.options
        ids = encode_words(run.tokenizer, load_texts(data, by="line", column=opts.text_col))
        stream = known_words(ids)
        words = len(stream) + int(np.count_nonzero(ids == UNK_ID))
        if len(stream) < 2:
            raise TinytxError(f"{data}: fewer than 2 words of the run's vocabulary; nothing to evaluate")
        pairs = Word2VecBatches(stream, run.tokenizer.vocab_size, opts.mode, opts.window, opts.negatives,
                                batch_size, subsample=0, seed=opts.train.seed)
        dev = next(run.model.parameters()).device
        m = Word2VecTask().evaluate(run.model, ({k: v.to(dev) for k, v in b.items()} for b in pairs.iter_all()))
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
