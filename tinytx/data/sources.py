"""Local data files -> Python lists, through HF `datasets` (offline: nothing is ever downloaded).

    texts = load_texts("corpus.txt", by="line")                  # or "paragraph" / "document"
    texts = load_texts("train.csv", column="text")               # csv, csv.gz, jsonl, jsonl.gz
    table = load_table("train.csv.gz", columns=["text", "label"])  # {"text": [...], "label": [...]}
    texts, labels = read_csv_columns("train.csv", "text", "label")
    pairs = read_pairs("train.de", "train.en")                   # line i of one file pairs with line i of the other

Every problem a user can fix (missing file, missing column, empty file, binary or non-UTF-8 file) is a TinytxError
with one readable line.
"""
from __future__ import annotations

import codecs
import gzip
import os
from pathlib import Path
from typing import Sequence

from ..errors import TinytxError

TEXT_SUFFIXES = (".txt", ".text", ".md", ".de", ".en", ".fr", ".src", ".tgt")
TABLE_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json"}


def file_format(path: str | os.PathLike) -> str:
    """'csv', 'json' (JSON lines) or 'text', from the name (a trailing .gz is looked through)."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return TABLE_FORMATS.get(Path(name).suffix, "text")


def check_text_file(path: str | os.PathLike, what: str = "file") -> Path:
    """A readable, non-empty UTF-8 text file (gzip allowed), or a TinytxError that says what is wrong."""
    path = Path(path)
    if not path.exists():
        raise TinytxError(f"{path}: {what} not found")
    if not path.is_file():
        raise TinytxError(f"{path}: is a directory, not a {what}")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    decoder = codecs.getincrementaldecoder("utf-8")()
    size, offset = 0, 0
    try:
        with opener(path, "rb") as f:
            while block := f.read(1 << 20):
                if offset == 0 and b"\x00" in block[:8000]:  # git's test for binary files
                    raise TinytxError(f"{path}: looks like a binary file (contains NUL bytes), not text")
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as e:
                    raise TinytxError(
                        f"{path}: not UTF-8 text (invalid byte at offset {offset + e.start}); convert it to UTF-8 first"
                    ) from None
                size += len(block.strip()) if size == 0 else len(block)
                offset += len(block)
            decoder.decode(b"", final=True)
    except (OSError, EOFError) as e:  # a corrupt .gz, unreadable file
        raise TinytxError(f"{path}: cannot read ({e})") from None
    except UnicodeDecodeError:
        raise TinytxError(f"{path}: not UTF-8 text (it ends in the middle of a character)") from None
    if size == 0:
        raise TinytxError(f"{path}: the {what} is empty")
    return path


def _load_dataset(kind: str, path: Path, **kwargs):
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        return datasets.load_dataset(kind, data_files=str(path), split="train", **kwargs)
    except Exception as e:  # pandas / pyarrow parse errors come in many types; the message is what matters
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        if "corresponds to no data" in msg:
            raise TinytxError(f"{path}: the file has no rows") from None
        raise TinytxError(f"{path}: cannot parse as {kind} ({msg})") from None


def load_table(path: str | os.PathLike, columns: Sequence[str] | None = None) -> dict[str, list]:
    """A csv / tsv / jsonl file (optionally .gz) as {column: list of values}, only `columns` if given.

    Empty cells come back as None; text columns are best read with `load_texts`, which turns them into ""."""
    path = check_text_file(path)
    fmt = file_format(path)
    if fmt == "text":
        raise TinytxError(f"{path}: not a table; expected a .csv, .tsv or .jsonl file (optionally .gz)")
    kwargs = {"sep": "\t"} if Path(str(path).removesuffix(".gz")).suffix.lower() == ".tsv" else {}
    ds = _load_dataset(fmt, path, **kwargs)
    if len(ds) == 0:
        raise TinytxError(f"{path}: the file has a header but no rows")
    names = list(ds.column_names)
    columns = list(names if columns is None else columns)
    missing = [c for c in columns if c not in names]
    if missing:
        raise TinytxError(f"{path}: no column {', '.join(map(repr, missing))}; the columns are {', '.join(names)}")
    return {c: ds[c] if isinstance(ds[c], list) else list(ds[c]) for c in columns}


def load_texts(path: str | os.PathLike, by: str = "line", column: str = "text") -> list[str]:
    """Texts from a file. Plain text: one per non-blank line (by="line"), per blank-line-separated paragraph
    ("paragraph"), or the whole file ("document"). csv / jsonl: the values of `column` ("" for empty cells)."""
    if file_format(path) != "text":
        values = load_table(path, [column])[column]
        return ["" if v is None else str(v) for v in values]
    if by not in ("line", "paragraph", "document"):
        raise TinytxError(f"by must be line, paragraph or document, got {by!r}")
    path = check_text_file(path)
    texts = _load_dataset("text", path, sample_by=by, keep_linebreaks=by == "document")["text"]
    if by == "document":
        return list(texts)
    return [t.strip("\r\n") if by == "line" else t.strip("\n") for t in texts if t.strip()]


def read_csv_columns(path: str | os.PathLike, text_col: str = "text", label_col: str = "label") -> tuple[list[str], list]:
    """(texts, labels) from a csv/jsonl file: what a text classifier trains on. Rows without a label are refused."""
    table = load_table(path, [text_col, label_col])
    labels = table[label_col]
    empty = [i for i, v in enumerate(labels) if v is None or (isinstance(v, str) and not v.strip())]
    if empty:
        raise TinytxError(f"{path}: {len(empty)} row(s) have no {label_col!r} (first: data row {empty[0] + 1})")
    texts = ["" if v is None else str(v) for v in table[text_col]]
    return texts, labels


def read_pairs(src_path: str | os.PathLike, tgt_path: str | os.PathLike) -> list[tuple[str, str]]:
    """Line-aligned parallel text (line i of src translates to line i of tgt), for seq2seq."""
    src = _lines(check_text_file(src_path))
    tgt = _lines(check_text_file(tgt_path))
    if len(src) != len(tgt):
        raise TinytxError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: they must pair line by line")
    return list(zip(src, tgt))


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")  # only "\n" ends a line (str.splitlines also cuts at \x0b, \u2028, ...)
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]
