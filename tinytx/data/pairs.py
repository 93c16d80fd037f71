"""Parallel text for seq2seq: line i of the source file translates line i of the target file.

    read_lines("test.de")                      # the sentences of one file, one per line (for `tinytx translate`)
    read_pairs("train.de", "train.en")         # stripped (source, target) pairs; pairs with an empty side skipped

Files may be gzipped; missing, empty, binary or non-UTF-8 files and different line counts are a TinytxError with
one readable line (tinytx.data.sources does the reading).
"""
from __future__ import annotations

import os
from typing import Callable

from ..errors import TinytxError
from .sources import _lines, check_text_file
from .sources import read_pairs as read_aligned


def read_lines(path: str | os.PathLike, what: str = "text file") -> list[str]:
    """The lines of a UTF-8 text file (gzipped or not); only "\\n" ends a line, a trailing "\\r" is dropped."""
    return _lines(check_text_file(path, what))


def read_pairs(src: str | os.PathLike, tgt: str | os.PathLike,
               log: Callable[[str], None] | None = print) -> list[tuple[str, str]]:
    """Line i of `src` with line i of `tgt`, stripped; pairs with an empty side are skipped (and counted in `log`)."""
    pairs = [(x.strip(), y.strip()) for x, y in read_aligned(src, tgt)]
    kept = [p for p in pairs if p[0] and p[1]]
    if len(kept) < len(pairs) and log is not None:
        log(f"skipped {len(pairs) - len(kept)} of {len(pairs)} pairs with an empty side ({src})")
    if not kept:
        raise TinytxError(f"{src} / {tgt}: no sentence pairs (every pair has an empty side)")
    return kept
