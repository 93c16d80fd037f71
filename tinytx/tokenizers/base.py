"""The Tokenizer interface shared by every kind, and the special tokens every kind has at fixed ids.

Tokenizers import no torch: they deal in lists of ints (and numpy arrays for padded batches).
"""
from __future__ import annotations

import gc
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import TinytxError
from ..io import write_json

from ..specials import BOS_ID, EOS_ID, MASK_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID  # noqa: F401 (re-exported)


class Tokenizer:
    """Text <-> ids. Subclasses implement `train`, `_encode`, `decode`, the vocabulary lookups and JSON I/O.

    Text that merely contains "[EOS]" is encoded as ordinary characters, never as the special id: special ids
    enter a sequence only through `add_bos`/`add_eos` (or the caller).
    """

    kind = "base"
    # the special ids: the fixed 0..4 for tinytx's own kinds; an imported tokenizer ("hf") has its own, or None
    pad_id: int | None = PAD_ID
    unk_id: int | None = UNK_ID
    bos_id: int | None = BOS_ID
    eos_id: int | None = EOS_ID

    # --- building ----------------------------------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int | None = None, min_frequency: int = 1, **options) -> "Tokenizer":
        raise NotImplementedError

    # --- encode / decode ------------------------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = self._encode(text)
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def encode_batch(self, texts: Sequence[str], add_bos: bool = False, add_eos: bool = False) -> list[list[int]]:
        return [self.encode(t, add_bos, add_eos) for t in texts]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        raise NotImplementedError

    def decode_batch(self, batch: Iterable[Iterable[int]], skip_special: bool = True) -> list[str]:
        return [self.decode(ids, skip_special) for ids in batch]

    def encode_padded(
        self, texts: Sequence[str], max_length: int | None = None, pad_to: int | None = None,
        add_bos: bool = False, add_eos: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode a batch for a model: (ids (B, L) int64, attention mask (B, L) bool, True = real token).

        Rows are cut to max_length (an [EOS] added by add_eos is cut too if the row is longer), then padded
        with [PAD] (id 0) to the longest row, or to exactly `pad_to` columns."""
        return pad_batch(self.encode_batch(texts, add_bos, add_eos), max_length=max_length, pad_to=pad_to)

    # --- vocabulary -------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def token_to_id(self, token: str) -> int | None:
        raise NotImplementedError

    def id_to_token(self, i: int) -> str | None:
        raise NotImplementedError

    # --- files --------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        kind, d = read_tokenizer_file(path)
        if kind != cls.kind:
            raise TinytxError(f"{path}: is a {kind} tokenizer, not {cls.kind}")
        return from_file_dict(cls, d, path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class ListVocabTokenizer(Tokenizer):
    """A tokenizer whose vocabulary is a plain list: the special tokens, then `items` (chars or words)."""

    def _set_vocab(self, items: list[str]) -> None:
        self.vocab = list(SPECIAL_TOKENS) + list(items)
        self._index = {t: i for i, t in enumerate(self.vocab)}
        self._table = np.array(self.vocab, dtype=object)  # id -> token, for vectorised decode

    def _tokens(self, ids: Iterable[int], skip_special: bool, keep: tuple[int, ...] = ()) -> np.ndarray:
        """The token strings of `ids` (range-checked), without special ids unless kept."""
        ids = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise TinytxError(f"id out of range for a vocabulary of {len(self.vocab)}")
        if skip_special:
            ids = ids[(ids >= len(SPECIAL_TOKENS)) | np.isin(ids, keep)]
        return self._table[ids]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token_to_id(self, token: str) -> int | None:
        return self._index.get(token)

    def id_to_token(self, i: int) -> str | None:
        return self.vocab[i] if 0 <= i < len(self.vocab) else None


def pad_batch(
    batch: Sequence[Sequence[int]], max_length: int | None = None, pad_to: int | None = None, pad_id: int = PAD_ID,
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists into one array: (ids (B, L) int64, mask (B, L) bool, True = real token).

    max_length truncates each row; L is the longest (truncated) row, or exactly `pad_to` when given."""
    cap = min(x for x in (max_length, pad_to) if x is not None) if (max_length or pad_to) else None
    lengths = np.array([len(x) if cap is None else min(len(x), cap) for x in batch], dtype=np.int64)
    width = pad_to if pad_to is not None else int(lengths.max(initial=0))
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    for row, (x, n) in enumerate(zip(batch, lengths)):
        ids[row, :n] = x[:n]
    mask = np.arange(width)[None, :] < lengths[:, None]
    return ids, mask


# --- reading training text ---------------------------------------------------------------------------------------

def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file, with clear errors for missing, binary, non-UTF-8 or empty files."""
    path = Path(path)
    if not path.is_file():
        raise TinytxError(f"{path}: file not found")
    data = path.read_bytes()
    check_text_bytes(data, path)
    return data.decode("utf-8")


def check_text_bytes(data: bytes, path: str | os.PathLike, offset: int = 0) -> None:
    if offset == 0 and b"\x00" in data[:8000]:  # git's test for binary files: NUL near the start
        raise TinytxError(f"{path}: looks like a binary file (contains NUL bytes), not text")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TinytxError(f"{path}: not UTF-8 text (invalid byte at offset {offset + e.start}); convert it to UTF-8 first") from None


def iter_texts(files_or_texts: str | os.PathLike | Iterable) -> Iterator[str]:
    """Training input: a path, a list of paths, or an iterator of strings."""
    if isinstance(files_or_texts, (str, os.PathLike)):
        files_or_texts = [files_or_texts]
    for item in files_or_texts:
        if isinstance(item, os.PathLike) or (isinstance(item, str) and _is_path(item)):
            yield read_text(item)
        else:
            yield item


def iter_pieces(files_or_texts, size: int = 1 << 20) -> Iterator[str]:
    """iter_texts, with long texts cut after a line end every ~size characters (the Rust trainers work on
    many pieces in parallel, but on one huge string with one core)."""
    for text in iter_texts(files_or_texts):
        start = 0
        while start < len(text):
            end = text.find("\n", start + size)
            end = len(text) if end < 0 else end + 1
            yield text[start:end]
            start = end


@contextmanager
def gc_paused():
    """Python's cycle collector off while a batch builds its many id lists (they hold no cycles): otherwise its
    collections, triggered by the allocations, cost 5-8x the building itself on 250k lists."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _is_path(s: str) -> bool:
    return "\n" not in s and len(s) < 4096 and os.path.exists(s)


# --- reading a tokenizer file -------------------------------------------------------------------------------

def read_tokenizer_file(path: str | os.PathLike) -> tuple[str, dict]:
    """(kind, contents) of a tokenizer JSON: tinytx's char/word/unigram format, or a `tokenizers` BPE file."""
    path = Path(path)
    if not path.is_file():
        raise TinytxError(f"{path}: tokenizer file not found")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TinytxError(f"{path}: not a tokenizer JSON file ({e})") from None
    if not isinstance(d, dict):
        raise TinytxError(f"{path}: not a tokenizer JSON file")
    kind = d.get("kind") or ("bpe" if isinstance(d.get("model"), dict) and d["model"].get("type") == "BPE" else None)
    if kind is None:
        raise TinytxError(f"{path}: not a tokenizer file (no \"kind\" field and not a `tokenizers` BPE file)")
    return kind, d


def from_file_dict(cls, d: dict, path) -> "Tokenizer":
    """cls.from_dict with a corrupt file reported as one line."""
    try:
        return cls.from_dict(d)
    except TinytxError:
        raise
    except Exception as e:
        raise TinytxError(f"{path}: corrupt {cls.kind} tokenizer file ({type(e).__name__}: {e})") from None
