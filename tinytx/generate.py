"""Text generation for every tinytx language model: greedy, temperature, top-k and top-p sampling.

Two levels:
- `generate(model, idx, max_new_tokens, ...)` works on token tensors (B, T) -> (B, T + new).
- `generate_text(run, prompt, ...)` encodes a prompt with the run's tokenizer, generates, decodes, and can
  stream the text as it is produced.

Every LM has `forward(idx, cache=None) -> logits` and `new_cache()`. With a cache, the prompt is processed once
and then each step feeds only the newest token: a transformer appends to its KV cache, a recurrent model
carries its hidden state. Models with a context window (`model.context_size`, e.g. GPT's block_size) see at most
that many tokens: uncached generation crops the input to the last `context_size` tokens every step; cached
generation, when the window is full, restarts the cache from the last half window (one prefill every
context_size/2 tokens). Until the window is full both give identical tokens (tested).
"""
from __future__ import annotations

import secrets
from typing import Callable

import torch
from torch import nn

from .errors import TinytxError

from .specials import BOS_ID, UNK_ID


def _check_options(temperature: float, top_k: int | None, top_p: float | None, max_new_tokens: int) -> None:
    if max_new_tokens < 0:
        raise TinytxError(f"max new tokens must be >= 0, got {max_new_tokens}")
    if not 0 <= temperature < float("inf"):  # NaN and inf too
        raise TinytxError(f"temperature must be a number >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise TinytxError(f"top-k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:  # NaN fails this too
        raise TinytxError(f"top-p must be in (0, 1], got {top_p}")


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, V) -> next token ids (B, 1). temperature 0 = greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        # nucleus: keep the smallest set of most likely tokens whose probabilities sum to >= top_p
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > top_p  # the mass before this token already reaches top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


MAX_SEED = 2**63 - 1  # torch's generators take a signed 64-bit seed


def _check_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise TinytxError(f"seed must be between 0 and {MAX_SEED}, got {seed}")


def _generator(seed: int | None, device: torch.device) -> torch.Generator:
    _check_seed(seed)
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()  # fresh entropy
    else:
        g.manual_seed(seed)
    return g


