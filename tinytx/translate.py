"""Decoding for sequence-to-sequence models: greedy and beam search, batched, over a small model interface.

A model offers `start(src, use_cache) -> state`, `step(tokens (N,), state) -> (logprobs (N, V), state)` and
`reorder(state, index) -> state` (see tinytx.models.seq2seq). The transformer keeps a KV cache in its state, so
each step runs only the newest token through the decoder and the encoder memory's cross-attention keys/values
are computed once; the GRU keeps its hidden state.

Beam search keeps `beam` hypotheses per sentence in one (B * beam) batch. A hypothesis that has produced [EOS]
stays in its beam, extended only by [PAD] at no cost, until every beam of the batch is finished or the length
limit `max_len = max_len_a * src_len + max_len_b` is reached. Final hypotheses are ranked by
score / lp(length) with the GNMT length penalty lp = ((5 + length) / 6) ** length_penalty (0 = raw log-prob).
With beam=1 this is exactly greedy decoding.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .errors import TinytxError
from .specials import BOS_ID, EOS_ID, MASK_ID, PAD_ID

NEVER = [PAD_ID, BOS_ID, MASK_ID]  # never a target token, so never an output token


def _next_logprobs(model, tokens, state):
    logprobs, state = model.step(tokens, state)
    logprobs[:, NEVER] = float("-inf")
    return logprobs, state


def _limits(src: torch.Tensor, model, max_len_a: float, max_len_b: int) -> torch.Tensor:
    """Per-row maximum target length (tokens before [EOS]), capped by the model's position limit."""
    src_len = (src != PAD_ID).sum(1)
    cap = getattr(model, "max_len", None) or 10_000
    return (max_len_a * src_len + max_len_b).long().clamp(min=1, max=cap - 1)


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, max_len_a: float = 1.5, max_len_b: int = 10,
                  use_cache: bool = True) -> list[list[int]]:
    """The most likely next token at every step. src (B, S) padded ids -> B lists of ids (no BOS/EOS)."""
    limits = _limits(src, model, max_len_a, max_len_b)
    state = model.start(src, use_cache=use_cache)
    b = src.size(0)
    tokens = torch.full((b,), BOS_ID, dtype=torch.long, device=src.device)
    out = torch.zeros(b, int(limits.max()) + 1, dtype=torch.long, device=src.device)
    done = torch.zeros(b, dtype=torch.bool, device=src.device)
    for t in range(out.size(1)):
        logprobs, state = _next_logprobs(model, tokens, state)
        nxt = logprobs.argmax(-1)
        nxt = torch.where(t >= limits, torch.full_like(nxt, EOS_ID), nxt)  # out of length: end here
        nxt = torch.where(done, torch.full_like(nxt, PAD_ID), nxt)
        out[:, t] = nxt
        done |= nxt == EOS_ID
        tokens = nxt
        if bool(done.all()):
            break
    return [_strip(row) for row in out.tolist()]


