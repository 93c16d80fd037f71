"""A `tokenizers` pipeline kept as it was made elsewhere (kind "hf"): the tokenizer of an imported Hugging Face model.

tinytx's own kinds have [PAD] [UNK] [BOS] [EOS] [MASK] at ids 0..4. A pretrained model's tokenizer does not (GPT-2:
50,256 byte-level BPE tokens, then <|endoftext|> at 50256), and its ids are what the model's embedding rows index,
so they cannot be renumbered. This kind wraps the pipeline unchanged and names its special tokens itself:

    {"kind": "hf", "special_tokens": {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "unk": null, "pad": null},
     "vocab_size": 50257, "tokenizer": {... the `tokenizers` JSON, as saved by the library ...}}

`bos_id`, `eos_id`, `unk_id` and `pad_id` are then that tokenizer's own ids (or None), not the fixed 0..4; the
code that needs one asks the tokenizer. As with every tinytx kind, text that merely contains a special token's
spelling ("<|endoftext|>") is encoded as ordinary text: special ids enter only through add_bos/add_eos. `unk_id`
is the model's own unknown token (a byte-level BPE has none: every text is covered). `vocab_size` may exceed
the pipeline's own size when the model's embedding has padding rows (ids no text encodes to).
"""
from __future__ import annotations

import json

from tokenizers import Tokenizer as RustTokenizer

from ..errors import TinytxError
from .base import Tokenizer

ROLES = ("bos", "eos", "unk", "pad")


class HFTokenizer(Tokenizer):
    kind = "hf"

    def __init__(self, pipeline: RustTokenizer, special_tokens: dict[str, str | None] | None = None,
                 vocab_size: int | None = None):
        self.hf = pipeline
        self.hf.encode_special_tokens = True  # typed "<|endoftext|>" is text, as for every tinytx kind
        self.special_tokens = {role: (special_tokens or {}).get(role) for role in ROLES}
        for role, token in self.special_tokens.items():
            if token is not None and pipeline.token_to_id(token) is None:
                raise TinytxError(f"the {role} token {token!r} is not in the tokenizer's vocabulary")
        own = pipeline.get_vocab_size(with_added_tokens=True)
        self._own_size = own
        self._size = max(own, vocab_size or 0)
        model = json.loads(pipeline.to_str()).get("model", {})
        self._unk = model.get("unk_token")  # the model's real unknown token (None for byte-level BPE)

    @classmethod
    def train(cls, texts, vocab_size=None, min_frequency=1, **options):
        raise TinytxError("an hf tokenizer is not trained by tinytx: it comes with a model (tinytx import hf)")

    # --- special ids: this tokenizer's own ----------------------------------------------------------------------
    def _id(self, token: str | None) -> int | None:
        return None if token is None else self.hf.token_to_id(token)

    @property
    def bos_id(self) -> int | None:
        return self._id(self.special_tokens["bos"])

    @property
    def eos_id(self) -> int | None:
        return self._id(self.special_tokens["eos"])

    @property
    def pad_id(self) -> int | None:
        return self._id(self.special_tokens["pad"])

    @property
    def unk_id(self) -> int | None:
        return self._id(self._unk)

    # --- encode / decode ------------------------------------------------------------------------------------------
    def _with_specials(self, ids: list[int], add_bos: bool, add_eos: bool) -> list[int]:
        for wanted, role in ((add_bos, "bos"), (add_eos, "eos")):
            if wanted and self._id(self.special_tokens[role]) is None:
                raise TinytxError(f"this tokenizer has no {role} token")
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def _encode(self, text):
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode(self, text, add_bos=False, add_eos=False):
        return self._with_specials(self._encode(text), add_bos, add_eos)

    def encode_batch(self, texts, add_bos=False, add_eos=False):
        encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)
        return [self._with_specials(e.ids, add_bos, add_eos) for e in encode(list(texts), add_special_tokens=False)]

    def _known(self, ids) -> list[int]:
        """Padding rows of the model's embedding have no token: they decode to nothing."""
        ids = [int(i) for i in ids]
        if any(i < 0 or i >= self._size for i in ids):
            raise TinytxError(f"id out of range for a vocabulary of {self._size}")
        return [i for i in ids if i < self._own_size]

    def decode(self, ids, skip_special=True):
        return self.hf.decode(self._known(ids), skip_special_tokens=skip_special)

    def decode_batch(self, batch, skip_special=True):
        return self.hf.decode_batch([self._known(ids) for ids in batch], skip_special_tokens=skip_special)

    # --- vocabulary -------------------------------------------------------------------------------------------
    @property
    def vocab_size(self):
        return self._size

    def token_to_id(self, token):
        return self.hf.token_to_id(token)

    def id_to_token(self, i):
        return self.hf.id_to_token(i)

    # --- files --------------------------------------------------------------------------------------------------
    def to_dict(self):
        return {"kind": self.kind, "special_tokens": dict(self.special_tokens), "vocab_size": self._size,
                "tokenizer": json.loads(self.hf.to_str())}

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d.get("tokenizer"), dict):
            raise TinytxError("an hf tokenizer file needs a \"tokenizer\" object (a `tokenizers` JSON)")
        specials = d.get("special_tokens") or {}
        if not isinstance(specials, dict):
            raise TinytxError("\"special_tokens\" must map bos/eos/unk/pad to tokens")
        return cls(RustTokenizer.from_str(json.dumps(d["tokenizer"])), specials, d.get("vocab_size"))
