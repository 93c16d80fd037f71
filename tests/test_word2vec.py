"""word2vec: co-occurring words end up closer than unrelated ones (word2vec's own SGD defaults, and Adam); an epoch
is every position with its whole window; batches are a pure function of the step and split over ranks; the fused
scoring's gradients equal plain autograd's; the query API; eval."""
import json
import math
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from tinytx.cli import main
from tinytx.data.word2vec import Word2VecBatches
from tinytx.engine import TrainConfig
from tinytx.engine.optim import lr_at
from tinytx.errors import TinytxError
from tinytx.models.word2vec import Word2Vec, Word2VecConfig
from tinytx.options import Word2VecOptions
from tinytx.recipes import get, train
from tinytx.recipes.word2vec import Word2VecTask, WordVectors, analogy, batch_size_for, nearest
from tinytx.rundir import load_run

ANIMALS = "cat dog mouse horse cow".split()
VEHICLES = "car truck bus train plane".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(0)
    lines = [" ".join(rng.choice(ANIMALS if i % 2 else VEHICLES) for _ in range(8)) for i in range(3000)]
    path = tmp_path_factory.mktemp("w2v") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


RUNS = {  # the recipe's defaults (word2vec's SGD: lr 0.025 per example, linear decay, 5 epochs), CBOW, and Adam
    "skipgram": dict(mode="skipgram"),
    "cbow": dict(mode="cbow"),
    "adam": dict(mode="skipgram", train=TrainConfig(epochs=5, batch_size=4096, optimizer="adam", lr=0.01,
                                                    schedule="cosine", restore_best=False)),
}


