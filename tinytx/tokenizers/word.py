"""Word tokenizer: a regex split into words and punctuation, for bag-of-words models.

Lossy by design: decode joins tokens with single spaces, and lowercasing / stop-word removal cannot be undone.

Encoding runs no Python per token. A short text: one C-level `re.findall` plus one C-level `map` over a dict.
A long text or a batch (`encode_array`, `encode_batch`, token files): numpy over the text's code points, with the
same result as the regex (property-tested): each character's class from a table of Python's own \\w / \\s, token
starts and ends from the class changes (and the apostrophe rule), a 64-bit polynomial hash of every token from
prefix sums, and the ids from an open-addressing table of the vocabulary's hashes (the length must match too,
and a token longer than 64 characters is compared as a string). Two different words with the same hash would
need a 64-bit collision (about V / 2^64 per unknown token); a vocabulary with a collision inside it keeps the
regex. (The Rust `tokenizers` WordLevel model measured 4-10x slower than the regex: it builds offsets and an
Encoding object we do not need.)
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import repeat

import numpy as np

from ..errors import TinytxError
from .base import SPECIAL_TOKENS, UNK_ID, ListVocabTokenizer, gc_paused, iter_texts

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
        self._key_table = False  # the numpy encoder's hash table: built on first use

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
        if len(text) < FAST_MIN_CHARS or self._keys() is None:
            return self._regex_ids(text)
        return self._encode_joined([text])[0]

    def _encode(self, text):
        if len(text) < FAST_MIN_CHARS or self._keys() is None:
            return self._regex_ids(text).tolist() if self.stop_words else self._regex_list(text)
        return self.encode_array(text).tolist()

    def encode_batch(self, texts, add_bos=False, add_eos=False):
        texts = list(texts)
        if add_bos or add_eos or sum(map(len, texts)) < FAST_MIN_CHARS or self._keys() is None:
            return super().encode_batch(texts, add_bos, add_eos)
        ids, bounds = self._encode_joined(texts)
        with gc_paused():
            flat, edges = ids.tolist(), bounds.tolist()
            return [flat[a:b] for a, b in zip(edges[:-1], edges[1:])]

    # --- the two encoders: the regex (the definition) and numpy (the same ids, faster on long text) ----------------
    def _regex_list(self, text: str) -> list[int]:
        return list(map(self._lookup.get, WORD_RE.findall(text.lower() if self.lowercase else text), repeat(UNK_ID)))

    def _regex_ids(self, text: str) -> np.ndarray:
        if self.stop_words and not self.lowercase:  # case-insensitive stop words on cased text: the slow path
            tokens = self.split(text)
        else:
            tokens = WORD_RE.findall(text.lower() if self.lowercase else text)
        ids = np.fromiter(map(self._lookup.get, tokens, repeat(UNK_ID)), dtype=np.int64, count=len(tokens))
        return ids[ids != DROP] if self.stop_words else ids

    def _keys(self) -> "_KeyTable | None":
        """The hash table of the lookup words, built on first use; None where the regex must do the work."""
        if self._key_table is False:
            self._key_table = None
            if not (self.stop_words and not self.lowercase):
                self._key_table = _KeyTable.build(self._lookup)
        return self._key_table

    def _encode_joined(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The ids of all texts in one int64 array, and where each text's ids begin and end in it (len + 1)."""
        if self.lowercase:  # str.lower per text equals it on the joined text ("\n" is no cased letter)
            texts = [t.lower() for t in texts]
        joined = "\n".join(texts)
        ids, starts = self._keys().encode(joined)
        if self.stop_words:
            keep = ids != DROP
            ids, starts = ids[keep], starts[keep]
        offsets = np.cumsum([0] + [len(t) + 1 for t in texts])  # where each text starts in `joined` (+ the end)
        return ids, np.searchsorted(starts, offsets)

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


# --- the numpy encoder -------------------------------------------------------------------------------------------

