"""Character tokenizer: one id per Unicode code point seen in training, plus the special tokens, plus byte fallback.

Vocabulary: [PAD] [UNK] [BOS] [EOS] [MASK] (ids 0..4), the alphabet (the characters seen in training, sorted), then
256 byte tokens <0x00> .. <0xFF>. A character outside the alphabet is written as its UTF-8 bytes, one byte token
each (sentencepiece's byte fallback), so any text encodes and decodes losslessly. Decoding joins the characters
and bytes and reads the bytes as UTF-8 (an invalid sequence, which only a model can produce, becomes U+FFFD).

Other handling of unseen characters (`unknown=`): "unk" maps them to [UNK] (no byte tokens in the vocabulary; what
files written before byte fallback existed do when loaded), "error" refuses them naming them.

Encoding is vectorised: the text's code points (one numpy view of its UTF-32 bytes) index a dense lookup table
(code point -> id), so no Python runs per character; unseen ones are expanded to their bytes arithmetically.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import TinytxError
from .base import SPECIAL_TOKENS, UNK_ID, ListVocabTokenizer, gc_paused, iter_texts

UNKNOWN = ("bytes", "unk", "error")
BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))


class CharTokenizer(ListVocabTokenizer):
    kind = "char"

    def __init__(self, chars: Iterable[str], unknown: str = "bytes"):
        """chars: the alphabet (ids follow the special tokens in this order). unknown: "bytes" (byte fallback:
        unseen characters become their UTF-8 bytes, 256 byte tokens after the alphabet), "unk" (they become
        [UNK]), or "error" (they are refused with a message that names them)."""
        self.chars = list(chars)
        if unknown not in UNKNOWN:
            raise ValueError(f"unknown must be one of {', '.join(map(repr, UNKNOWN))}")
        self.unknown = unknown
        # the id of byte 0x00 (byte b is byte_offset + b), or None without byte fallback
        self.byte_offset = len(SPECIAL_TOKENS) + len(self.chars) if unknown == "bytes" else None
        self._set_vocab(self.chars + (list(BYTE_TOKENS) if unknown == "bytes" else []))
        if len(self._index) != len(self.vocab):
            raise TinytxError("the alphabet has repeated characters, or a special or byte token's spelling")
        codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
        # dense table over code points 0..max: at most 1.1M entries (4.4 MB) even for emoji alphabets
        self._lut = np.full(int(codes.max(initial=-1)) + 2, UNK_ID, dtype=np.int32)
        self._lut[codes] = np.arange(len(codes)) + len(SPECIAL_TOKENS)
        # id -> its UTF-8 bytes, for decoding text that has byte tokens
        self._bytes = np.array([t.encode("utf-8") for t in SPECIAL_TOKENS]
                               + [c.encode("utf-8", "surrogatepass") for c in self.chars]
                               + ([bytes([b]) for b in range(256)] if unknown == "bytes" else []), dtype=object)

    @classmethod
    def train(cls, texts, vocab_size=None, min_frequency=1, **options):
        counts: dict[str, int] = {}
        for text in iter_texts(texts):
            cps, n = np.unique(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), return_counts=True)
            for c, k in zip(cps.tolist(), n.tolist()):
                counts[chr(c)] = counts.get(chr(c), 0) + k
        chars = sorted(c for c, n in counts.items() if n >= min_frequency)
        if not chars:
            raise TinytxError("empty corpus: no characters to build a vocabulary from")
        fallback = 256 if options.get("unknown", "bytes") == "bytes" else 0
        need = len(chars) + len(SPECIAL_TOKENS) + fallback
        if vocab_size is not None and vocab_size < need:
            raise TinytxError(
                f"vocab size {vocab_size} is smaller than the alphabet: the text has {len(chars)} characters "
                f"(+{len(SPECIAL_TOKENS)} special tokens" + (f" + {fallback} byte tokens" if fallback else "")
                + f" = {need})"
            )
        return cls(chars, **options)

    def unknown_chars(self, text: str) -> list[str]:
        """The distinct characters of `text` outside the alphabet, sorted (they become bytes, [UNK] or an error)."""
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        unseen = self._lut[np.minimum(cps, len(self._lut) - 1)] == UNK_ID
        return [chr(c) for c in np.unique(cps[unseen]).tolist()]

    def encode_array(self, text: str) -> np.ndarray:
        """The ids of `text` as an int64 array (the fast path used by streaming encode)."""
        return self._encode_cps(text)[0]

    def _encode_cps(self, text: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(ids, ends): ends[i] is where the ids of the text's i-th character end (None: one id per character)."""
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = self._lut[np.minimum(cps, len(self._lut) - 1)].astype(np.int64)  # the table's last entry is [UNK]
        unseen = ids == UNK_ID
        if self.unknown == "unk" or not unseen.any():
            return ids, None
        if self.unknown == "error":
            missing = sorted({chr(c) for c in cps[unseen].tolist()})
            raise TinytxError(
                f"text has characters the tokenizer never saw: {''.join(missing)!r} "
                "(use unknown='unk' / --unknown unk to map them to [UNK])"
            )
        # byte fallback: each unseen code point becomes its 1-4 UTF-8 bytes
        c = cps[unseen].astype(np.int64)
        width = np.ones(len(cps), dtype=np.int64)
        width[unseen] = n = 1 + (c >= 0x80) + (c >= 0x800) + (c >= 0x10000)
        ends = np.cumsum(width)
        out = np.empty(int(ends[-1]), dtype=np.int64)
        at = ends - width
        out[at[~unseen]] = ids[~unseen]
        at = at[unseen]
        lead = np.select([n == 1, n == 2, n == 3], [c, 0xC0 | (c >> 6), 0xE0 | (c >> 12)], 0xF0 | (c >> 18))
        out[at] = self.byte_offset + lead
        for j in (1, 2, 3):  # continuation bytes: 10xxxxxx, most significant first
            more = n > j
            out[at[more] + j] = self.byte_offset + (0x80 | ((c[more] >> (6 * (n[more] - 1 - j))) & 0x3F))
        return out, ends

    def encode_batch(self, texts, add_bos=False, add_eos=False):
        if add_bos or add_eos:
            return super().encode_batch(texts, add_bos, add_eos)
        # one vectorised pass over all texts joined, then cut back into rows
        texts = list(texts)
        ends = np.cumsum([len(t) for t in texts])
        flat, char_ends = self._encode_cps("".join(texts))
        if char_ends is not None:  # some characters took several ids: where each text's ids end
            ends = np.where(ends > 0, char_ends[np.maximum(ends - 1, 0)], 0)
        with gc_paused():  # many lists: no cycle collections while they are built
            flat, ends = flat.tolist(), ends.tolist()
            return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends)]

    def _encode(self, text):
        return self.encode_array(text).tolist()

    def decode(self, ids, skip_special=True):
        ids = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=np.int64)
        if self.byte_offset is None or not (ids >= self.byte_offset).any():
            return "".join(self._tokens(ids, skip_special))
        if ids.min() < 0 or ids.max() >= len(self.vocab):
            raise TinytxError(f"id out of range for a vocabulary of {len(self.vocab)}")
        if skip_special:
            ids = ids[ids >= len(SPECIAL_TOKENS)]
        return b"".join(self._bytes[ids]).decode("utf-8", "replace")

    def to_dict(self):
        return {"kind": self.kind, "special_tokens": list(SPECIAL_TOKENS), "chars": self.chars,
                "byte_fallback": self.unknown == "bytes"}

    @classmethod
    def from_dict(cls, d):
        if list(d.get("special_tokens", SPECIAL_TOKENS)) != list(SPECIAL_TOKENS):
            raise TinytxError("tokenizer file has different special tokens than this version of tinytx")
        # files from before byte fallback have no "byte_fallback": they keep mapping unseen characters to [UNK]
        return cls(d["chars"], "bytes" if d.get("byte_fallback", False) else "unk")
