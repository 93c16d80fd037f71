"""Text classifiers learn a small separable fixture; transfer learning freezes what it says; errors are one line."""
from pathlib import Path

import pytest
import torch

import tinytx
from tinytx.classify import ClassifyOptions, MLMOptions, evaluate_classify, predict, train_classify, train_mlm
from tinytx.engine import checkpoint as ckpt
from tinytx.errors import TinytxError
from tinytx.io import read_json

FIX = Path(__file__).parent / "fixtures" / "classify"
TRAIN, TEST = str(FIX / "train.csv"), str(FIX / "test.csv")
TINY_TRANSFORMER = dict(d_model=16, n_head=2, n_layer=1, d_ff=32, dropout=0.0, max_len=16)


def opts(out, **kw):
    base = dict(data=TRAIN, out=str(out), min_freq=1, val_fraction=0.0, progress=False, device="cpu", batch_size=16)
    return ClassifyOptions(**{**base, **kw})




@pytest.mark.parametrize("model,kw", [
    ("bow", dict(features="binary", epochs=15)),
    ("bow", dict(features="tfidf", ngrams=2, hidden=16, epochs=15)),
    ("embedding", dict(n_embd=16, bigram_buckets=256, epochs=15, lr=2e-2)),
    ("gru", dict(n_embd=16, hidden_size=16, epochs=10, lr=1e-2)),
    ("transformer", dict(pooling="mean", epochs=10, lr=5e-3, **TINY_TRANSFORMER)),
])
def test_each_classifier_learns_the_fixture(tmp_path, model, kw):
    result = train_classify(opts(tmp_path / "run", model=model, **kw))
    m = evaluate_classify(tmp_path / "run", TEST, device="cpu")
    assert m["accuracy"] >= 0.9, (model, kw, m["accuracy"])
    assert result["params"] > 0 and set(m["precision"]) == {"cooking", "sports", "tech"}
    # eval wrote the confusion matrix for `tinytx plot RUN --confusion`
    cm = read_json(tmp_path / "run" / "confusion_matrix.json")
    assert cm["labels"] == ["cooking", "sports", "tech"] and sum(map(sum, cm["matrix"])) == 60
    # the run rebuilds its inputs exactly: predictions agree with the evaluation
    run = tinytx.load_run(tmp_path / "run")
    (label, p), = run.predict(["the coach saw the referee and the goal"])
    assert label == "sports" and 0.33 < p <= 1.0


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlm") / "run"
    train_mlm(MLMOptions(data=TRAIN, out=str(out), min_freq=1, max_steps=8, batch_size=16, warmup=2, progress=False,
                         device="cpu", d_model=16, n_head=2, n_layer=1, d_ff=32, dropout=0.0, max_len=15))
    return out


def encoder_weights(model):
    return {k: v.clone() for k, v in model.encoder.state_dict().items()}


def test_mlm_masking_is_80_10_10_and_pure():
    from tinytx.classify import MLMBatches
    from tinytx.tokenizers import MASK_ID

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

    from tinytx.classify import MLMBatches
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


@pytest.mark.parametrize("freeze", ["body", "none"])
def test_init_from_mlm_then_freeze(tmp_path, mlm_run, freeze):
    out = tmp_path / "ft"
    result = train_classify(opts(out, model="transformer", init_from=str(mlm_run), freeze=freeze, max_steps=5,
                                 lr=1e-2, pooling="mean"))
    mlm, _ = ckpt.load_model_from_run(mlm_run)
    clf = tinytx.load_run(out).model
    same = all(torch.equal(v, clf.encoder.state_dict()[k]) for k, v in encoder_weights(mlm).items())
    assert same == (freeze == "body")
    if freeze == "body":
        assert result["trainable_params"] == sum(p.numel() for p in clf.head.parameters())


def test_word2vec_vectors_initialise_the_embedding_classifier(tmp_path):
    from tinytx.embeddings import Word2VecOptions, train_word2vec

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(l.split(",")[0] for l in (FIX / "train.csv").read_text().splitlines()[1:]))
    train_word2vec(Word2VecOptions(data=str(corpus), out=str(tmp_path / "w2v"), n_embd=8, min_count=1, max_steps=5,
                                   batch_size=64, progress=False, device="cpu"))
    w2v, _ = ckpt.load_model_from_run(tmp_path / "w2v")
    for buckets in (0, 64):
        out = tmp_path / f"emb{buckets}"
        train_classify(opts(out, model="embedding", n_embd=8, bigram_buckets=buckets, max_steps=5, lr=1e-2,
                            init_embeddings=str(tmp_path / "w2v"), freeze_embeddings=True))
        clf = tinytx.load_run(out).model
        V = w2v.config.vocab_size
        assert torch.equal(clf.emb.weight[1:V], w2v.vectors[1:V])  # frozen word rows (row 0 is padding)
        assert (tmp_path / "w2v" / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(TinytxError, match="no column 'body'"):
        train_classify(opts(tmp_path / "a", text_col="body"))
    with pytest.raises(TinytxError, match="empty 'text'"):
        train_classify(opts(tmp_path / "b", data=str(FIX / "empty_text.csv")))
    with pytest.raises(TinytxError, match="--freeze body needs --init-from"):
        train_classify(opts(tmp_path / "c", model="transformer", freeze="body"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing half-written
    train_classify(opts(tmp_path / "ok", epochs=1))
    with pytest.raises(TinytxError, match="'politics' were not seen in training"):
        evaluate_classify(tmp_path / "ok", str(FIX / "other_labels.csv"), device="cpu")
    with pytest.raises(TinytxError, match="text 1 is empty"):
        predict(tmp_path / "ok", [" "])
    with pytest.raises(TinytxError, match="already holds a run"):
        train_classify(opts(tmp_path / "ok"))