FAST_MIN_CHARS = 256  # shorter input goes through the regex (numpy's per-call cost would dominate)
BLOCK_CHARS = 1 << 16  # long text goes in blocks of about this many characters (cache-sized; bounded memory)
SPACE, WORDCH, OTHER, QUOTE = 0, 1, 2, 3  # character classes: \s, \w, [^\w\s] except "'", and "'"
VERIFY_CHARS = 64  # a token longer than this that hashes to a word is compared with it as a string
_P = np.uint64(0x9E3779B97F4A7C15)  # odd: it has an inverse modulo 2^64
_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))
_LENGTH_MIX = np.uint64(0xD6E8FEB86659FD93)
_SLOT_MIX = np.uint64(0xBF58476D1CE4E5B9)
_EMPTY = np.iinfo(np.int64).min
_classes_bmp: np.ndarray | None = None
_powers: tuple[np.ndarray, np.ndarray] | None = None


def char_classes(cps: np.ndarray) -> np.ndarray:
    """The class of each code point, as Python's `re` sees it in str patterns (\\w = str.isalnum() or "_",
    \\s = str.isspace())."""
    global _classes_bmp
    if _classes_bmp is None:
        table = np.full(0x10000, OTHER, dtype=np.uint8)
        for i in range(0x10000):
            c = chr(i)
            if c.isalnum() or c == "_":
                table[i] = WORDCH
            elif c.isspace():
                table[i] = SPACE
        table[ord("'")] = QUOTE
        _classes_bmp = table
    cls = _classes_bmp.take(cps, mode="clip")
    if cps.dtype != np.uint8 and cps.size and cps.max() > 0xFFFF:  # beyond the BMP: each distinct one in Python
        far = cps > 0xFFFF
        distinct, where = np.unique(cps[far], return_inverse=True)
        cls[far] = np.array([WORDCH if chr(c).isalnum() else SPACE if chr(c).isspace() else OTHER
                             for c in distinct.tolist()], dtype=np.uint8)[where]
    return cls


