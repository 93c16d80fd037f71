"""Text classifiers learn a small separable fixture; transfer learning freezes what it says (also when the model is
rebuilt from its config); errors are one line."""
from pathlib import Path

import pytest
import torch

import tinytx
from tinytx.data.mlm import MLMBatches
from tinytx.errors import TinytxError
from tinytx.io import read_json
from tinytx.predict import predict
from tinytx.recipes import get, train
from tinytx.rundir import load_model

FIX = Path(__file__).parent / "fixtures" / "classify"
TRAIN, TEST = str(FIX / "train.csv"), str(FIX / "test.csv")
TINY_ENCODER = {"n_embd": 16, "n_head": 2, "n_layer": 1, "d_ff": 32, "dropout": 0.0, "max_len": 15}
CPU = {"train.progress": False, "train.device": "cpu"}


def classify(out, **kw):
    """Train a classifier on the fixture; keyword names are option names, "train.x" the training settings."""
    given = {"data": TRAIN, "min_count": 1, "val_fraction": 0.0, "train.batch_size": 16, **CPU, **kw}
    return train("classify", out, given=given)


def evaluate(run_dir, data=TEST):
    return get("classify").evaluate(tinytx.load_run(run_dir), data=data)


@pytest.mark.parametrize("model,kw", [
    ("bow", {"features": "binary", "train.epochs": 15}),
    ("bow", {"features": "tfidf", "ngrams": 2, "hidden": 16, "train.epochs": 15}),
    ("embedding", {"n_embd": 16, "bigram_buckets": 256, "train.epochs": 15, "train.lr": 2e-2}),
    ("gru", {"n_embd": 16, "hidden_size": 16, "train.epochs": 10, "train.lr": 1e-2}),
    ("transformer", {"pooling": "mean", "train.epochs": 10, "train.lr": 5e-3, **TINY_ENCODER, "max_len": 16}),
])
def test_each_classifier_learns_the_fixture(tmp_path, model, kw):
    result = classify(tmp_path / "run", model=model, **kw)
    m = evaluate(tmp_path / "run")
    assert m["accuracy"] >= 0.9, (model, kw, m["accuracy"])
    assert result["params"] > 0 and set(m["precision"]) == {"cooking", "sports", "tech"}
    assert m["examples"] == 60 and "true \\ predicted" in m["report"] and "precision" in m["report"]
    # eval wrote the confusion matrix for `tinytx plot RUN --confusion`
    cm = read_json(tmp_path / "run" / "confusion_matrix.json")
    assert cm["labels"] == ["cooking", "sports", "tech"] and sum(map(sum, cm["matrix"])) == 60
    # the run rebuilds its inputs exactly: predictions agree with the evaluation
    run = tinytx.load_run(tmp_path / "run")
    assert run.info["labels"] == ["cooking", "sports", "tech"]
    assert (tmp_path / "run" / ("features.json" if model == "bow" else "tokenizer.json")).exists()
    (label, p), = run.predict(["the coach saw the referee and the goal"])
    assert label == "sports" and 0.33 < p <= 1.0
    top = run.predict(["the coach saw the referee and the goal"], top_k=3)[0]
    assert [lab for lab, _ in top][0] == "sports" and abs(sum(q for _, q in top) - 1) < 1e-5


def test_presets_fill_in_per_model_defaults(tmp_path):
    """--model transformer without --n-embd / --lr gets the transformer's defaults (128 wide, 2 layers, lr 5e-4)."""
    classify(tmp_path / "run", model="transformer", **{"train.max_steps": 1, "max_len": 8})
    run = tinytx.load_run(tmp_path / "run")
    assert run.model.config.d_model == 128 and run.model.config.n_layer == 2
    assert run.options.train.lr == 5e-4 and run.options.train.batch_size == 16
    # a budget the user gives is taken as it is: no epochs, warm-up or early stopping are added to it
    t = run.options.train
    assert (t.max_steps, t.epochs, t.warmup_steps, t.patience) == (1, None, 0, None)
    assert run.options.pooling == "mean" and run.model.config.pooling == "mean"  # the from-scratch default


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlm") / "run"
    result = train("mlm", out, given={"data": TRAIN, "min_count": 1, "train.max_steps": 8, "train.batch_size": 16,
                                      "train.warmup_steps": 2, **TINY_ENCODER, **CPU})
    assert result["summary"].startswith("trained masked LM to step 8")
    return out


def encoder_weights(model):
    return {k: v.clone() for k, v in model.encoder.state_dict().items()}


def test_mlm_sizes_evaluation_from_max_steps_and_evaluates(mlm_run, tmp_path):
    run = tinytx.load_run(mlm_run)
    assert run.options.train.eval_interval == 8 // 5  # no --eval-interval: five evaluations over --max-steps
    m = get("mlm").evaluate(run, data=TRAIN)
    assert m["perplexity"] > 1 and m["examples"] == 150
    assert m == get("mlm").evaluate(run, data=TRAIN)  # the masking is seeded: the same numbers every time
    # --warmup-steps longer than the run is cut to it, as before
    train("mlm", tmp_path / "short", given={"data": TRAIN, "min_count": 1, "train.max_steps": 3, **TINY_ENCODER, **CPU})
    assert tinytx.load_run(tmp_path / "short").options.train.warmup_steps == 2
    with pytest.raises(TinytxError, match="--data is required"):
        get("mlm").evaluate(run)


