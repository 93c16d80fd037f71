"""Byte-level BPE on the Rust `tokenizers` library: lossless for any UTF-8 text.

The saved file is the library's own tokenizer.json, so `tokenizers.Tokenizer.from_file` (and anything built on
it) loads it as is. We add no Python per token: encode/decode go straight to the Rust code, batches in parallel.
"""
from __future__ import annotations

import json
import os

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from ..errors import TinytxError
from .base import BOS_ID, EOS_ID, SPECIAL_TOKENS, Tokenizer, _is_path, iter_pieces, read_text


class BPETokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, hf: HFTokenizer):
        self.hf = hf
        # "[EOS]" typed by a user is text, not the special token (no special-token injection)
        self.hf.encode_special_tokens = True
        ids = [hf.token_to_id(t) for t in SPECIAL_TOKENS]
        if ids != list(range(len(SPECIAL_TOKENS))):
            raise TinytxError(f"BPE tokenizer must have {', '.join(SPECIAL_TOKENS)} at ids 0..4, has {ids}")

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

    def _encode(self, text):
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts, add_bos=False, add_eos=False):
        # the Rust library encodes a batch on all cores; the _fast variant skips the offsets we never use
        encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)  # _fast: tokenizers >= 0.21
        out = [e.ids for e in encode(list(texts), add_special_tokens=False)]
        if add_bos or add_eos:
            out = [([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else []) for ids in out]
        return out

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
