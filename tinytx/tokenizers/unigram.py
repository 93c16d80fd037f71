"""Unigram (or BPE) tokenizer on `sentencepiece`, set up to round-trip any text exactly by default.

Lossless set-up: identity normalisation, no removal of extra whitespace, no dummy prefix space, and byte
fallback (any character outside the learned pieces, "\\n" included, becomes its UTF-8 bytes). Pass
`normalize=True` for sentencepiece's NFKC normalisation instead (then decode(encode(s)) may differ from s).
The model proto is stored base64-encoded inside the one JSON file.

sentencepiece writes spaces as "▁" and so decodes a real "▁" as a space. To keep that character too we swap it
for the Unicode noncharacter U+FDD0 (reserved for internal use, never in real text) before encoding and back after
decoding: the only text that does not round-trip is text that contains U+FDD0 itself.
"""
from __future__ import annotations

import base64
import io
import re

import sentencepiece as spm

from ..errors import TinytxError
from .base import SPECIAL_TOKENS, Tokenizer, iter_texts

META, ESCAPE = "\u2581", "\ufdd0"
MAX_SENTENCE = 4192  # sentencepiece skips longer training lines; we cut them instead


class UnigramTokenizer(Tokenizer):
    kind = "unigram"

    def __init__(self, proto: bytes, normalize: bool = False):
        self.proto, self.normalize = proto, normalize
        self.sp = spm.SentencePieceProcessor(model_proto=proto)
        ids = [self.sp.piece_to_id(t) for t in SPECIAL_TOKENS]
        if ids != list(range(len(SPECIAL_TOKENS))):
            raise TinytxError(f"sentencepiece model must have {', '.join(SPECIAL_TOKENS)} at ids 0..4, has {ids}")

    @classmethod
    def train(cls, texts, vocab_size=None, min_frequency=1, normalize=False, model_type="unigram", **options):
        def lines():
            for text in iter_texts(texts):
                for line in _escape(text).splitlines():
                    for i in range(0, len(line), MAX_SENTENCE):
                        yield line[i : i + MAX_SENTENCE]

        it = iter(lines())
        first = next((line for line in it if line.strip()), None)
        if first is None:
            raise TinytxError("empty corpus: no text to train a sentencepiece model on")

        def all_lines():
            yield first
            yield from it

        out = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=all_lines(), model_writer=out, vocab_size=vocab_size or 8000,
                model_type=model_type, character_coverage=0.9995, byte_fallback=True,
                normalization_rule_name="nmt_nfkc" if normalize else "identity",
                remove_extra_whitespaces=normalize, add_dummy_prefix=normalize,
                allow_whitespace_only_pieces=True, split_digits=False, hard_vocab_limit=False,
                pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="[PAD]", unk_piece="[UNK]",
                bos_piece="[BOS]", eos_piece="[EOS]", control_symbols=["[MASK]"],
                input_sentence_size=options.get("input_sentence_size", 2_000_000), shuffle_input_sentence=True,
                num_threads=options.get("num_threads", 4), minloglevel=2,
            )
        except RuntimeError as e:
            msg = str(e).strip().splitlines()[-1]
            need = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", msg)
            if need:
                raise TinytxError(
                    f"vocab size {need.group(1)} is smaller than the alphabet: this text needs at least "
                    f"{need.group(2)} (256 byte pieces + special tokens + its characters)"
                ) from None
            raise TinytxError(f"sentencepiece could not train: {msg}") from None
        return cls(out.getvalue(), normalize)

    def _encode(self, text):
        return self.sp.encode(_escape(text))

    def encode_batch(self, texts, add_bos=False, add_eos=False):
        texts = [_escape(t) for t in texts]
        return self.sp.encode(texts, add_bos=add_bos, add_eos=add_eos, num_threads=0)  # 0 = all cores

    def encode(self, text, add_bos=False, add_eos=False):
        return self.sp.encode(_escape(text), add_bos=add_bos, add_eos=add_eos)

    def decode(self, ids, skip_special=True):
        ids = [int(i) for i in ids]
        if not skip_special and any(i < len(SPECIAL_TOKENS) for i in ids):
            # sentencepiece never prints control pieces; spell them out ourselves
            n = len(SPECIAL_TOKENS)
            parts, run = [], []
            for i in ids:
                if i < n:
                    parts.append(self.sp.decode(run))
                    parts.append(SPECIAL_TOKENS[i])
                    run = []
                else:
                    run.append(i)
            return _unescape("".join(parts) + self.sp.decode(run))
        return _unescape(self.sp.decode(ids))

    def decode_batch(self, batch, skip_special=True):
        if skip_special:
            return [_unescape(s) for s in self.sp.decode([[int(i) for i in ids] for ids in batch], num_threads=0)]
        return [self.decode(ids, skip_special) for ids in batch]

    @property
    def vocab_size(self):
        return self.sp.get_piece_size()

    def token_to_id(self, token):
        i = self.sp.piece_to_id(token)
        return None if (i == 1 and token != "[UNK]") else i

    def id_to_token(self, i):
        return self.sp.id_to_piece(i) if 0 <= i < self.vocab_size else None

    def to_dict(self):
        return {"kind": self.kind, "special_tokens": list(SPECIAL_TOKENS), "normalize": self.normalize,
                "model_proto": base64.b64encode(self.proto).decode("ascii")}

    @classmethod
    def from_dict(cls, d):
        return cls(base64.b64decode(d["model_proto"]), d.get("normalize", False))


def _escape(text: str) -> str:
    return text.replace(META, ESCAPE) if META in text else text


def _unescape(text: str) -> str:
    return text.replace(ESCAPE, META) if ESCAPE in text else text
