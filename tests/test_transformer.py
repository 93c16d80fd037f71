"""The from-scratch transformer parts: attention paths agree, masks hold, positions, blocks, cache."""
import math

import pytest
import torch

from tinytx.models.transformer import (
    DecoderBlock, EncoderBlock, KVCache, LearnedPositions, MultiHeadAttention, SinusoidalPositions,
    TransformerDecoder, TransformerEncoder, attention, causal_mask,
)


def _qkv(b=2, h=3, t=5, s=5, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    mk = lambda n: torch.randn(b, h, n, d, generator=g, dtype=torch.float64, requires_grad=True)
    return mk(t), mk(s), mk(s)


def _both(mask=None, is_causal=False, t=5, s=5):
    outs, grads = [], []
    for fast in (False, True):
        q, k, v = _qkv(t=t, s=s)
        y = attention(q, k, v, mask=mask, is_causal=is_causal, fast=fast)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        outs.append(y.detach())
        grads.append([q.grad, k.grad, v.grad])
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    return outs[0]


def test_explicit_attention_is_the_formula():
    q, k, v = _qkv()
    want = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), -1) @ v
    torch.testing.assert_close(attention(q, k, v, fast=False), want)


def test_fast_equals_explicit_no_mask():
    _both()


def test_fast_equals_explicit_causal():
    _both(is_causal=True)


def test_fast_equals_explicit_padding_mask():
    pad = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]
    _both(mask=pad)


def test_fast_equals_explicit_causal_and_padding():
    pad = torch.tensor([[True] * 5, [True, True, True, True, False]])[:, None, None, :]
    _both(mask=pad, is_causal=True)


def test_fast_equals_explicit_cache_shape_causal():
    # 2 new queries against 5 keys: the causal triangle is aligned to the last queries
    _both(is_causal=True, t=2, s=5)


def test_causal_mask_bottom_right():
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_causal_attention_ignores_the_future():
    q, k, v = _qkv()
    y1 = attention(q, k, v, is_causal=True)
    k2, v2 = k.detach().clone(), v.detach().clone()
    k2[:, :, 3:] += 5.0
    v2[:, :, 3:] -= 3.0
    y2 = attention(q, k2, v2, is_causal=True)
    torch.testing.assert_close(y1[:, :, :3], y2[:, :, :3])
    assert not torch.allclose(y1[:, :, 3:], y2[:, :, 3:])


def test_padding_mask_ignores_padded_keys():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).eval()
    x = torch.randn(1, 6, 16)
    pad = torch.tensor([[True] * 4 + [False] * 2])
    y = mha(x, mask=pad)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(1, 2, 16)
    torch.testing.assert_close(mha(x2, mask=pad)[:, :4], y[:, :4])
    # and equals attention over the real tokens only
    torch.testing.assert_close(mha(x[:, :4]), y[:, :4])


@pytest.mark.parametrize("fast", [True, False])
def test_mha_module_fast_equals_explicit(fast):
    torch.manual_seed(0)
    a = MultiHeadAttention(16, 4, fast=True).double()
    b = MultiHeadAttention(16, 4, fast=False).double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    ctx = torch.randn(2, 3, 16, dtype=torch.float64)
    m = torch.tensor([[True, True, True], [True, False, False]])
    torch.testing.assert_close(a(x, is_causal=True), b(x, is_causal=True))
    torch.testing.assert_close(a(x, context=ctx, mask=m), b(x, context=ctx, mask=m))


def test_cross_attention_shape_and_mask():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2).eval()
    x, mem = torch.randn(2, 5, 16), torch.randn(2, 3, 16)
    m = torch.tensor([[True, True, True], [True, True, False]])
    y = mha(x, context=mem, mask=m)
    assert y.shape == (2, 5, 16)
    mem2 = mem.clone()
    mem2[1, 2] += 10
    torch.testing.assert_close(mha(x, context=mem2, mask=m)[1], y[1])


def test_kv_cache_matches_full_pass():
    torch.manual_seed(0)
    dec = TransformerDecoder(30, 32, 4, 2, max_len=64, dropout=0.0).eval()
    ids = torch.randint(0, 30, (2, 40))
    full = dec(ids)
    cache = KVCache(2)
    parts = [dec(ids[:, :17], cache=cache)]
    for t in range(17, 40):
        parts.append(dec(ids[:, t : t + 1], cache=cache))
    assert cache.length == 40
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)