def token_spans(cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the matches of WORD_RE = \\w+(?:'\\w+)?|[^\\w\\s] in a text with these classes."""
    n = len(cls)
    word = cls == WORDCH
    cont = np.zeros(n, dtype=bool)  # position i belongs to the token of position i - 1
    np.logical_and(word[1:], word[:-1], out=cont[1:])
    quotes = np.flatnonzero(cls[1:-1] == QUOTE) + 1
    if quotes.size:
        quotes = quotes[word[quotes - 1] & word[quotes + 1]]  # "'" between two word characters: may join them
    if quotes.size > 1:
        # in a chain a'b'c'd (one word run between two such quotes) the regex joins every other one: a'b ' c'd
        bounds = np.empty(2 * len(quotes) - 2, dtype=np.int64)
        bounds[0::2], bounds[1::2] = quotes[:-1] + 1, quotes[1:]
        linked = np.logical_and.reduceat(word, bounds)[0::2]  # only word characters between quote k and k + 1
        k = np.arange(len(quotes))
        first = np.maximum.accumulate(np.where(np.concatenate([[True], ~linked]), k, 0))
        quotes = quotes[(k - first) % 2 == 0]
    cont[quotes] = True
    cont[quotes + 1] = True
    inside = cls != SPACE
    starts = np.flatnonzero(inside & ~cont)
    last = inside.copy()  # the last character of a token: the next one does not continue it
    last[:-1] &= ~cont[1:]
    return starts, np.flatnonzero(last) + 1


def _prefix_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^i and P^-i (mod 2^64) for i < n, cached."""
    global _powers
    if _powers is None or len(_powers[0]) < n:
        m = max(n, 1 << 16, 2 * len(_powers[0]) if _powers else 0)
        pw, qw = np.ones(m, dtype=np.uint64), np.ones(m, dtype=np.uint64)
        np.cumprod(np.full(m - 1, _P), out=pw[1:])
        np.cumprod(np.full(m - 1, _P_INV), out=qw[1:])
        _powers = pw, qw
    return _powers[0][:n], _powers[1][:n]


def token_keys(cps: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit key for each token cps[s:e]: sum c_i P^i over the token (from prefix sums), mixed with its length."""
    pw, qw = _prefix_powers(len(cps))
    prefix = np.zeros(len(cps) + 1, dtype=np.uint64)
    np.cumsum(np.multiply(cps, pw, dtype=np.uint64), out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * qw[starts] + (ends - starts).astype(np.uint64) * _LENGTH_MIX


def code_points(text: str) -> np.ndarray:
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _KeyTable:
    """word -> id as an open-addressing hash table over token keys (linear probing, at most 1/4 full)."""

    def __init__(self, keys, ids, lengths, words, bits, probes):
        self.keys, self.ids, self.lengths, self.words = keys, ids, lengths, words
        self.shift, self.mask, self.probes = np.uint64(64 - bits), (1 << bits) - 1, probes

    @classmethod
    def build(cls, lookup: dict[str, int]) -> "_KeyTable | None":
        words = list(lookup)
        if not words:
            return None
        joined = "\n".join(words)
        lengths = np.array([len(w) for w in words], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
        keys = token_keys(code_points(joined), starts, starts + lengths)
        if len(np.unique(keys)) != len(keys):
            return None  # two words share a key: keep the regex for this vocabulary
        bits = max(4, int(np.ceil(np.log2(4 * len(keys)))))
        size = 1 << bits
        t_keys, t_ids, t_len = np.zeros(size, np.uint64), np.full(size, _EMPTY, np.int64), np.zeros(size, np.int64)
        table = cls(t_keys, t_ids, t_len, np.array(words, dtype=object), bits, 0)
        home = table._home(keys)
        pending, probe = np.arange(len(keys)), 0
        while pending.size:  # probe round r: every word not yet placed tries home + r; the first claim wins a slot
            slot = (home[pending] + probe) & table.mask
            free = t_ids[slot] == _EMPTY
            slot, free_words = np.unique(slot[free], return_index=True)
            won = pending[free][free_words]
            t_keys[slot], t_ids[slot], t_len[slot] = keys[won], won, lengths[won]
            pending = np.setdiff1d(pending, won, assume_unique=True)
            probe += 1
        table.probes = probe
        table.word_ids = np.array([lookup[w] for w in words], dtype=np.int64)
        return table

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _SLOT_MIX) >> self.shift).astype(np.int64)

    def lookup(self, keys: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The index into `words` of each key (-1: not a word)."""
        found = np.full(len(keys), -1, dtype=np.int64)
        home = self._home(keys)
        pending = np.arange(len(keys))
        for probe in range(self.probes):
            slot = (home[pending] + probe) & self.mask
            owner = self.ids[slot]
            hit = (owner != _EMPTY) & (self.keys[slot] == keys[pending]) & (self.lengths[slot] == lengths[pending])
            found[pending[hit]] = owner[hit]
            pending = pending[~hit & (owner != _EMPTY)]
            if not pending.size:
                break
        return found

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, starts) of the tokens of `text` (already lowercased if the tokenizer lowercases)."""
        ids, starts = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for offset, block in _blocks(text):
            cps = code_points(block)
            s, e = token_spans(char_classes(cps))
            lengths = e - s
            found = self.lookup(token_keys(cps, s, e), lengths)
            for i in np.flatnonzero((found >= 0) & (lengths > VERIFY_CHARS)).tolist():  # long: compare strings
                if block[s[i] : e[i]] != self.words[found[i]]:
                    found[i] = -1
            ids.append(np.where(found >= 0, self.word_ids[found], UNK_ID))
            starts.append(s + offset)
        return np.concatenate(ids), np.concatenate(starts)


def _blocks(text: str):
    """(offset, piece) of `text` in pieces of about BLOCK_CHARS, each cut after a newline or space (no token
    holds one, so no token is cut)."""
    start = 0
    while start < len(text):
        end = len(text)
        if end - start > 2 * BLOCK_CHARS:
            for sep in ("\n", " "):
                cut = text.find(sep, start + BLOCK_CHARS)
                if cut >= 0:
                    end = cut + 1
                    break
        yield start, text[start:end]
        start = end
