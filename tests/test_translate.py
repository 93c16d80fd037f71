"""Decoding: beam 1 equals greedy, the KV cache changes nothing, batching changes nothing, lengths are capped."""
import pytest
import torch

from tinytx.errors import TinytxError
from tinytx.models import build
from tinytx.translate import beam_search, decode_batch, greedy_decode

EOS = 3
TINY = {
    "transformer_seq2seq": dict(src_vocab_size=24, tgt_vocab_size=24, d_model=32, n_head=2, n_enc_layer=2,
                                n_dec_layer=2, max_len=48, dropout=0.0),
    "gru_seq2seq": dict(src_vocab_size=24, tgt_vocab_size=24, emb_dim=16, hidden_size=32, dropout=0.0, max_len=48),
}


def sources():
    rows = [[5, 9, 11, EOS], [7, 7, 12, 20, 6, 14, EOS], [19, EOS], [8, 13, 21, 5, 5, EOS]]
    src = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, r in enumerate(rows):
        src[i, : len(r)] = torch.tensor(r)
    return src


@pytest.fixture(params=sorted(TINY), scope="module")
def model(request):
    torch.manual_seed(0)
    m = build(request.param, TINY[request.param]).eval()
    # sharper, less uniform output distributions than a fresh init, so EOS turns up and beams differ
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(4)
    return m


def test_beam_one_is_greedy(model):
    src = sources()
    assert beam_search(model, src, beam=1) == greedy_decode(model, src)
    assert decode_batch(model, src, beam=1) == greedy_decode(model, src)


def test_cached_equals_uncached(model):
    src = sources()
    assert greedy_decode(model, src, use_cache=True) == greedy_decode(model, src, use_cache=False)
    assert beam_search(model, src, beam=4, use_cache=True) == beam_search(model, src, beam=4, use_cache=False)


def test_batched_beam_equals_one_at_a_time(model):
    src = sources()
    batched = beam_search(model, src, beam=3)
    for i in range(len(src)):
        row = src[i : i + 1, : int((src[i] != 0).sum())]
        assert beam_search(model, row, beam=3) == [batched[i]]


def test_output_length_is_capped(model):
    src = sources()
    for a, b in [(0.0, 2), (1.0, 1)]:
        out = beam_search(model, src, beam=2, max_len_a=a, max_len_b=b)
        limits = (a * (src != 0).sum(1) + b).long().tolist()
        assert all(len(o) <= n for o, n in zip(out, limits))
        assert all(t not in (0, 2, EOS) for o in out for t in o)  # no padding, BOS or EOS in the output


def test_bad_beam_size_is_a_clear_error(model):
    with pytest.raises(TinytxError, match="beam size"):
        beam_search(model, sources(), beam=0)


def test_step_by_step_equals_teacher_forcing(model):
    """Decoding one token at a time (with the cache) scores a target exactly as the training forward does."""
    src = sources()
    tgt_in = torch.tensor([[2, 5, 6, 7], [2, 9, 9, 10], [2, 11, 0, 0], [2, 12, 13, 0]])
    full = model(src, tgt_in).float().log_softmax(-1)
    state = model.start(src)
    for t in range(tgt_in.size(1)):
        logprobs, state = model.step(tgt_in[:, t], state)
        real = tgt_in[:, t] != 0
        torch.testing.assert_close(logprobs[real], full[real, t], atol=1e-4, rtol=1e-4)
