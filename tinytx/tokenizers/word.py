"""Word tokenizer: a regex split into words and punctuation, for bag-of-words models. Lossy by design:
decode joins tokens with spaces, and lowercasing / stop-word removal cannot be undone."""
from __future__ import annotations

import re
from collections import Counter

from ..errors import TinytxError
from .base import SPECIAL_TOKENS, UNK_ID, Tokenizer, iter_texts

WORD_RE = re.compile(r"\w+(?:'\w+)?|[^\w\s]")

# A short English stop-word list (function words only), enough for bag-of-words baselines.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)


class WordTokenizer(Tokenizer):
    kind = "word"

    def __init__(self, words, lowercase: bool = False, stop_words: bool = False):
        self.words = list(words)
        self.lowercase, self.stop_words = lowercase, stop_words
        self.vocab = list(SPECIAL_TOKENS) + self.words
        self._index = {t: i for i, t in enumerate(self.vocab)}

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
        probe = cls([], lowercase, stop_words)
        counts = Counter()
        for text in iter_texts(texts):
            counts.update(probe.split(text))
        if not counts:
            raise TinytxError("empty corpus: no words to build a vocabulary from")
        if vocab_size is not None and vocab_size <= len(SPECIAL_TOKENS):
            raise TinytxError(f"vocab size {vocab_size} leaves no room for words after {len(SPECIAL_TOKENS)} special tokens")
        kept = [(w, n) for w, n in counts.items() if n >= min_frequency]
        kept.sort(key=lambda wn: (-wn[1], wn[0]))  # most frequent first; ties alphabetical, so training is deterministic
        if vocab_size is not None:
            kept = kept[: vocab_size - len(SPECIAL_TOKENS)]
        return cls([w for w, _ in kept], lowercase, stop_words)

    def _encode(self, text):
        get = self._index.get
        return [get(t, UNK_ID) for t in self.split(text)]

    def decode(self, ids, skip_special=True):
        n = len(SPECIAL_TOKENS)
        return " ".join(self.vocab[i] for i in ids if not (skip_special and i < n))

    @property
    def vocab_size(self):
        return len(self.vocab)

    def token_to_id(self, token):
        return self._index.get(token)

    def id_to_token(self, i):
        return self.vocab[i] if 0 <= i < len(self.vocab) else None

    def to_dict(self):
        return {"kind": self.kind, "special_tokens": list(SPECIAL_TOKENS), "lowercase": self.lowercase,
                "stop_words": self.stop_words, "words": self.words}

    @classmethod
    def from_dict(cls, d):
        if list(d.get("special_tokens", SPECIAL_TOKENS)) != list(SPECIAL_TOKENS):
            raise TinytxError("tokenizer file has different special tokens than this version of tinytx")
        return cls(d["words"], d.get("lowercase", False), d.get("stop_words", False))
