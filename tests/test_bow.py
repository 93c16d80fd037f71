"""Bag-of-words features (binary / count / tf-idf, n-grams) and the sparse EmbeddingBag layer = dense x @ W."""
import math

import pytest
import torch

from tinytx.errors import TinytxError
from tinytx.features import BowFeaturizer, bow_batches, pad_rows
from tinytx.models.bow import BowClassifier, BowConfig

DOCS = ["x y x", "Y z"]


def weights(f, text):
    ids, w = f.transform_one(text)
    return {f.vocab[i]: float(v) for i, v in zip(ids, w)}


def test_vocab_by_document_frequency_with_padding_first():
    f = BowFeaturizer(mode="binary").fit(DOCS)
    assert f.vocab == ["[PAD]", "y", "x", "z"]  # y is in both docs; ties alphabetical; lowercased


def test_binary_and_count_values():
    assert weights(BowFeaturizer(mode="binary").fit(DOCS), "x y x q") == {"x": 1.0, "y": 1.0}  # q unknown
    assert weights(BowFeaturizer(mode="count").fit(DOCS), "x y x q") == {"x": 2.0, "y": 1.0}


def test_tfidf_is_smoothed_idf_times_count_l2_normalised():
    f = BowFeaturizer(mode="tfidf").fit(DOCS)
    idf_y, idf_x = math.log(3 / 3) + 1, math.log(3 / 2) + 1
    raw = {"x": 2 * idf_x, "y": 1 * idf_y}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    got = weights(f, "x y x")
    assert got == pytest.approx({k: v / norm for k, v in raw.items()}, rel=1e-6)


def test_bigrams_and_stop_words():
    f = BowFeaturizer(mode="count", ngrams=2).fit(["the cat sat", "the cat ran"])
    assert {"the cat", "cat sat", "cat ran"} <= set(f.vocab)
    g = BowFeaturizer(mode="count", ngrams=2, stop_words=True).fit(["the cat sat", "the cat ran"])
    assert "the" not in g.vocab and "cat sat" in g.vocab
    assert BowFeaturizer(vocab_size=3).fit(["a b c d", "a b"]).vocab == ["[PAD]", "a", "b"]


def test_save_load_round_trip_gives_same_features():
    f = BowFeaturizer(mode="tfidf", ngrams=2).fit(["red apple pie", "green apple", "red car"])
    g = BowFeaturizer.from_dict(f.to_dict())
    assert torch.equal(f.dense(["red apple", "car pie"]), g.dense(["red apple", "car pie"]))


def test_bad_options_are_clear_errors():
    with pytest.raises(TinytxError, match="features must be one of"):
        BowFeaturizer(mode="word2vec")
    with pytest.raises(TinytxError, match="ngrams"):
        BowFeaturizer(ngrams=3)
    with pytest.raises(TinytxError, match="no words"):
        BowFeaturizer().fit(["", "  "])


def test_sparse_layer_equals_dense_logistic_regression():
    texts = ["red apple pie", "green apple", "red car fast", "a slow green car", "pie"]
    f = BowFeaturizer(mode="tfidf", ngrams=2).fit(texts)
    torch.manual_seed(0)
    model = BowClassifier(BowConfig(num_features=f.num_features, num_classes=3))
    with torch.no_grad():
        model.bias.normal_()
    ids, w = pad_rows(f.transform(texts))
    sparse = model(ids, w)
    x = f.dense(texts)
    dense = x @ model.linear.weight + model.bias  # the same parameters as a dense (features x classes) layer
    assert torch.allclose(sparse, dense, atol=1e-6)
    # and the gradients agree too (the sparse path is the same function, not an approximation)
    y = torch.tensor([0, 1, 2, 1, 0])
    g_sparse = torch.autograd.grad(torch.nn.functional.cross_entropy(model(ids, w), y), model.linear.weight)[0]
    W = model.linear.weight.detach().clone().requires_grad_(True)
    g_dense = torch.autograd.grad(torch.nn.functional.cross_entropy(x @ W + model.bias, y), W)[0]
    assert torch.allclose(g_sparse, g_dense, atol=1e-6)


def test_batches_are_padded_sparse_rows():
    f = BowFeaturizer(mode="binary").fit(["a b c", "a"])
    b = bow_batches(f.transform(["a b c", "a"]), [1, 0], batch_size=2, shuffle=False).get(0)
    assert b["feat_ids"].shape == b["feat_weights"].shape == (2, 3)
    assert b["feat_weights"].sum().item() == 4.0 and b["y"].tolist() == [1, 0]
