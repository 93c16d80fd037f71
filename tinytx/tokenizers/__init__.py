"""Tokenizers: char, word, byte-level BPE (Rust `tokenizers`) and unigram (`sentencepiece`).

Every kind has [PAD] [UNK] [BOS] [EOS] [MASK] at ids 0..4 and saves to one JSON file; the exception is "hf", an
imported model's tokenizer (tinytx import hf), which keeps its own ids and names its special tokens itself.

    tok = train_tokenizer("bpe", ["data/tinyshakespeare/input.txt"], vocab_size=2048)
    tok.save("tok.json"); tok = load_tokenizer("tok.json")
"""
from __future__ import annotations

from ..errors import TinytxError
from .base import (
    BOS_ID, EOS_ID, MASK_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, Tokenizer, from_file_dict, pad_batch, read_text,
    read_tokenizer_file,
)
from .bpe import BPETokenizer
from .char import CharTokenizer
from .hf import HFTokenizer
from .unigram import UnigramTokenizer
from .word import WordTokenizer

# the one table of kinds: the subclasses know base, base knows none of them
KINDS = {cls.kind: cls for cls in (CharTokenizer, WordTokenizer, BPETokenizer, UnigramTokenizer, HFTokenizer)}


def load_tokenizer(path) -> Tokenizer:
    """Load a tokenizer JSON of any kind (tinytx's char/word/unigram format, or a `tokenizers` BPE file)."""
    kind, d = read_tokenizer_file(path)
    if kind not in KINDS:
        raise TinytxError(f"{path}: unknown tokenizer kind {kind!r}; expected one of {', '.join(KINDS)}")
    return from_file_dict(KINDS[kind], d, path)


def train_tokenizer(kind: str, texts, vocab_size: int | None = None, min_frequency: int = 1, **options) -> Tokenizer:
    """Train a tokenizer of `kind` ("char", "word", "bpe", "unigram") on files (paths) or an iterable of strings.

    min_frequency: rarer characters/words/pairs are left out (bpe: at least 2; unigram: ignored, sentencepiece
    decides). options: word: lowercase, stop_words; unigram: normalize; char: unknown ("unk" | "error").
    special_tokens: accepted for symmetry with other libraries, but must be the fixed five (ids 0..4)."""
    trainable = [k for k in KINDS if k != HFTokenizer.kind]  # an hf tokenizer comes with its model (import hf)
    if kind not in trainable:
        raise TinytxError(f"unknown tokenizer kind {kind!r}; choose one of {', '.join(trainable)}")
    special = options.pop("special_tokens", None)
    if special is not None and list(special) != list(SPECIAL_TOKENS):
        raise TinytxError(f"tinytx tokenizers have fixed special tokens {', '.join(SPECIAL_TOKENS)} (ids 0..4); "
                          f"got {list(special)}")
    if vocab_size is not None and vocab_size < 1:
        raise TinytxError(f"vocab size must be positive, got {vocab_size}")
    if kind == "unigram" and vocab_size is not None and vocab_size <= len(SPECIAL_TOKENS):  # else sentencepiece's
        raise TinytxError(f"vocab size {vocab_size} leaves no room for tokens after the {len(SPECIAL_TOKENS)} special "
                          "tokens")  # own INTERNAL error; the other kinds say what the alphabet needs
    if min_frequency < 1:
        raise TinytxError(f"min frequency must be >= 1, got {min_frequency}")
    if kind == "bpe":
        min_frequency = max(min_frequency, 2) if min_frequency == 1 else min_frequency
    return KINDS[kind].train(texts, vocab_size=vocab_size, min_frequency=min_frequency, **options)


__all__ = [
    "BOS_ID", "BPETokenizer", "CharTokenizer", "EOS_ID", "HFTokenizer", "KINDS", "MASK_ID", "PAD_ID", "SPECIAL_TOKENS",
    "Tokenizer",
    "UNK_ID", "UnigramTokenizer", "WordTokenizer", "load_tokenizer", "pad_batch", "read_text", "train_tokenizer",
]
