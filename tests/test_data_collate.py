import pytest
import torch

from tinytx.data.collate import (
    SequenceBatches, classification_batches, collate_classification, collate_seq2seq, pad, seq2seq_batches,
)
from tinytx.errors import TinytxError
from tinytx.tokenizers import BOS_ID, EOS_ID, PAD_ID, train_tokenizer

TEXTS = [" ".join(["w"] * n) for n in (3, 1, 7, 2, 5, 4, 6, 2, 8)]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer("word", ["w x y z"])


def test_pad_and_mask():
    ids, mask = pad([[5, 6, 7], [8]], max_length=2)
    assert ids.tolist() == [[5, 6], [8, PAD_ID]] and mask.tolist() == [[True, True], [True, False]]
    assert ids.dtype == torch.long and mask.dtype == torch.bool


def test_classification_collate():
    b = collate_classification([([5, 6], 1), ([7], 0)])
    assert b["ids"].tolist() == [[5, 6], [7, 0]] and b["y"].tolist() == [1, 0]
    assert b["mask"].tolist() == [[True, True], [True, False]]


def test_seq2seq_teacher_forcing():
    b = collate_seq2seq([([5, 6], [7, 8, 9]), ([10], [11])], masks=True)
    assert b["tgt_in"].tolist() == [[BOS_ID, 7, 8, 9], [BOS_ID, 11, 0, 0]]
    assert b["tgt_out"].tolist() == [[7, 8, 9, EOS_ID], [11, EOS_ID, 0, 0]]
    assert b["src"].tolist() == [[5, 6], [10, 0]] and b["src_mask"].sum() == 3
    assert (b["tgt_mask"] == (b["tgt_out"] != PAD_ID)).all()


@pytest.mark.parametrize("bucket", [0, 2])
def test_batches_pure_epochs_and_ddp(tok, bucket):
    labels = [i % 2 for i in range(len(TEXTS))]
    src = classification_batches(tok, TEXTS, labels, batch_size=2, seed=3, bucket=bucket)
    again = classification_batches(tok, TEXTS, labels, batch_size=2, seed=3, bucket=bucket)
    assert src.steps_per_epoch == 5
    for step in (0, 4, 7, 2):  # any order: a pure function of the step
        a, b = src.get(step), again.get(step)
        assert all(torch.equal(a[k], b[k]) for k in a)
    # every example exactly once per epoch (lengths identify them: all texts have distinct (length, label))
    seen = sorted(int(m.sum()) for s in range(5) for m in src.get(s)["mask"])
    assert seen == sorted(len(t.split()) for t in TEXTS)
    full = src.get(1)
    halves = [src.get(1, rank=r, world=2) for r in range(2)]
    assert torch.equal(torch.cat([h["ids"] for h in halves]), full["ids"])


def test_bucketing_reduces_padding(tok):
    texts = [" ".join(["w"] * (1 + (i * 7) % 40)) for i in range(200)]
    labels = [0] * 200

    def padding(src):
        return sum(int((~src.get(s)["mask"]).sum()) for s in range(src.steps_per_epoch))

    plain = classification_batches(tok, texts, labels, batch_size=8, seed=0)
    bucketed = classification_batches(tok, texts, labels, batch_size=8, seed=0, bucket=10)
    assert padding(bucketed) < padding(plain) / 3


def test_eval_sees_everything_once(tok):
    src = classification_batches(tok, TEXTS, [0] * len(TEXTS), batch_size=4, max_length=5)
    batches = list(src.iter_eval())
    assert sum(len(b["y"]) for b in batches) == len(TEXTS)
    assert max(b["ids"].shape[1] for b in batches) == 5  # max_length cut
    assert len(list(src.iter_eval(max_batches=1))) == 1


def test_seq2seq_batches(tok):
    pairs = [("w x", "y z w"), ("x", "y"), ("w w w", "z")]
    src = seq2seq_batches(tok, tok, pairs, batch_size=3, shuffle=False, max_tgt=3)
    b = src.get(0)
    assert b["tgt_in"].shape == b["tgt_out"].shape and b["tgt_in"].shape[1] <= 3
    assert (b["tgt_in"][:, 0] == BOS_ID).all()


def test_errors():
    with pytest.raises(TinytxError, match="no examples"):
        SequenceBatches([], collate_classification)
    with pytest.raises(TinytxError, match="labels"):
        classification_batches(None, ["a"], [0, 1])
