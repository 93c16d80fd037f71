"""Character tokenizer: one id per Unicode code point seen in training, plus the special tokens.

Encoding is vectorised: the text's code points (one numpy view of its UTF-32 bytes) index a dense lookup table
(code point -> id), so no Python runs per character.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import TinytxError
from .base import SPECIAL_TOKENS, UNK_ID, ListVocabTokenizer, iter_texts


class CharTokenizer(ListVocabTokenizer):
    kind = "char"

    def __init__(self, chars: Iterable[str], unknown: str = "unk"):
        """chars: the alphabet (ids follow the special tokens in this order). unknown: "unk" maps unseen
        characters to [UNK]; "error" refuses them with a message that names them."""
        self.chars = list(chars)
        if unknown not in ("unk", "error"):
            raise ValueError("unknown must be 'unk' or 'error'")
        self.unknown = unknown
        self._set_vocab(self.chars)
        codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
        # dense table over code points 0..max: at most 1.1M entries (4.4 MB) even for emoji alphabets
        self._lut = np.full(int(codes.max(initial=-1)) + 2, UNK_ID, dtype=np.int32)
        self._lut[codes] = np.arange(len(codes)) + len(SPECIAL_TOKENS)

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
        need = len(chars) + len(SPECIAL_TOKENS)
        if vocab_size is not None and vocab_size < need:
            raise TinytxError(
                f"vocab size {vocab_size} is smaller than the alphabet: the text has {len(chars)} characters "
                f"(+{len(SPECIAL_TOKENS)} special tokens = {need})"
            )
        return cls(chars, **options)

    def encode_array(self, text: str) -> np.ndarray:
        """The ids of `text` as an int64 array (the fast path used by streaming encode)."""
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = self._lut[np.minimum(cps, len(self._lut) - 1)]  # the table's last entry is [UNK]
        if self.unknown == "error" and (ids == UNK_ID).any():
            missing = sorted({chr(c) for c in cps[ids == UNK_ID].tolist()})
            raise TinytxError(
                f"text has characters the tokenizer never saw: {''.join(missing)!r} "
                "(use unknown='unk' / --unknown unk to map them to [UNK])"
            )
        return ids.astype(np.int64)

    def encode_batch(self, texts, add_bos=False, add_eos=False):
        if add_bos or add_eos:
            return super().encode_batch(texts, add_bos, add_eos)
        # one vectorised pass over all texts joined, then cut back into rows
        texts = list(texts)
        ends = np.cumsum([len(t) for t in texts]).tolist()
        flat = self.encode_array("".join(texts)).tolist()
        return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends)]

    def _encode(self, text):
        return self.encode_array(text).tolist()

    def decode(self, ids, skip_special=True):
        return "".join(self._tokens(ids, skip_special))

    def to_dict(self):
        return {"kind": self.kind, "special_tokens": list(SPECIAL_TOKENS), "chars": self.chars}

    @classmethod
    def from_dict(cls, d):
        if list(d.get("special_tokens", SPECIAL_TOKENS)) != list(SPECIAL_TOKENS):
            raise TinytxError("tokenizer file has different special tokens than this version of tinytx")
        return cls(d["chars"])

