"""Word tokenizer: a regex split into words and punctuation, for bag-of-words models.

Lossy by design: decode joins tokens with single spaces, and lowercasing / stop-word removal cannot be undone.
Encoding is one C-level `re.findall` plus one C-level `map` over a dict (no Python code runs per token); stop
words are dropped with a numpy mask. (The Rust `tokenizers` WordLevel model measured 4-10x slower here: it
builds offsets and an Encoding object we do not need.)
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import repeat

import numpy as np

from ..errors import TinytxError
from .base import SPECIAL_TOKENS, UNK_ID, ListVocabTokenizer, iter_texts

# a word (letters/digits/_ with an optional inner apostrophe: "don't") or one punctuation character
WORD_RE = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
DROP = -1  # id given to stop words before they are filtered out

# A short English stop-word list (function words only), enough for bag-of-words baselines.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)


class WordTokenizer(ListVocabTokenizer):
    kind = "word"

    def __init__(self, words, lowercase: bool = False, stop_words: bool = False):
        self.words = list(words)
        self.lowercase, self.stop_words = bool(lowercase), bool(stop_words)
        self._set_vocab(self.words)
        if len(self._index) != len(self.vocab):
            raise TinytxError("word list has duplicates or special tokens")
        # what encode looks words up in: special-token spellings are not in it (typed "[EOS]" is text)
        self._lookup = {w: i for i, w in enumerate(self.words, len(SPECIAL_TOKENS))}
        if self.stop_words and self.lowercase:
            self._lookup.update(dict.fromkeys(STOP_WORDS, DROP))

    def split(self, text: str) -> list[str]:
        """The word-level tokens of `text` after lowercasing and stop-word removal (as configured)."""
        if self.lowercase:
            text = text.lower()
        tokens = WORD_RE.findall(text)
        if self.stop_words:
            tokens = [t for t in tokens if t.lower() not in STOP_WORDS]
        return tokens

    @classmethod
    def train(cls, texts, vocab_size=None, min_frequency=1, lowercase=False, stop_words=False, **options):
        if vocab_size is not None and vocab_size <= len(SPECIAL_TOKENS):
            raise TinytxError(f"vocab size {vocab_size} leaves no room for words after {len(SPECIAL_TOKENS)} special tokens")
        probe = cls([], lowercase, stop_words)
        counts = Counter()
        for text in iter_texts(texts):
            counts.update(probe.split(text))
        kept = [(w, n) for w, n in counts.items() if n >= min_frequency]
        if not kept:
            raise TinytxError("empty corpus: no words to build a vocabulary from (or none reaches the min frequency)")
        kept.sort(key=lambda wn: (-wn[1], wn[0]))  # most frequent first; ties alphabetical, so training is deterministic
        if vocab_size is not None:
            kept = kept[: vocab_size - len(SPECIAL_TOKENS)]
        return cls([w for w, _ in kept], lowercase, stop_words)

    def encode_array(self, text: str) -> np.ndarray:
        """The ids of `text` as an int64 array (the fast path used by streaming encode)."""
        if self.stop_words and not self.lowercase:  # case-insensitive stop words on cased text: the slow path
            tokens = self.split(text)
        else:
            tokens = WORD_RE.findall(text.lower() if self.lowercase else text)
        ids = np.fromiter(map(self._lookup.get, tokens, repeat(UNK_ID)), dtype=np.int64, count=len(tokens))
        return ids[ids != DROP] if self.stop_words else ids

    def _encode(self, text):
        if self.stop_words:
            return self.encode_array(text).tolist()
        return list(map(self._lookup.get, WORD_RE.findall(text.lower() if self.lowercase else text), repeat(UNK_ID)))

    def decode(self, ids, skip_special=True):
        # [UNK] stays visible: it stands for a word that was there
        return " ".join(self._tokens(ids, skip_special, keep=(UNK_ID,)))

    def to_dict(self):
        return {"kind": self.kind, "special_tokens": list(SPECIAL_TOKENS), "lowercase": self.lowercase,
                "stop_words": self.stop_words, "words": self.words}

    @classmethod
    def from_dict(cls, d):
        if list(d.get("special_tokens", SPECIAL_TOKENS)) != list(SPECIAL_TOKENS):
            raise TinytxError("tokenizer file has different special tokens than this version of tinytx")
        return cls(d["words"], d.get("lowercase", False), d.get("stop_words", False))
