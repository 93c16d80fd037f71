"""Streaming encode: a text file of any size -> a flat uint16/uint32 token file (.bin) + a JSON sidecar.

The file is read in chunks cut at line ends (so no UTF-8 character or line is split), each chunk is encoded
(in parallel inside the Rust/C++ libraries for BPE and unigram, vectorised for char) and appended to the output.
Memory is bounded by the chunk size, not the file size.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from itertools import chain
from typing import Iterator

import numpy as np

from ..errors import TinytxError
from ..io import atomic_path, read_json, write_json
from ..specials import UNK_ID
from ..tokenizers.base import Tokenizer

CHUNK_BYTES = 1 << 20  # memory per chunk is a small multiple of this (ids, Python lists in the libraries)


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 65536 else np.uint32)


def tokenizer_hash(tokenizer: Tokenizer) -> str:
    return hashlib.sha256(json.dumps(tokenizer.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def read_chunks(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """UTF-8 text of `path` in pieces of about chunk_bytes, each ending at a line end (or the file's end; a single
    line longer than chunk_bytes is cut at a character boundary)."""
    for text, _ in read_sized_chunks(path, chunk_bytes):
        yield text


def read_sized_chunks(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[str, int]]:
    """read_chunks, with each piece's size in bytes (for the progress bar)."""
    path = Path(path)
    if path.is_dir():
        raise TinytxError(f"{path}: is a directory, not a text file")
    if not path.is_file():
        raise TinytxError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise TinytxError(f"{path}: the file is empty")
    offset, rest = 0, b""
    with open(path, "rb") as f:
        if b"\x00" in f.read(8000):  # git's test for binary files, as tokenizers.base does
            raise TinytxError(f"{path}: looks like a binary file (contains NUL bytes), not text")
        f.seek(0)
        while True:
            block = f.read(chunk_bytes)
            data = rest + block
            if not block:
                if data:
                    yield _decode(data, path, offset), len(data)
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one very long line: cut before the first byte of the last (maybe partial) character
                cut = len(data)
                while cut > 0 and (data[cut - 1] & 0xC0) == 0x80:  # step back over continuation bytes
                    cut -= 1
                if cut and data[cut - 1] >= 0xC0:  # ... and over the lead byte
                    cut -= 1
                cut = cut or len(data)
            piece, rest = data[:cut], data[cut:]
            yield _decode(piece, path, offset), len(piece)
            offset += len(piece)