def test_mlm_masking_is_80_10_10_and_pure():
    from tinytx.specials import MASK_ID

    rows = [[2] + list(range(5, 400))] * 64
    b = MLMBatches(rows, 400, batch_size=64, shuffle=True, seed=0)
    x, y = b.get(3), b.get(3)
    assert torch.equal(x["input_ids"], y["input_ids"]) and torch.equal(x["labels"], y["labels"])
    chosen = x["labels"] != -100
    assert abs(chosen.float().mean().item() - 0.15 * 395 / 396) < 0.01
    assert not chosen[:, 0].any()  # never the [CLS]
    masked = (x["input_ids"] == MASK_ID)[chosen].float().mean().item()
    kept = (x["input_ids"] == x["labels"])[chosen].float().mean().item()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02 + 0.01  # a random word can equal the original


def test_mlm_loss_on_masked_positions_equals_full_logits_loss():
    """The task asks the model for the masked positions only; same loss and gradients as all-position logits."""
    import torch.nn.functional as F

    from tinytx.engine import MaskedLM
    from tinytx.models import build

    torch.manual_seed(0)
    model = build("masked_lm", dict(vocab_size=50, d_model=16, n_head=2, n_layer=1, d_ff=32, dropout=0.0, max_len=32))
    rows = [[2] + torch.randint(5, 50, (n,)).tolist() for n in (5, 12, 20, 30)]
    batch = MLMBatches(rows, 50, batch_size=4, shuffle=False, seed=1).get(0)
    loss, _ = MaskedLM().loss(model, batch)
    grad = torch.autograd.grad(loss, model.encoder.tok_emb.weight)[0]
    full = model(batch["input_ids"])
    assert full.shape == (4, 31, 50)
    ref = F.cross_entropy(full.reshape(-1, 50), batch["labels"].reshape(-1), ignore_index=-100)
    ref_grad = torch.autograd.grad(ref, model.encoder.tok_emb.weight)[0]
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(grad, ref_grad)


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("freeze", ["body", "none"])
def test_init_from_mlm_then_freeze(tmp_path, mlm_run, freeze):
    out = tmp_path / "ft"
    classify(out, model="transformer", init_from=str(mlm_run), freeze=freeze, pooling="mean",
             **{"train.max_steps": 5, "train.lr": 1e-2})
    mlm = load_model(mlm_run)
    clf = tinytx.load_run(out).model  # rebuilt from config.json: frozen the same way
    same = all(torch.equal(v, clf.encoder.state_dict()[k]) for k, v in encoder_weights(mlm).items())
    assert same == (freeze == "body")
    assert clf.config.d_model == 16  # the pretrained encoder's shape, not the transformer preset's 128
    assert (trainable(clf) == sum(p.numel() for p in clf.head.parameters())) == (freeze == "body")
    assert (mlm_run / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()


def test_word2vec_vectors_initialise_the_embedding_classifiers(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(l.split(",")[0] for l in (FIX / "train.csv").read_text().splitlines()[1:]))
    train("word2vec", tmp_path / "w2v", given={"data": str(corpus), "n_embd": 8, "min_count": 1,
                                               "train.max_steps": 5, "train.batch_size": 64, **CPU})
    w2v = load_model(tmp_path / "w2v")
    V = w2v.config.vocab_size
    for model, buckets in (("embedding", 0), ("embedding", 64), ("gru", 0)):
        out = tmp_path / f"{model}{buckets}"
        classify(out, model=model, n_embd=8, bigram_buckets=buckets, init_embeddings=str(tmp_path / "w2v"),
                 freeze_embeddings=True, **{"train.max_steps": 5, "train.lr": 1e-2})
        clf = tinytx.load_run(out).model
        assert torch.equal(clf.emb.weight[1:V], w2v.vectors[1:V])  # frozen word rows (row 0 is padding)
        assert (tmp_path / "w2v" / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()
        assert clf.config.freeze_embeddings
    with pytest.raises(TinytxError, match="8-dim vectors; use --n-embd 8"):
        classify(tmp_path / "bad", model="embedding", n_embd=16, init_embeddings=str(tmp_path / "w2v"))
    with pytest.raises(TinytxError, match="not a word2vec run"):
        classify(tmp_path / "bad", model="embedding", init_embeddings=str(tmp_path / "gru0"))


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(TinytxError, match="no column 'body'"):
        classify(tmp_path / "a", text_col="body")
    with pytest.raises(TinytxError, match="empty 'text'"):
        classify(tmp_path / "b", data=str(FIX / "empty_text.csv"))
    with pytest.raises(TinytxError, match="--freeze body needs --init-from"):
        classify(tmp_path / "c", model="transformer", freeze="body")
    with pytest.raises(TinytxError, match="--init-from .* needs --model transformer"):
        classify(tmp_path / "d", model="gru", init_from=str(tmp_path))
    assert not any((tmp_path / n).exists() for n in "abcd")  # nothing half-written
    classify(tmp_path / "ok", **{"train.epochs": 1})
    with pytest.raises(TinytxError, match="'politics' were not seen in training"):
        evaluate(tmp_path / "ok", str(FIX / "other_labels.csv"))
    with pytest.raises(TinytxError, match="--data is required"):
        get("classify").evaluate(tinytx.load_run(tmp_path / "ok"))
    with pytest.raises(TinytxError, match="text 1 is empty"):
        predict(tinytx.load_run(tmp_path / "ok"), [" "])
    with pytest.raises(TinytxError, match="already holds a run"):
        classify(tmp_path / "ok")
