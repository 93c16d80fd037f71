"""Recurrent LMs and the hand-written GRU cell."""
import pytest
import torch
from torch import nn

from tinytx.models import build
from tinytx.models.rnn import GRUCell, HandGRU


def test_gru_cell_equals_torch():
    torch.manual_seed(0)
    ref = nn.GRUCell(5, 7)
    cell = GRUCell(5, 7)
    cell.load_state_dict(ref.state_dict())
    x, h = torch.randn(3, 5), torch.randn(3, 7)
    torch.testing.assert_close(cell(x, h), ref(x, h))


def test_hand_gru_equals_nn_gru_outputs_and_grads():
    torch.manual_seed(0)
    ref = nn.GRU(4, 6, num_layers=2, batch_first=True).double()
    mine = HandGRU(4, 6, num_layers=2).double()
    mine.load_from_torch(ref)
    x = torch.randn(3, 9, 4, dtype=torch.float64)
    h0 = torch.randn(2, 3, 6, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, h_ref = ref(x1, h0)
    out, h = mine(x2, h0)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(h, h_ref)
    (out_ref.sum() + h_ref.sum()).backward()
    (out.sum() + h.sum()).backward()
    torch.testing.assert_close(x2.grad, x1.grad)
    torch.testing.assert_close(mine.cells[1].weight_hh.grad, ref.weight_hh_l1.grad)


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_recurrent_lm_shapes_and_carried_state(name):
    torch.manual_seed(0)
    m = build(name, {"vocab_size": 11, "n_embd": 8, "hidden_size": 16, "n_layer": 2}).eval()
    x = torch.randint(0, 11, (2, 12))
    full = m(x)
    assert full.shape == (2, 12, 11)
    cache = m.new_cache()
    parts = [m(x[:, :5], cache=cache)] + [m(x[:, t : t + 1], cache=cache) for t in range(5, 12)]
    assert cache.length == 12
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)


def test_hand_cell_gru_lm_matches_torch_gru_lm():
    torch.manual_seed(0)
    cfg = {"vocab_size": 9, "n_embd": 6, "hidden_size": 10}
    a = build("gru", cfg)
    b = build("gru", {**cfg, "hand_cell": True})
    b.emb.load_state_dict(a.emb.state_dict())
    b.head.load_state_dict(a.head.state_dict())
    b.rnn.load_from_torch(a.rnn)
    x = torch.randint(0, 9, (2, 7))
    torch.testing.assert_close(b(x), a(x), atol=1e-6, rtol=1e-5)


def test_weight_tying_rnn():
    m = build("gru", {"vocab_size": 9, "n_embd": 16, "hidden_size": 16, "tie_weights": True})
    assert m.head.weight is m.emb.weight
    with pytest.raises(ValueError, match="n_embd == hidden_size"):
        build("lstm", {"vocab_size": 9, "n_embd": 8, "hidden_size": 16, "tie_weights": True})


@pytest.mark.parametrize("name,cfg", [("bigram", {}), ("mlp_lm", {"block_size": 4, "n_embd": 5, "hidden_size": 20})])
def test_baselines_contract(name, cfg):
    torch.manual_seed(0)
    m = build(name, {"vocab_size": 13, **cfg}).eval()
    x = torch.randint(0, 13, (3, 10))
    full = m(x)
    assert full.shape == (3, 10, 13)
    cache = m.new_cache()
    if cache is not None:
        parts = [m(x[:, :3], cache=cache)] + [m(x[:, t : t + 1], cache=cache) for t in range(3, 10)]
        torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-6, rtol=1e-5)


def test_mlp_lm_looks_back_block_size_tokens():
    torch.manual_seed(0)
    m = build("mlp_lm", {"vocab_size": 13, "block_size": 3}).eval()
    x = torch.randint(0, 13, (1, 8))
    y = x.clone()
    y[0, 2] = (x[0, 2] + 1) % 13
    a, b = m(x), m(y)
    torch.testing.assert_close(a[0, 5:], b[0, 5:])  # position 5 sees tokens 3..5 only
    assert not torch.allclose(a[0, 2:5], b[0, 2:5])