def _decode(data: bytes, path: Path, offset: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TinytxError(
            f"{path}: not UTF-8 text (invalid byte at offset {offset + e.start}); convert it to UTF-8 first"
        ) from None


def encode_chunk(tokenizer: Tokenizer, text: str, piece_bytes: int = 1 << 16) -> np.ndarray:
    if hasattr(tokenizer, "encode_array"):  # char and word: vectorised over the whole chunk
        return tokenizer.encode_array(text)
    if tokenizer.kind in ("bpe", "unigram"):
        # pieces of whole lines (~64 KB each) so the library encodes them in parallel with little per-call cost;
        # concatenated, their ids decode to the same text
        pieces = split_lines(text, piece_bytes)
        if hasattr(tokenizer, "encode_flat"):  # bpe: tiktoken's engine, a thread per core
            return tokenizer.encode_flat(pieces)
        # one piece per core at a time: the libraries' per-token objects for a whole chunk would cost ~50 MB
        group = os.cpu_count() or 1
        parts = [np.fromiter(chain.from_iterable(tokenizer.encode_batch(pieces[i : i + group])), dtype=np.int64)
                 for i in range(0, len(pieces), group)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return np.asarray(tokenizer.encode(text), dtype=np.int64)


def split_lines(text: str, size: int) -> list[str]:
    """Cut text into pieces of about `size` characters, each ending at a line end (or the text's end)."""
    pieces, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def sidecar_path(bin_path: str | os.PathLike) -> Path:
    return Path(f"{bin_path}.json")


def encode_file(
    tokenizer: Tokenizer, src: str | os.PathLike, out: str | os.PathLike, progress: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
) -> dict:
    """Encode `src` into `out` (.bin) + `out.json`; returns the sidecar dict. Written atomically.

    The sidecar's "unk_count" is the number of [UNK] ids (a word tokenizer's words outside its vocabulary; a char
    tokenizer without byte fallback's unseen characters; never for bpe and unigram)."""
    dtype = token_dtype(tokenizer.vocab_size)
    total_bytes = Path(src).stat().st_size if Path(src).is_file() else 0
    count = unknown = 0
    unk_id = getattr(tokenizer, "unk_id", UNK_ID)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_bytes, unit="B", unit_scale=True, desc=f"encode {Path(src).name}")
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        for text, nbytes in read_sized_chunks(src, chunk_bytes):
            ids = encode_chunk(tokenizer, text)
            ids.astype(dtype).tofile(f)
            count += len(ids)
            if unk_id is not None:
                unknown += int(np.count_nonzero(ids == unk_id))
            if bar is not None:
                bar.update(nbytes)
        f.flush()
    if bar is not None:
        bar.close()
    meta = {"dtype": dtype.name, "count": count, "unk_count": unknown if unk_id is not None else None,
            "tokenizer_kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size,
            "tokenizer_hash": tokenizer_hash(tokenizer), "source": str(src)}
    write_json(sidecar_path(out), meta)
    return meta


def read_sidecar(path: str | os.PathLike) -> dict:
    """The checked sidecar of a token file: an integer dtype, a count >= 0 (and whatever else encode_file wrote)."""
    side = sidecar_path(path)
    if not side.is_file():
        raise TinytxError(f"{path}: no sidecar {side.name} naming its dtype")
    meta = read_json(side)
    bad = f"{side}: not a token-file sidecar"
    if not isinstance(meta, dict) or "dtype" not in meta or "count" not in meta:
        raise TinytxError(f"{bad} (needs dtype and count)")
    try:
        dtype = np.dtype(meta["dtype"])
    except TypeError:
        raise TinytxError(f"{bad} (unknown dtype {meta['dtype']!r})") from None
    if dtype.kind not in "ui":
        raise TinytxError(f"{bad} (dtype {meta['dtype']!r} is not an integer type)")
    if not isinstance(meta["count"], int) or isinstance(meta["count"], bool) or meta["count"] < 0:
        raise TinytxError(f"{bad} (count {meta['count']!r} is not a number of tokens)")
    return meta


def load_tokens(path: str | os.PathLike) -> np.memmap:
    """Memory-map a .bin written by encode_file (its dtype comes from the sidecar)."""
    path = Path(path)
    if path.is_dir():
        raise TinytxError(f"{path}: is a directory, not a token file")
    if not path.is_file():
        raise TinytxError(f"{path}: token file not found")
    meta = read_sidecar(path)
    if path.stat().st_size != meta["count"] * np.dtype(meta["dtype"]).itemsize:
        raise TinytxError(f"{path}: size does not match its sidecar ({meta['count']} {meta['dtype']} tokens); "
                          "the file is truncated or was replaced")
    if meta["count"] == 0:
        return np.zeros(0, dtype=meta["dtype"])
    return np.memmap(path, dtype=meta["dtype"], mode="r", shape=(meta["count"],))


def unknown_count(tokens: np.ndarray, chunk: int = 1 << 24) -> int:
    """The number of [UNK] ids in a token array or memmap (read in chunks)."""
    return sum(int(np.count_nonzero(np.asarray(tokens[i : i + chunk]) == UNK_ID)) for i in range(0, len(tokens), chunk))


def split_tokens(path: str | os.PathLike, val_fraction: float, train_out, val_out, chunk: int = 1 << 24) -> tuple[dict, dict]:
    """Copy the first (1 - val_fraction) of a token file to train_out and the rest to val_out, in chunks."""
    if not 0 < val_fraction < 1:
        raise TinytxError(f"val fraction must be between 0 and 1, got {val_fraction}")
    tokens = load_tokens(path)
    meta = read_sidecar(path)
    n_val = max(1, int(round(len(tokens) * val_fraction)))
    cut = len(tokens) - n_val
    if cut < 1:
        raise TinytxError(f"{meta.get('source', path)}: too little text ({len(tokens)} tokens) to split into train and val")
    metas = []
    for out, lo, hi in ((train_out, 0, cut), (val_out, cut, len(tokens))):
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            for i in range(lo, hi, chunk):
                np.asarray(tokens[i : min(hi, i + chunk)]).tofile(f)
        m = {**meta, "count": hi - lo, "split": "train" if lo == 0 else "val"}
        if "unk_count" in meta:  # this part's own ([UNK] is id 1 in tinytx's own kinds; an "hf" one has its own)
            own = meta.get("tokenizer_kind") in ("char", "word", "bpe", "unigram")
            m["unk_count"] = unknown_count(tokens[lo:hi]) if own and isinstance(meta["unk_count"], int) else None
        write_json(sidecar_path(out), m)
        metas.append(m)
    return metas[0], metas[1]


def decode_file(tokenizer: Tokenizer, src: str | os.PathLike, out: str | os.PathLike, chunk: int = 1 << 20) -> None:
    """Inverse of encode_file: for char, bpe and unigram the text comes back byte for byte.

    Decoding goes in chunks. A byte-level token may hold half a character, so a chunk may only end after a token
    that ends a line (encode_file encodes line by line, so such tokens are where lines end); for char, after any
    token but a byte token (byte fallback spells an unseen character in 1-4 of them).
    """
    tokens = load_tokens(src)
    meta = read_sidecar(src)
    if meta.get("vocab_size") != tokenizer.vocab_size or meta.get("tokenizer_hash") != tokenizer_hash(tokenizer):
        if "vocab_size" not in meta or "tokenizer_hash" not in meta:
            raise TinytxError(f"{sidecar_path(src)}: does not name the tokenizer the tokens were made with "
                              "(no vocab_size / tokenizer_hash); it was not written by `tinytx tokenize encode`")
        raise TinytxError(f"{src}: was encoded with a different tokenizer ({meta.get('tokenizer_kind', '?')}, "
                          f"vocab {meta['vocab_size']})")
    if tokenizer.kind == "char":  # a chunk may end after any token but a byte (byte fallback: part of a character)
        cut_after = np.arange(tokenizer.vocab_size) < (getattr(tokenizer, "byte_offset", None) or tokenizer.vocab_size)
    else:  # a byte-level token may hold half a character: cut after a token that ends a line
        cut_after = np.array([tokenizer.decode([i], skip_special=False).endswith("\n")
                              for i in range(tokenizer.vocab_size)])
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        start = 0
        while start < len(tokens):
            end = min(len(tokens), start + chunk)
            ids = np.asarray(tokens[start:end]).astype(np.int64)
            if ids.size and int(ids.max()) >= tokenizer.vocab_size:
                raise TinytxError(f"{src}: holds token id {int(ids.max())}, beyond the tokenizer's vocabulary of "
                                  f"{tokenizer.vocab_size}; the file is corrupt")
            if end < len(tokens):
                cuts = np.flatnonzero(cut_after[ids])
                if len(cuts):
                    end = start + int(cuts[-1]) + 1
                    ids = ids[: end - start]
            f.write(tokenizer.decode(ids.tolist(), skip_special=False))
            start = end
