"""word2vec: co-occurring words end up closer than unrelated ones; the query API; pure batches."""
import random

import numpy as np
import pytest
import torch

from tinytx.embeddings import WordVectors, Word2VecBatches, Word2VecOptions, analogy, nearest, train_word2vec
from tinytx.errors import TinytxError

ANIMALS = "cat dog mouse horse cow".split()
VEHICLES = "car truck bus train plane".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(0)
    lines = [" ".join(rng.choice(ANIMALS if i % 2 else VEHICLES) for _ in range(8)) for i in range(300)]
    path = tmp_path_factory.mktemp("w2v") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module", params=["skipgram", "cbow"])
def run(request, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / request.param
    train_word2vec(Word2VecOptions(data=str(corpus), out=str(out), mode=request.param, n_embd=16, window=2,
                                   min_count=1, batch_size=128, epochs=5, lr=0.05, subsample=0, progress=False,
                                   device="cpu"))
    return out


def test_cooccurring_words_are_closer_than_random_ones(run):
    wv = WordVectors.load(run)
    within = np.mean([wv.similarity(a, b) for a in ANIMALS for b in ANIMALS if a != b])
    across = np.mean([wv.similarity(a, b) for a in ANIMALS for b in VEHICLES])
    assert within > across
    assert {w for w, _ in nearest(run, "cat", 3)} <= set(ANIMALS)


def test_analogy_and_nearest_api_shape(run):
    out = analogy(run, "cat", "dog", "car", k=3)
    assert len(out) == 3 and all(isinstance(w, str) and isinstance(s, float) for w, s in out)
    assert not {"cat", "dog", "car"} & {w for w, _ in out}
    assert len(nearest(run, "CAT", 4)) == 4  # lowercased like the tokenizer
    with pytest.raises(TinytxError, match="not in the vocabulary"):
        nearest(run, "spaceship")


def test_batches_are_a_pure_function_of_the_step():
    stream = np.random.default_rng(0).integers(5, 50, 1000)
    for mode in ("skipgram", "cbow"):
        b = Word2VecBatches(stream, 50, mode, window=3, negatives=4, batch_size=32, subsample=1e-2, seed=1)
        c = Word2VecBatches(stream, 50, mode, window=3, negatives=4, batch_size=32, subsample=1e-2, seed=1)
        x, y = b.get(7), c.get(7)
        assert all(torch.equal(x[k], y[k]) for k in x)
        assert x["negatives"].shape == (32, 4)
        assert x["context"].shape == ((32,) if mode == "skipgram" else (32, 6))


def test_word2vec_rejects_a_missing_file(tmp_path):
    with pytest.raises(TinytxError):
        train_word2vec(Word2VecOptions(data=str(tmp_path / "nope.txt"), out=str(tmp_path / "r"), progress=False))