@torch.no_grad()
def beam_search(model, src: torch.Tensor, beam: int = 4, length_penalty: float = 1.0, max_len_a: float = 1.5,
                max_len_b: int = 10, use_cache: bool = True) -> list[list[int]]:
    """Beam search for a batch. src (B, S) padded ids -> B lists of ids (the best hypothesis, no BOS/EOS)."""
    if beam < 1:
        raise TinytxError(f"beam size must be >= 1, got {beam}")
    b, k, dev = src.size(0), beam, src.device
    limits = _limits(src, model, max_len_a, max_len_b).repeat_interleave(k)  # (B*K,)
    state = model.start(src, use_cache=use_cache)
    state = model.reorder(state, torch.arange(b, device=dev).repeat_interleave(k))
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # all beams start identical: keep one so the first step does not pick duplicates
    tokens = torch.full((b * k,), BOS_ID, dtype=torch.long, device=dev)
    hyps = torch.zeros(b * k, 0, dtype=torch.long, device=dev)
    done = torch.zeros(b * k, dtype=torch.bool, device=dev)
    pad_only = eos_only = None
    for t in range(int(limits.max()) + 1):
        logprobs, state = _next_logprobs(model, tokens, state)  # (B*K, V)
        v = logprobs.size(-1)
        if pad_only is None:
            pad_only = torch.full_like(logprobs, float("-inf"))
            eos_only = pad_only.clone()
            pad_only[:, PAD_ID], eos_only[:, EOS_ID] = 0.0, 0.0
        # a finished hypothesis may only continue with [PAD], at no cost; one at its length limit must end now
        over = (t >= limits) & ~done
        logprobs = torch.where(done[:, None], pad_only, torch.where(over[:, None], eos_only, logprobs))
        cand = (scores.view(-1, 1) + logprobs).view(b, k * v)
        scores, flat = cand.topk(k, dim=1)  # (B, K)
        origin = (flat // v + torch.arange(b, device=dev)[:, None] * k).view(-1)  # row in (B*K)
        tokens = (flat % v).view(-1)
        hyps = torch.cat([hyps[origin], tokens[:, None]], dim=1)
        done = done[origin] | (tokens == EOS_ID)
        if bool(done.all()):
            break
        state = model.reorder(state, origin)
    # rank finished hypotheses by length-normalised score
    lengths = ((hyps != PAD_ID) & (hyps != EOS_ID)).sum(1).float() + 1  # + 1 for [EOS]
    penalty = ((5 + lengths) / 6) ** length_penalty
    norm = (scores.view(-1) / penalty).view(b, k)
    best = norm.argmax(1) + torch.arange(b, device=dev) * k
    return [_strip(row) for row in hyps[best].tolist()]


def _strip(ids: list[int]) -> list[int]:
    """Cut at the first [EOS]; drop padding."""
    if EOS_ID in ids:
        ids = ids[: ids.index(EOS_ID)]
    return [i for i in ids if i != PAD_ID]


def decode_batch(model, src: torch.Tensor, beam: int = 4, **kw) -> list[list[int]]:
    """Greedy when beam == 1, else beam search (same results for beam 1: a test checks it)."""
    if beam == 1:
        kw.pop("length_penalty", None)
        return greedy_decode(model, src, **kw)
    return beam_search(model, src, beam=beam, **kw)


# --- text in, text out --------------------------------------------------------------------------------------

def encode_sources(tokenizer, sentences: Sequence[str], max_len: int) -> tuple[list[list[int]], int]:
    """Token ids + [EOS] per sentence, cut to max_len tokens; returns (ids, number of sentences cut)."""
    ids = tokenizer.encode_batch([s.strip() for s in sentences])
    cut = sum(len(x) + 1 > max_len for x in ids)
    return [x[: max_len - 1] + [EOS_ID] for x in ids], cut


@torch.no_grad()
def translate(run, sentences: str | Sequence[str], beam: int = 4, length_penalty: float = 1.0,
              max_len_a: float = 1.5, max_len_b: int = 10, batch_size: int = 64, use_cache: bool = True,
              return_stats: bool = False):
    """Translate sentences with a loaded seq2seq run (`tinytx.load_run`). A str gives a str back.

    Sentences are sorted by length and decoded in batches of `batch_size` (little padding), then put back in
    the input order. return_stats=True also returns {"truncated": sentences cut to the model's max length}."""
    if run.task != "seq2seq":
        raise TinytxError(f"{run.path}: not a seq2seq run (task {run.task!r}); translate needs one")
    single = isinstance(sentences, str)
    sentences = [sentences] if single else list(sentences)
    model = run.model.eval()
    device = next(model.parameters()).device
    tgt_tok = run.tokenizer
    src_tok = run.src_tokenizer if run.src_tokenizer is not None else tgt_tok  # none: one shared vocabulary
    ids, cut = encode_sources(src_tok, sentences, model.max_len)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    results: list[str] = [""] * len(ids)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(ids[i]) for i in rows)
        src = torch.zeros(len(rows), width, dtype=torch.long)
        for r, i in enumerate(rows):
            src[r, : len(ids[i])] = torch.tensor(ids[i])
        out = decode_batch(model, src.to(device), beam=beam, length_penalty=length_penalty, max_len_a=max_len_a,
                           max_len_b=max_len_b, use_cache=use_cache)
        for i, text in zip(rows, tgt_tok.decode_batch(out)):
            results[i] = text.strip()
    result = results[0] if single else results
    return (result, {"truncated": cut}) if return_stats else result
