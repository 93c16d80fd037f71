"""Generation on tensors: greedy, sampling, seeds, caches, cropping."""
import pytest
import torch

from tinytx.errors import TinytxError
from tinytx.generate import generate, sample_next
from tinytx.models import build

GPT = {"vocab_size": 17, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 16}
GRU = {"vocab_size": 17, "n_embd": 8, "hidden_size": 16, "n_layer": 2}


def _model(name, cfg, seed=0):
    torch.manual_seed(seed)
    m = build(name, cfg).eval()
    # sharpen the random model's predictions so greedy ties are impossible and sampling is not uniform
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    return m


@pytest.mark.parametrize("name,cfg", [("gpt", GPT), ("gru", GRU), ("lstm", GRU), ("mlp_lm", {"vocab_size": 17})])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_cached_equals_uncached(name, cfg, temperature):
    m = _model(name, cfg)
    prompt = torch.randint(0, 17, (2, 5), generator=torch.Generator().manual_seed(1))
    kw = dict(temperature=temperature, top_k=8, seed=3)
    a = generate(m, prompt, 25, use_cache=True, **kw)  # 5 + 25 - 1 <= block_size: exact
    b = generate(m, prompt, 25, use_cache=False, **kw)
    assert a.shape == (2, 30)
    assert torch.equal(a, b)


def test_greedy_is_deterministic_and_argmax():
    m = _model("gpt", GPT)
    p = torch.tensor([[1, 2, 3]])
    a = generate(m, p, 10, temperature=0.0, seed=1)
    b = generate(m, p, 10, temperature=0.0, seed=2)
    assert torch.equal(a, b)
    assert int(a[0, 3]) == int(m(p)[0, -1].argmax())


def test_same_seed_same_tokens_different_seed_differs():
    m = _model("gpt", GPT)
    p = torch.tensor([[1, 2, 3]])
    a, b = generate(m, p, 30, seed=7), generate(m, p, 30, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, generate(m, p, 30, seed=8))


def test_prompt_longer_than_window_is_cropped():
    m = _model("gpt", {**GPT, "block_size": 8})
    long = torch.randint(0, 17, (1, 50))
    out = generate(m, long, 20, temperature=0.0)  # goes past the window: no error
    assert out.shape == (1, 70)
    # the first new token depends only on the last 8 prompt tokens
    assert int(out[0, 50]) == int(m(long[:, -8:])[0, -1].argmax())
    assert torch.equal(generate(m, long, 20, temperature=0.0, use_cache=False)[:, :51], out[:, :51])


def test_top_k_one_is_greedy_and_top_p_small_is_greedy():
    torch.manual_seed(0)
    logits = torch.randn(4, 30)
    g = torch.Generator().manual_seed(0)
    best = logits.argmax(-1, keepdim=True)
    assert torch.equal(sample_next(logits, 1.0, top_k=1, generator=g), best)
    assert torch.equal(sample_next(logits, 1.0, top_p=1e-6, generator=g), best)


def test_top_k_and_top_p_restrict_the_support():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.1, 0.06, 0.04]]))
    g = torch.Generator().manual_seed(0)
    ks = {int(sample_next(logits, 1.0, top_k=2, generator=g)) for _ in range(200)}
    assert ks == {0, 1}
    ps = {int(sample_next(logits, 1.0, top_p=0.85, generator=g)) for _ in range(300)}
    assert ps == {0, 1, 2}  # 0.5 + 0.3 < 0.85, so the third is needed


def test_bad_options_are_clear_errors():
    m = _model("bigram", {"vocab_size": 17})
    p = torch.tensor([[1]])
    with pytest.raises(TinytxError, match="temperature"):
        generate(m, p, 3, temperature=-1)
    with pytest.raises(TinytxError, match="top-p"):
        generate(m, p, 3, top_p=1.5)
    with pytest.raises(TinytxError, match="at least one token"):
        generate(m, torch.zeros(1, 0, dtype=torch.long), 3)


def test_eos_stops_early():
    m = _model("bigram", {"vocab_size": 5})
    with torch.no_grad():
        m.table.weight.zero_()
        m.table.weight[:, 3] = 10.0  # always predicts 3
    out = generate(m, torch.tensor([[1]]), 50, temperature=0.0, eos_id=3)
    assert out.tolist() == [[1, 3]]
