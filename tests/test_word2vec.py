"""word2vec: co-occurring words end up closer than unrelated ones; the query API; eval; pure batches."""
import json
import math
import random

import numpy as np
import pytest
import torch

from tinytx.cli import main
from tinytx.data.word2vec import Word2VecBatches
from tinytx.engine import TrainConfig
from tinytx.errors import TinytxError
from tinytx.options import Word2VecOptions
from tinytx.recipes import get, train
from tinytx.recipes.word2vec import WordVectors, analogy, nearest
from tinytx.rundir import load_run

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
    result = train("word2vec", out, Word2VecOptions(
        data=str(corpus), mode=request.param, n_embd=16, window=2, min_count=1, subsample=0,
        train=TrainConfig(epochs=5, batch_size=128, optimizer="adam", lr=0.05, schedule="cosine", min_lr=0.0025,
                          restore_best=False, progress=False, device="cpu")))
    assert result["summary"].startswith(f"trained word2vec ({request.param}, 15 words, 2,400 tokens)")
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
    assert nearest(load_run(run, task="word2vec"), "cat", 3) == nearest(run, "cat", 3)  # a loaded Run works too
    with pytest.raises(TinytxError, match="not in the vocabulary"):
        nearest(run, "spaceship")


def test_eval_scores_the_vectors_on_a_text(run, corpus, tmp_path, capsys):
    recipe, trained = get("word2vec"), load_run(run)
    m = recipe.evaluate(trained, data=str(corpus), batch_size=256)
    assert m["coverage"] == 1.0 and m["tokens"] == 2400
    # untrained (zero output vectors) every pair scores 0: (1 + negatives) log 2
    assert m["loss"] < 0.7 * (1 + trained.options.negatives) * math.log(2) and 0 <= m["pair_accuracy"] <= 1
    assert m == recipe.evaluate(trained, data=str(corpus), batch_size=256)  # repeatable
    other = tmp_path / "other.txt"
    other.write_text("cat dog zeppelin\nbus blimp\n")
    assert main(["eval", str(run), "--data", str(other), "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["coverage"] == pytest.approx(3 / 5) and out["tokens"] == 3 and math.isfinite(out["loss"])
    with pytest.raises(TinytxError, match="--data"):
        recipe.evaluate(trained)


def test_similar_and_analogy_commands(run, capsys):
    assert main(["similar", str(run), "cat", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["analogy", str(run), "cat", "dog", "car", "-k", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["similar", str(run), "zeppelin"]) == 2
    assert "not in the vocabulary" in capsys.readouterr().err


def test_batches_are_a_pure_function_of_the_step():
    stream = np.random.default_rng(0).integers(5, 50, 1000)
    for mode in ("skipgram", "cbow"):
        b = Word2VecBatches(stream, 50, mode, window=3, negatives=4, batch_size=32, subsample=1e-2, seed=1)
        c = Word2VecBatches(stream, 50, mode, window=3, negatives=4, batch_size=32, subsample=1e-2, seed=1)
        x, y = b.get(7), c.get(7)
        assert all(torch.equal(x[k], y[k]) for k in x)
        assert x["negatives"].shape == (32, 4)
        assert x["context"].shape == ((32,) if mode == "skipgram" else (32, 6))
        centers = torch.cat([batch["center"] for batch in b.iter_all()])
        assert torch.equal(centers, torch.from_numpy(stream))  # the evaluation pass: every position once


def test_word2vec_rejects_a_missing_file(tmp_path):
    with pytest.raises(TinytxError):
        train("word2vec", tmp_path / "r", Word2VecOptions(data=str(tmp_path / "nope.txt")))
    assert not (tmp_path / "r").exists()  # a failed start leaves nothing behind