@torch.no_grad()
def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    eos_id: int | None = None,
    callback: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Continue idx (B, T) by max_new_tokens tokens; returns (B, T + new).

    seed (or an explicit generator) makes sampling repeatable. eos_id stops when every row has produced it.
    callback(next_ids (B, 1)) is called after each new token (for streaming).
    """
    _check_options(temperature, top_k, top_p, max_new_tokens)
    if idx.dim() != 2 or idx.size(1) == 0:
        raise TinytxError("generation needs a prompt of at least one token (B, T) with T >= 1")
    was_training = model.training
    model.eval()
    gen = generator if generator is not None else _generator(seed, idx.device)
    window = getattr(model, "context_size", None)
    cache = model.new_cache() if use_cache and hasattr(model, "new_cache") else None
    crop = (lambda x: x) if window is None else (lambda x: x[:, -window:])
    done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
    try:
        for _ in range(max_new_tokens):
            if cache is None:
                logits = model(crop(idx))
            else:
                if cache.length == 0:
                    fresh = crop(idx)  # the prompt, once
                elif window is not None and cache.length >= window:
                    cache.reset()  # window full: restart from the last half window
                    fresh = idx[:, -max(1, window // 2):]
                else:
                    fresh = idx[:, -1:]
                logits = model(fresh, cache=cache)
            nxt = sample_next(logits[:, -1, :], temperature, top_k, top_p, gen)
            idx = torch.cat([idx, nxt], dim=1)
            if callback is not None:
                callback(nxt)
            if eos_id is not None:
                done |= nxt.squeeze(1) == eos_id
                if bool(done.all()):
                    break
    finally:
        model.train(was_training)
    return idx


# --- text level --------------------------------------------------------------------------------------------

def encode_prompt(tokenizer, prompt: str, unknown: str = "error") -> list[int]:
    """Prompt -> ids. Characters/pieces the tokenizer does not know: a clear error, or [UNK] with unknown="unk"."""
    if unknown not in ("error", "unk"):
        raise TinytxError(f"unknown must be 'error' or 'unk', got {unknown!r}")
    unk = getattr(tokenizer, "unk_id", UNK_ID)  # an imported tokenizer has its own (or none)
    # a char tokenizer with byte fallback spells characters outside its alphabet as bytes the model never saw
    unseen = getattr(tokenizer, "unknown_chars", lambda text: [])
    if prompt == "":
        ids = tokenizer.encode("\n")  # what nanoGPT starts from; falls back to [BOS]
        bos = getattr(tokenizer, "bos_id", BOS_ID)
        return ids if (ids and (unk is None or unk not in ids) and not unseen("\n")) or bos is None else [bos]
    ids = list(tokenizer.encode(prompt))
    if unknown == "error" and ((unk is not None and unk in ids) or unseen(prompt)):
        bad = sorted({c for c in prompt if unk is not None and unk in tokenizer.encode(c)} | set(unseen(prompt)))
        shown = ", ".join(repr(c) for c in bad) if bad else "some of its text"
        raise TinytxError(
            f"the prompt contains characters the tokenizer does not know ({shown}); "
            "remove them, or pass --unknown unk (unknown='unk') to go on anyway ([UNK] in their place, or their "
            "bytes for a char tokenizer with byte fallback)"
        )
    if not ids:
        raise TinytxError("the prompt encodes to no tokens")
    return ids


class _Streamer:
    """Turns new token ids into new text. Decodes everything so far and emits the unseen suffix, so multi-byte
    characters split over BPE tokens come out whole (an incomplete one ends in U+FFFD and is held back)."""

    def __init__(self, tokenizer, emit: Callable[[str], None]):
        self.tokenizer, self.emit = tokenizer, emit
        self.ids: list[int] = []
        self.shown = 0

    def __call__(self, nxt: torch.Tensor) -> None:
        self.ids.append(int(nxt[0, 0]))
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return
        if len(text) > self.shown:
            self.emit(text[self.shown:])
            self.shown = len(text)

    def flush(self) -> None:
        text = self.tokenizer.decode(self.ids)
        if len(text) > self.shown:
            self.emit(text[self.shown:])
            self.shown = len(text)


def generate_text(
    run,
    prompt: str,
    max_new_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stream_callback: Callable[[str], None] | None = None,
    unknown: str = "error",
    use_cache: bool = True,
) -> str:
    """Continue `prompt` with the run's model; returns prompt + continuation.

    temperature 0 = greedy; the same seed gives the same text. stream_callback(text_piece) receives the
    continuation as it is produced. A prompt longer than the model's context window is cropped to the window.
    """
    if run.task != "lm":
        raise TinytxError(f"{run.path}: generation needs a language-model run, this one is {run.task!r}")
    if run.tokenizer is None:
        raise TinytxError(f"{run.path}: has no tokenizer.json")
    _check_options(temperature, top_k, top_p, max_new_tokens)
    _check_seed(seed)
    ids = encode_prompt(run.tokenizer, prompt, unknown)
    device = next(run.model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    streamer = _Streamer(run.tokenizer, stream_callback) if stream_callback else None
    out = generate(
        run.model, idx, max_new_tokens, temperature, top_k, top_p, seed=seed, use_cache=use_cache, callback=streamer
    )
    if streamer is not None:
        streamer.flush()
    return prompt + run.tokenizer.decode(out[0, len(ids):].tolist())


def sample_seeds(seed: int | None, num_samples: int) -> list[int]:
    """One seed per sample: seed, seed + 1, ... (sample i is what seed + i gives alone), so the same seed gives the
    same samples however many are asked for. Without a seed, a random base seed (show it to repeat the samples)."""
    if num_samples < 1:
        raise TinytxError(f"num samples must be >= 1, got {num_samples}")
    _check_seed(seed)
    base = secrets.randbelow(MAX_SEED + 1) if seed is None else seed
    return [(base + i) % (MAX_SEED + 1) for i in range(num_samples)]


def generate_samples(run, prompt: str, num_samples: int, seed: int | None = None, **kwargs) -> list[str]:
    """`num_samples` continuations of `prompt`, each from its own seed stream (see sample_seeds); the keyword
    arguments are generate_text's."""
    return [generate_text(run, prompt, seed=s, **kwargs) for s in sample_seeds(seed, num_samples)]
