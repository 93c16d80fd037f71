"""Small file helpers: atomic writes (temp file + rename) and JSON in one place.

An interrupted or failed write never leaves half a file: the previous version stays whole. Write failures (a full
disk, a read-only directory) become one-line errors. New files follow the umask, like any other program's.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import TinytxError

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _file_in_the_way(path: Path) -> Path | None:
    """The first ancestor of `path` that exists but is not a directory (so nothing can be made below it)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def write_error(path: str | os.PathLike, e: OSError) -> TinytxError:
    if e.errno == errno.ENOSPC:
        return TinytxError(f"{path}: disk full, nothing was written (the previous version, if any, is kept)")
    if e.errno == errno.EISDIR or Path(path).is_dir():
        return TinytxError(f"{path}: is a directory; give a file name")
    if e.errno in (errno.ENOTDIR, errno.EEXIST) and (blocker := _file_in_the_way(Path(path))) is not None:
        return TinytxError(f"{path}: cannot write, {blocker} is a file, not a directory")
    return TinytxError(f"{path}: cannot write ({e.strerror or e})")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temp path beside `path`; on success rename it over `path`, so readers never see half a file."""
    path = Path(path)
    if path.is_dir():
        raise TinytxError(f"{path}: is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise write_error(path, e) from None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved run should be as readable as any file
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise TinytxError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise TinytxError(f"{path}: is a directory, not a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TinytxError(f"{path}: not valid JSON ({e})") from None
    except OSError as e:  # not a directory on the way, no permission, an I/O error
        raise TinytxError(f"{path}: cannot read ({e.strerror or e})") from None


STDIN = "-"  # a data option given as '-' reads standard input


def copy_stdin(path: str | os.PathLike, what: str = "standard input") -> Path:
    """Standard input, read to its end once, into `path` (atomically): `--data -` then reads like any file.

    Empty input is refused in one line that names `what` (the flag that asked for it)."""
    source = getattr(sys.stdin, "buffer", None)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if source is not None:
            shutil.copyfileobj(source, f, 1 << 20)
        else:  # a text stream with no bytes underneath (a test's StringIO)
            for block in iter(lambda: sys.stdin.read(1 << 20), ""):
                f.write(block.encode("utf-8"))
        if f.tell() == 0:
            raise TinytxError(f"{what}: standard input is empty; pipe the data in (`... | tinytx ...`) or give a file")
    return Path(path)
