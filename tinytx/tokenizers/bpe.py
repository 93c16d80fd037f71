"""Byte-level BPE: trained by the Rust `tokenizers` library, encoded by tiktoken's engine; lossless for any UTF-8 text.

The saved file is the library's own tokenizer.json, so `tokenizers.Tokenizer.from_file` (and anything built on
it) loads it as is, and decoding goes through it.

Encoding: `tokenizers` and tiktoken run the same algorithm (cut the text with GPT-2's pre-tokenizer regex, map
each piece to bytes, apply the merges lowest rank first), tiktoken 5-10x faster. On first use we build a tiktoken
Encoding from the file: each token's bytes at its own id as the mergeable rank (the trainer gives merge k the id
261 + k, so id order is merge order), the same regex as the ByteLevel pre-tokenizer, and the five special tokens
at 0..4, never matched in text (tiktoken's `encode_ordinary`, `tokenizers`' `encode_special_tokens = True`). The
ids are the ones `tokenizers` gives, on every text (property-tested, and on whole corpora).

Where tiktoken cannot reproduce `tokenizers`, we encode with `tokenizers` (`engine` says which is in use):
- a file whose pipeline is not the one tinytx trains: a normalizer, another pre-tokenizer or BPE option (dropout,
  subword prefix, byte fallback, ignore_merges), truncation or padding, added tokens besides the five special
  ones, ids not in merge order, a token no merge makes (`_tiktoken_encoding` names the reason);
- text with lone surrogates (not UTF-8: both libraries refuse it; the error is the one `tokenizers` gives).
"""
from __future__ import annotations

import json
import os
from itertools import chain

import numpy as np
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from ..errors import TinytxError
from .base import BOS_ID, EOS_ID, SPECIAL_TOKENS, Tokenizer, _is_path, gc_paused, iter_pieces, read_text

# the regex of `tokenizers`' ByteLevel pre-tokenizer (use_regex=True), which is GPT-2's:
#   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# written as tiktoken writes it for GPT-2 (r50k_base): possessive runs, and "\s+" split into "\s++$" (a run at
# the end) and "\s" (one character, where "\s+(?!\S)" failed: a run before a non-space was cut one short): the
# same pieces, 15-20% faster in tiktoken's engine (fancy-regex backtracks less)
BYTE_LEVEL_PATTERN = r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"
THREADED_CHARS = 1 << 18  # a batch with fewer characters in all is encoded on the calling thread

_pool: tuple[int, "ThreadPoolExecutor"] | None = None  # (the pid that made it, the pool)