@pytest.fixture(scope="module", params=list(RUNS))
def run(request, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / request.param
    opts = Word2VecOptions(data=str(corpus), n_embd=16, min_count=1, **RUNS[request.param])
    opts.train = opts.train.replace(progress=False, device="cpu")
    result = train("word2vec", out, opts)
    mode = RUNS[request.param]["mode"]
    assert result["summary"].startswith(f"trained word2vec ({mode}, 15 words, 24,000 tokens)")
    # an epoch: every kept position with its whole window inside its line; on data this small the batch shrinks
    # to give an epoch 256 steps
    config = json.loads((out / "config.json").read_text())
    per_epoch, batch = config["info"]["examples_per_epoch"], config["train"]["batch_size"]
    keep = math.sqrt(1e-3 * 10) + 1e-3 * 10  # sub-sampling keeps each of the 10 equally common words this often
    if mode == "cbow":  # one example per kept position
        assert abs(per_epoch - 24_000 * keep) < 0.1 * 24_000 * keep
    assert batch <= max(8, per_epoch // 256) and result["step"] == 5 * math.ceil(per_epoch / batch)
    assert batch // config["info"]["share_negatives"] >= 8  # at least 8 groups of noise words a batch
    return out


def test_cooccurring_words_are_closer_than_random_ones(run):
    wv = WordVectors.load(run)
    within = np.mean([wv.similarity(a, b) for a in ANIMALS for b in ANIMALS if a != b])
    across = np.mean([wv.similarity(a, b) for a in ANIMALS for b in VEHICLES])
    assert within > across + 0.2
    for word in ("cat", "bus"):
        group = ANIMALS if word in ANIMALS else VEHICLES
        assert {w for w, _ in nearest(run, word, 3)} <= set(group)


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
    assert m["coverage"] == 1.0 and m["tokens"] == 24_000
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


# --- the batch source ------------------------------------------------------------------------------------------

def epoch_pairs(b: Word2VecBatches, epoch: int) -> list[tuple[int, int]]:
    steps = range(epoch * b.steps_per_epoch, (epoch + 1) * b.steps_per_epoch)
    batches = [b.get(s) for s in steps]
    return list(zip(torch.cat([x["inputs"] for x in batches]).tolist(),
                    torch.cat([x["targets"] for x in batches]).tolist()))


def test_an_epoch_pairs_every_position_with_its_whole_window():
    stream = np.random.default_rng(0).integers(5, 40, 500)
    # window 1: every position with both neighbours, each pair once: 2 (n - 1) pairs
    b = Word2VecBatches(stream, 40, window=1, negatives=3, batch_size=998, subsample=0, seed=3)
    assert b.steps_per_epoch == 1
    expected = sorted([(int(stream[i + 1]), int(stream[i])) for i in range(499)] +
                      [(int(stream[i]), int(stream[i + 1])) for i in range(499)])
    assert sorted(epoch_pairs(b, 0)) == expected
    assert epoch_pairs(b, 0) != epoch_pairs(b, 1)  # each epoch its own order
    # window 4: about n (window + 1) pairs (a random window of 1..4 on each side), all within 4 positions
    b = Word2VecBatches(stream, 40, window=4, negatives=3, batch_size=100, subsample=0, seed=3)
    expected = 2 * (499 + 498 * 3 / 4 + 497 / 2 + 496 / 4)  # offset o is in a window with probability (5 - o) / 4
    assert abs(b.examples_per_epoch - expected) < 100 and b.steps_per_epoch == math.ceil(b.examples_per_epoch / 100)
    near = {(int(stream[i]), int(stream[j])) for i in range(500) for j in range(max(0, i - 4), min(500, i + 5))
            if i != j}
    pairs = epoch_pairs(b, 0)
    assert set(pairs) <= near and len(pairs) == 100 * b.steps_per_epoch  # the last batch wraps to the start
    assert abs(len(b._plan(1)[0]) - expected) < 100  # each epoch draws its own windows
    # windows stay inside their text (line): texts of 3 words give 2 x 2 + 2 x 1 pairs each with window 2
    b = Word2VecBatches(stream[:300], 40, window=2, batch_size=4, subsample=0, seed=3,
                        texts=np.arange(300) // 3)
    pairs = {(int(a), int(t)) for a, t in epoch_pairs(b, 0)}
    inside = {(int(stream[i]), int(stream[j])) for i in range(300) for j in range(300)
              if i != j and i // 3 == j // 3}
    assert pairs <= inside and 100 * 4 * 0.75 < b.examples_per_epoch < 100 * 6
    # sub-sampling drops frequent words: "5" is half the stream, kept far less often than the rest
    skewed = np.where(np.arange(2000) % 2 == 0, 5, np.random.default_rng(1).integers(6, 200, 2000))
    b = Word2VecBatches(skewed, 200, window=2, batch_size=64, subsample=1e-2, seed=0)
    targets = np.concatenate([b.get(s)["targets"].numpy() for s in range(b.steps_per_epoch)])
    assert (targets == 5).mean() < 0.25


def test_batches_are_a_pure_function_of_the_step():
    stream = np.random.default_rng(0).integers(5, 50, 1000)
    for mode in ("skipgram", "cbow"):
        kw = dict(window=3, negatives=4, batch_size=32, subsample=1e-2, seed=1, share=8)
        b, c = Word2VecBatches(stream, 50, mode, **kw), Word2VecBatches(stream, 50, mode, **kw)
        x = b.get(7)
        b.get(3 * b.steps_per_epoch + 1)  # another epoch in between changes nothing
        for y in (b.get(7), c.get(7)):
            assert all(torch.equal(x[k], y[k]) for k in x)
        assert x["negatives"].shape == (4, 4) and x["targets"].shape == (32,)  # 32 examples, 8 share each draw
        assert x["inputs"].shape == ((32,) if mode == "skipgram" else (32, 6))
        assert int(x["negatives"].min()) >= 5 and int(x["targets"].min()) >= 5  # words only, never specials
        # two ranks slice the same global batch: examples and their groups of noise words
        halves = [b.get(7, rank, 2) for rank in (0, 1)]
        assert all(torch.equal(torch.cat([h[k] for h in halves]), x[k]) for k in x)
        targets = torch.cat([batch["targets"] for batch in b.iter_all(100)])
        assert torch.equal(targets, torch.from_numpy(stream))  # the evaluation pass: every position once
    with pytest.raises(TinytxError, match="multiple"):
        Word2VecBatches(stream, 50, batch_size=30, share=8)


# --- the model ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
@pytest.mark.parametrize("share", [1, 4])
@pytest.mark.parametrize("sparse", [True, False])
def test_fused_scores_and_gradients_equal_plain_autograd(mode, share, sparse):
    torch.manual_seed(0)
    V, d, B, K = 30, 8, 12, 3
    model = Word2Vec(Word2VecConfig(V, d, mode, sparse))
    torch.nn.init.normal_(model.out.weight)
    inputs = torch.randint(1, V, (B,) if mode == "skipgram" else (B, 4))
    if mode == "cbow":
        inputs[0, 2:] = 0  # padding
    targets, negatives = torch.randint(1, V, (B,)), torch.randint(1, V, (B // share, K))
    weights = torch.randn(B, 1 + K)
    (model(inputs, targets, negatives) * weights).sum().backward()
    assert model.inp.weight.grad.is_sparse == sparse and model.out.weight.grad.is_sparse == sparse

    inp, out = (w.detach().clone().requires_grad_() for w in (model.inp.weight, model.out.weight))
    if mode == "skipgram":
        h = inp[inputs]
    else:  # the window's mean; word2vec hands every window word the whole gradient of the mean, not 1/n of it
        mask = (inputs != 0).float().unsqueeze(-1)
        total, n = (inp[inputs] * mask).sum(1), mask.sum(1)
        h = total - total.detach() + (total / n).detach()
    noise = negatives.repeat_interleave(share, 0)
    scores = torch.cat([(h * out[targets]).sum(-1, keepdim=True), (out[noise] * h.unsqueeze(1)).sum(-1)], 1)
    (scores * weights).sum().backward()
    assert torch.allclose(model(inputs, targets, negatives), scores, atol=1e-5)
    assert torch.allclose(model.inp.weight.grad.to_dense(), inp.grad, atol=1e-5)
    assert torch.allclose(model.out.weight.grad.to_dense(), out.grad, atol=1e-5)


def test_a_noise_word_equal_to_the_target_is_left_out():
    torch.manual_seed(0)
    model = Word2Vec(Word2VecConfig(20, 4))
    torch.nn.init.normal_(model.out.weight)
    batch = {"inputs": torch.tensor([3, 4]), "targets": torch.tensor([5, 6]), "negatives": torch.tensor([[5, 7], [8, 9]])}
    loss, _ = Word2VecTask().loss(model, batch)
    s, sp = model(**batch), torch.nn.functional.softplus
    kept = sp(-s[0, 0]) + sp(s[0, 2]) + sp(-s[1, 0]) + sp(s[1, 1]) + sp(s[1, 2])  # not s[0, 1]: noise 5 = target 5
    assert torch.allclose(loss, kept / 2)


def test_the_batch_shrinks_for_small_data_and_few_words():
    assert batch_size_for(4096, 16, 3_586_034, 0.00314) == (4096, 16)  # the World English Bible: as asked
    assert batch_size_for(8192, 16, 3_586_034, 0.00314) == (4992, 16)  # its 8192 diverges: 16 / 0.00314, in 128s
    assert batch_size_for(4096, 16, 10**6, 0.1) == (128, 16)  # a 10-word text: each word 1/10 of the targets
    assert batch_size_for(4096, 16, 20_000, 0.001) == (72, 1)  # 256 steps an epoch; too few to share noise in 8s
    assert batch_size_for(4096, 16, 2065, 0.1) == (8, 1)
    assert batch_size_for(32, 16, 10**6, 0.01) == (32, 4)  # at least 8 groups of shared noise words
    for case in [(8192, 16, 3_586_034, 0.00314), (4096, 16, 2065, 0.1), (32, 16, 10**6, 0.01)]:
        b, g = batch_size_for(*case)
        assert batch_size_for(b, case[1], *case[2:]) == (b, g)  # resume sizes it the same


def test_defaults_are_word2vecs_and_the_linear_schedule():
    opts = Word2VecOptions()
    cfg = opts.train
    assert (cfg.epochs, cfg.optimizer, cfg.lr, cfg.schedule, cfg.min_lr, cfg.threads) == (5, "sgd", 0.025, "linear", 1e-4, 1)
    assert (opts.window, opts.negatives, opts.min_count, opts.subsample, opts.n_embd) == (5, 5, 5, 1e-3, 100)
    assert cfg.batch_size % opts.share_negatives == 0
    assert lr_at(0, cfg, 100) == 0.025 and lr_at(100, cfg, 100) == pytest.approx(1e-4)  # straight down
    assert lr_at(50, cfg, 100) == pytest.approx((0.025 + 1e-4) / 2)


def test_word2vec_rejects_bad_options(tmp_path, corpus):
    with pytest.raises(TinytxError):
        train("word2vec", tmp_path / "r", Word2VecOptions(data=str(tmp_path / "nope.txt")))
    assert not (tmp_path / "r").exists()  # a failed start leaves nothing behind
    with pytest.raises(TinytxError, match="--share-negatives must be >= 1"):
        train("word2vec", tmp_path / "r", given={"data": str(corpus), "share_negatives": 0})
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                    reason="torchrun / gloo not available")
def test_two_processes_equal_one_process(corpus, tmp_path):
    """torchrun: each rank takes its half of the examples and of their groups of noise words; DDP reduces the sparse
    gradients; the weights equal one process's with the same global batch."""
    flags = ["--data", str(corpus), "--n-embd", "8", "--min-count", "1", "--batch-size", "32", "--share-negatives",
             "4", "--max-steps", "8", "--seed", "7", "--no-progress", "--device", "cpu", "--threads", "1"]
    assert main(["train", "word2vec", "-o", str(tmp_path / "single"), *flags]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "tinytx", "train", "word2vec", "-o", str(tmp_path / "ddp"), *flags], env=env,
                          capture_output=True, text=True, timeout=180)
    if proc.returncode != 0 and "gloo" in proc.stderr.lower() and "address" in proc.stderr.lower():
        pytest.skip("gloo could not open a local socket here")
    assert proc.returncode == 0, proc.stderr[-3000:]
    single, ddp = load_run(tmp_path / "single").model, load_run(tmp_path / "ddp").model
    for (name, a), b in zip(single.state_dict().items(), ddp.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