def test_kv_cache_with_cross_attention():
    torch.manual_seed(0)
    dec = TransformerDecoder(30, 32, 4, 2, max_len=64, cross_attention=True).eval()
    mem, mm = torch.randn(2, 6, 32), torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    ids = torch.randint(0, 30, (2, 9))
    full = dec(ids, memory=mem, memory_mask=mm)
    cache = dec.new_cache()
    steps = [dec(ids[:, t : t + 1], memory=mem, memory_mask=mm, cache=cache) for t in range(9)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_sinusoidal_positions():
    pe = SinusoidalPositions(50, 16)
    p = pe(10)
    assert p.shape == (10, 16)
    assert torch.allclose(p[0, 0::2], torch.zeros(8)) and torch.allclose(p[0, 1::2], torch.ones(8))
    torch.testing.assert_close(pe(3, offset=4), p[4:7])
    assert math.isclose(float(p[3, 0]), math.sin(3.0), rel_tol=1e-6)
    assert not list(pe.parameters()) and "pe" not in pe.state_dict()


def test_learned_positions_and_overflow():
    lp = LearnedPositions(8, 4)
    torch.testing.assert_close(lp(2, offset=3), lp.emb.weight[3:5])
    with pytest.raises(ValueError, match="context of 8"):
        lp(5, offset=4)


def test_encoder_block_padding_and_grads():
    torch.manual_seed(0)
    blk = EncoderBlock(16, 4, 32, dropout=0.0)
    x = torch.randn(2, 5, 16, requires_grad=True)
    pad = torch.tensor([[True] * 5, [True, True, True, False, False]])
    y = blk(x, pad)
    y[1, :3].sum().backward()
    assert x.grad[1, 3:].abs().max() == 0  # padded tokens do not influence real ones
    assert x.grad[1, :3].abs().max() > 0


def test_decoder_block_is_causal():
    torch.manual_seed(0)
    blk = DecoderBlock(16, 4, 32)
    x = torch.randn(1, 6, 16, requires_grad=True)
    blk(x)[0, 2].sum().backward()
    assert x.grad[0, 3:].abs().max() == 0 and x.grad[0, :3].abs().max() > 0


def test_encoder_uses_pad_id_by_default():
    torch.manual_seed(0)
    enc = TransformerEncoder(20, 16, 2, 2, max_len=10, positions="sinusoidal").eval()
    ids = torch.tensor([[5, 6, 7, 0, 0]])
    ids2 = torch.tensor([[5, 6, 7, 0, 0, 0, 0]])
    torch.testing.assert_close(enc(ids)[:, :3], enc(ids2)[:, :3], atol=1e-6, rtol=1e-5)
    assert enc.tok_emb.num_embeddings == 20


def test_dropout_active_only_in_training():
    torch.manual_seed(0)
    dec = TransformerDecoder(20, 16, 2, 1, max_len=10, dropout=0.5)
    ids = torch.randint(0, 20, (2, 6))
    dec.eval()
    torch.testing.assert_close(dec(ids), dec(ids))
    dec.train()
    assert not torch.allclose(dec(ids), dec(ids))


def test_no_torch_transformer_modules():
    import importlib
    import inspect

    for name in ("attention", "blocks", "encoder", "decoder", "positional"):
        src = inspect.getsource(importlib.import_module(f"tinytx.models.transformer.{name}"))
        assert "nn.Transformer" not in src and "nn.MultiheadAttention" not in src


@pytest.mark.gpu
def test_gpu_fast_attention_and_bf16_training_step():
    from tinytx.engine import TrainConfig, Trainer
    from tinytx.engine.tasks import LanguageModeling
    from tinytx.models import build

    q, k, v = (t.detach().float().cuda() for t in _qkv(t=64, s=64, d=32))
    torch.testing.assert_close(attention(q, k, v, is_causal=True, fast=True),
                               attention(q, k, v, is_causal=True, fast=False), atol=2e-3, rtol=2e-3)
    model = build("gpt", {"vocab_size": 32, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 64})
    x = torch.randint(0, 32, (64, 32))
    cfg = TrainConfig(max_steps=5, batch_size=16, device="cuda", dtype="bf16", progress=False)
    result = Trainer(model, LanguageModeling(), {"idx": x, "targets": x}, None, cfg).fit()
    assert result["step"] == 5


def test_cpu_bf16_attention_is_close_to_fp32_and_trains():
    # on CPU, bf16 attention takes the explicit matmul path (torch's fused kernel is slow in bf16 there)
    q, k, v = (t.detach().float() for t in _qkv(t=16, s=16, d=16))
    want = attention(q, k, v, is_causal=True)
    got = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), is_causal=True)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, atol=3e-2, rtol=3e-2)

    from tinytx.engine import TrainConfig, Trainer
    from tinytx.engine.tasks import LanguageModeling
    from tinytx.models import build

    torch.manual_seed(0)
    x = torch.arange(16).repeat(32, 2)[:, :17] % 8  # a counting pattern: learnable to near 0 loss
    data = {"idx": x[:, :-1], "targets": x[:, 1:]}
    losses = {}
    for dtype in ("fp32", "bf16"):
        model = build("gpt", {"vocab_size": 8, "block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 32})
        cfg = TrainConfig(max_steps=60, batch_size=16, lr=3e-3, device="cpu", dtype=dtype, progress=False)
        trainer = Trainer(model, LanguageModeling(), data, None, cfg)
        trainer.fit()
        losses[dtype] = trainer.history[-1]["loss"]
    assert losses["bf16"] < 0.5 and abs(losses["bf16"] - losses["fp32"]) < 0.2, losses


def test_cpu_dropout_drops_p_and_keeps_the_expectation():
    from tinytx.models.dropout import Dropout, dropout

    x = torch.ones(200_000, requires_grad=True)
    torch.manual_seed(0)
    y = dropout(x, 0.2)
    frac = (y == 0).float().mean().item()
    assert abs(frac - 0.2) < 0.005 and abs(y.mean().item() - 1.0) < 0.01
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # gradient flows exactly through the kept elements
    torch.manual_seed(0)
    assert torch.equal(dropout(x, 0.2), y)  # the global generator: seeded runs repeat
    odd = torch.ones(3, 5, 7)  # a size that is not a multiple of 4
    assert dropout(odd, 0.5).shape == odd.shape
    layer = Dropout(0.3).eval()
    assert layer(odd) is odd and dropout(odd, 0.0) is odd
    assert (dropout(odd, 1.0) == 0).all()