def _threads() -> "ThreadPoolExecutor":
    """One pool per process (tiktoken releases the GIL while it encodes); a forked child makes its own, since
    the parent's threads do not exist there."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _pool = os.getpid(), ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="tinytx-bpe")
    return _pool[1]


class BPETokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, hf: HFTokenizer):
        self.hf = hf
        # "[EOS]" typed by a user is text, not the special token (no special-token injection)
        self.hf.encode_special_tokens = True
        ids = [hf.token_to_id(t) for t in SPECIAL_TOKENS]
        if ids != list(range(len(SPECIAL_TOKENS))):
            raise TinytxError(f"BPE tokenizer must have {', '.join(SPECIAL_TOKENS)} at ids 0..4, has {ids}")
        self._tt = None  # tiktoken's CoreBPE, built on first use (or the reason it cannot be)

    @classmethod
    def train(cls, texts, vocab_size=None, min_frequency=2, **options):
        vocab_size = vocab_size or 8192
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        if vocab_size < len(alphabet) + len(SPECIAL_TOKENS):
            raise TinytxError(
                f"vocab size {vocab_size} is smaller than the byte alphabet: byte-level BPE needs at least "
                f"{len(alphabet) + len(SPECIAL_TOKENS)} (256 bytes + {len(SPECIAL_TOKENS)} special tokens)"
            )
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=alphabet, show_progress=options.get("progress", False),
        )
        texts = [texts] if isinstance(texts, (str, os.PathLike)) else texts
        if isinstance(texts, (list, tuple)) and texts and all(_is_file(t) for t in texts):
            # files: check them (clear errors), then let the Rust trainer read them itself, in parallel
            if not any(read_text(t).strip() for t in texts):
                raise TinytxError("empty corpus: no text to learn BPE merges from")
            hf.train([str(t) for t in texts], trainer)
            return cls(hf)
        seen = []

        def batches():  # lists of ~1 MB of lines: the Rust trainer works on each list in parallel
            for t in iter_pieces(texts):
                seen.append(bool(t))
                yield t.splitlines(keepends=True)

        hf.train_from_iterator(batches(), trainer)
        if not any(seen):
            raise TinytxError("empty corpus: no text to learn BPE merges from")
        return cls(hf)

    # --- encoding ---------------------------------------------------------------------------------------------------
    @property
    def engine(self) -> str:
        """"tiktoken" when tiktoken reproduces this file's `tokenizers` pipeline, else "tokenizers"."""
        return "tokenizers" if isinstance(self._core(), str) else "tiktoken"

    def _core(self):
        """tiktoken's CoreBPE for this vocabulary, or a string saying why there is none."""
        if self._tt is None:
            self._tt = _tiktoken_encoding(json.loads(self.hf.to_str()))
        return self._tt

    def _hf_encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def _encode(self, text):
        core = self._core()
        if isinstance(core, str):
            return self._hf_encode(text)
        try:
            return core.encode_ordinary(text)
        except UnicodeEncodeError:  # lone surrogates: let `tokenizers` give its own error
            return self._hf_encode(text)

    def encode_batch(self, texts, add_bos=False, add_eos=False):
        texts = list(texts)
        core = self._core()
        if isinstance(core, str):
            # the Rust library encodes a batch on all cores; the _fast variant skips the offsets we never use
            encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)  # _fast: tokenizers >= 0.21
            out = [e.ids for e in encode(texts, add_special_tokens=False)]
        else:
            try:
                with gc_paused():
                    out = self._tiktoken_batch(core.encode_ordinary, texts)
            except UnicodeEncodeError:  # lone surrogates: let `tokenizers` give its own error
                out = [self._hf_encode(t) for t in texts]
        if add_bos or add_eos:
            out = [([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else []) for ids in out]
        return out

    @staticmethod
    def _tiktoken_batch(encode, texts: list[str]) -> list[list[int]]:
        workers = os.cpu_count() or 1
        if workers > 1 and len(texts) >= 2 * workers and sum(map(len, texts)) >= THREADED_CHARS:
            size = -(-len(texts) // (4 * workers))  # a few contiguous groups per thread
            groups = [texts[i : i + size] for i in range(0, len(texts), size)]
            return list(chain.from_iterable(_threads().map(lambda g: list(map(encode, g)), groups)))
        return list(map(encode, texts))

    def encode_flat(self, texts) -> np.ndarray:
        """The ids of every text, concatenated, as one int64 array (token files: `tinytx.data.encode`). The texts
        are encoded in parallel; for a long text cut into pieces at line ends, the ids decode to the text."""
        texts = list(texts)
        core = self._core()
        parts = None
        if not isinstance(core, str):
            def one(text):
                return np.frombuffer(core.encode_to_tiktoken_buffer(text, set()), dtype=np.uint32)

            try:
                parts = list(_threads().map(one, texts)) if len(texts) > 1 else [one(t) for t in texts]
            except UnicodeEncodeError:  # lone surrogates: let `tokenizers` give its own error
                parts = None
        if parts is None:
            # one piece per core at a time: the library's per-token objects for many pieces would cost memory
            group = os.cpu_count() or 1
            encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)
            parts = [np.fromiter(chain.from_iterable(e.ids for e in encode(texts[i : i + group],
                                                                           add_special_tokens=False)), dtype=np.int64)
                     for i in range(0, len(texts), group)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    # --- decoding (always `tokenizers`) -----------------------------------------------------------------------------
    def decode(self, ids, skip_special=True):
        return self.hf.decode(list(ids), skip_special_tokens=skip_special)

    def decode_batch(self, batch, skip_special=True):
        return self.hf.decode_batch([list(ids) for ids in batch], skip_special_tokens=skip_special)

    @property
    def vocab_size(self):
        return self.hf.get_vocab_size()

    def token_to_id(self, token):
        return self.hf.token_to_id(token)

    def id_to_token(self, i):
        return self.hf.id_to_token(i)

    def to_dict(self):
        return json.loads(self.hf.to_str())

    @classmethod
    def from_dict(cls, d):
        return cls(HFTokenizer.from_str(json.dumps(d)))


def _is_file(t) -> bool:
    return isinstance(t, os.PathLike) or (isinstance(t, str) and _is_path(t))


def byte_decoder() -> dict[str, int]:
    """GPT-2's byte <-> printable character table (`tokenizers`' ByteLevel alphabet), character -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def _tiktoken_encoding(d: dict):
    """tiktoken's CoreBPE giving the same ids as the `tokenizers` pipeline `d` (a tokenizer.json as a dict), or a
    string saying why it cannot."""
    pre = d.get("pre_tokenizer") or {}
    model = d.get("model") or {}
    if d.get("normalizer") is not None:
        return "the file has a normalizer"
    if pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") or not pre.get("use_regex", True):
        return "the pre-tokenizer is not ByteLevel(add_prefix_space=False, use_regex=True)"
    if d.get("truncation") is not None or d.get("padding") is not None:
        return "the file truncates or pads"
    if (d.get("post_processor") or {"type": "ByteLevel"}).get("type") != "ByteLevel":
        return "the file has a post-processor"
    if model.get("type") != "BPE" or model.get("dropout") is not None or model.get("byte_fallback") \
            or model.get("ignore_merges") or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        return "the BPE model has options tiktoken does not have"
    added = [(t.get("id"), t.get("content"), t.get("special")) for t in d.get("added_tokens", [])]
    if added != [(i, t, True) for i, t in enumerate(SPECIAL_TOKENS)]:
        return "the file has added tokens besides the five special ones"
    try:
        import tiktoken
    except ImportError:  # a core dependency; without it, the slower library does the work
        return "tiktoken is not installed"
    chars = byte_decoder()
    vocab = {t: i for t, i in model.get("vocab", {}).items() if t not in SPECIAL_TOKENS}
    if any(c not in chars for t in vocab for c in t):
        return "a token is not made of byte-level characters"
    ranks = {bytes(chars[c] for c in t): i for t, i in vocab.items()}
    if len(ranks) != len(vocab) or any(bytes([b]) not in ranks for b in range(256)):
        return "the vocabulary does not hold each of the 256 bytes once"
    merged, last = set(), -1
    for m in model.get("merges", []):
        a, b = m if isinstance(m, (list, tuple)) else m.split(" ", 1)
        i = vocab.get(a + b)
        if a not in vocab or b not in vocab or i is None or i <= last:
            return "the merges are not in id order"  # tiktoken's rank is the id: merge order must be id order
        merged.add(a + b)
        last = i
    if len(merged) + 256 != len(vocab):
        return "a token is made by no merge, or by two"
    return tiktoken.Encoding("tinytx-bpe", pat_str=BYTE_LEVEL_PATTERN, mergeable_ranks=ranks,
                             special_tokens={t: i for i, t in enumerate(SPECIAL_TOKENS)})._core_bpe
