"""The two seq2seq models: they learn a tiny reversal task through the one Trainer, and padding is invisible."""
import pytest
import torch

from tinytx.data.collate import SequenceBatches, collate_seq2seq
from tinytx.engine import TrainConfig, Trainer
from tinytx.engine.tasks import Seq2Seq
from tinytx.models import build, registry
from tinytx.translate import greedy_decode

EOS = 3
TINY = {
    "transformer_seq2seq": dict(src_vocab_size=16, tgt_vocab_size=16, d_model=32, n_head=2, n_enc_layer=2,
                                n_dec_layer=2, max_len=16, dropout=0.0),
    "gru_seq2seq": dict(src_vocab_size=16, tgt_vocab_size=16, emb_dim=16, hidden_size=48, dropout=0.0, max_len=16),
}


def reversal(n, seed):
    """Source: 2-6 symbols from 5..14 (+ EOS); target: the same symbols reversed."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        s = torch.randint(5, 15, (int(torch.randint(2, 7, (1,), generator=g)),), generator=g).tolist()
        out.append((s + [EOS], s[::-1]))
    return out


@pytest.mark.slow  # 5-7 s each on 2 idle cores
@pytest.mark.parametrize("name,steps,lr", [("transformer_seq2seq", 250, 3e-3), ("gru_seq2seq", 150, 1e-2)])
def test_learns_to_reverse(name, steps, lr):
    torch.manual_seed(0)
    model = build(name, TINY[name])
    train, test = reversal(2000, 0), reversal(64, 1)
    cfg = TrainConfig(max_steps=steps, lr=lr, warmup_steps=20, schedule="cosine", min_lr=lr / 10, progress=False,
                      device="cpu")
    Trainer(model, Seq2Seq(pad_id=0), SequenceBatches(train, collate_seq2seq, 32, seed=0), None, cfg).fit()
    model.eval()
    out = greedy_decode(model, collate_seq2seq(test)["src"])
    exact = sum(o == t for o, (_, t) in zip(out, test)) / len(test)
    assert exact >= 0.9, f"{name} reversed only {exact:.0%} of the test sequences exactly"


@pytest.mark.parametrize("name", sorted(TINY))
def test_padding_does_not_change_outputs(name):
    torch.manual_seed(0)
    model = build(name, TINY[name]).eval()
    short_src, short_tgt = torch.tensor([[7, 8, 9, EOS]]), torch.tensor([[2, 9, 8]])
    batch_src = torch.tensor([[7, 8, 9, EOS, 0, 0], [5, 6, 7, 8, 9, EOS]])
    batch_tgt = torch.tensor([[2, 9, 8, 0, 0], [2, 9, 8, 7, 6]])
    alone = model(short_src, short_tgt)
    padded = model(batch_src, batch_tgt)[:1, :3]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-4)


def test_forward_contract_and_registry_round_trip():
    for name, cfg in TINY.items():
        model = build(name, cfg)
        logits = model(torch.tensor([[5, 6, EOS]]), torch.tensor([[2, 6, 5, 7]]))
        assert logits.shape == (1, 4, 16)
        again = registry.build(**registry.describe(model))
        assert type(again) is type(model) and again.config == model.config


def test_shared_vocab_ties_all_embeddings():
    cfg = dict(TINY["transformer_seq2seq"], share_embeddings=True)
    model = build("transformer_seq2seq", cfg)
    assert model.encoder.tok_emb.weight is model.decoder.tok_emb.weight is model.lm_head.weight
    separate = build("transformer_seq2seq", TINY["transformer_seq2seq"])
    assert separate.encoder.tok_emb.weight is not separate.decoder.tok_emb.weight
    with pytest.raises(ValueError, match="one vocabulary"):
        build("transformer_seq2seq", dict(cfg, tgt_vocab_size=20))


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(TINY))
def test_bf16_training_step_and_decoding_on_cuda(name):
    torch.manual_seed(0)
    model = build(name, TINY[name])
    cfg = TrainConfig(max_steps=3, lr=1e-3, progress=False, device="cuda", dtype="bf16")
    Trainer(model, Seq2Seq(pad_id=0), SequenceBatches(reversal(64, 0), collate_seq2seq, 16), None, cfg).fit()
    model.eval()
    src = collate_seq2seq(reversal(4, 1))["src"].cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = greedy_decode(model, src)
    assert len(out) == 4
