"""Options-based resume for the `train classify|mlm|word2vec` pipelines.

These pipelines rebuild their inputs (read the file, split, tokenize or featurize) before the Trainer starts, so a
run keeps the options it was started with in config.json (`extra.options`). `--resume` restores them: the same
data, split, vocabulary and recipe, with the tokenizer/featurizer loaded from the run rather than retrained. Only
`--data` (the same file at a new path: its row count is checked), `--max-steps` (train further), `--device` and
the progress bar may change on resume.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..errors import TinytxError
from . import checkpoint as ckpt

_NOT_SAVED = ("out", "resume", "progress")


def options_record(opts) -> dict[str, Any]:
    """The options worth keeping in the run: everything but where it lives and how it reports."""
    return {k: v for k, v in dataclasses.asdict(opts).items() if k not in _NOT_SAVED}


def refuse_existing(run_dir: Path) -> None:
    if (run_dir / ckpt.CONFIG).exists():
        raise TinytxError(f"{run_dir}: already holds a run; continue it with --resume or choose another --out")


def saved_options(opts, task: str, what: str):
    """`opts` with the run's saved options filled back in; only data, max_steps, device and progress are taken
    from `opts` (each only when set)."""
    config = ckpt.load_config(opts.out)
    if config.get("task") != task:
        raise TinytxError(f"{opts.out}: not a {what} run (task {config.get('task')!r}); cannot resume it as one")
    saved = config.get("extra", {}).get("options")
    if saved is None:
        raise TinytxError(f"{opts.out}: the run does not record its options (made by an older tinytx); cannot resume")
    keep: dict[str, Any] = {"out": opts.out, "resume": True, "progress": opts.progress}
    if opts.device != "auto":
        keep["device"] = opts.device
    if opts.max_steps:
        keep["max_steps"] = opts.max_steps
    if opts.data:
        keep["data"] = opts.data
    known = {f.name for f in dataclasses.fields(opts)}
    return dataclasses.replace(opts, **{k: v for k, v in {**saved, **keep}.items() if k in known})


def check_same_rows(run_dir, rows: int, data: str) -> None:
    """The split is a function of the row count and the seed: a changed file would silently change it."""
    before = ckpt.load_config(run_dir).get("extra", {}).get("rows")
    if before is not None and before != rows:
        raise TinytxError(f"{data}: has {rows} rows now but {before} when the run started; "
                          "resume needs the same data (or start a new run)")


def word_tokenizer(run_dir: Path, resume: bool, texts, **train_options):
    """The run's own word tokenizer when resuming, else a new one trained on `texts`."""
    from ..run import TOKENIZER
    from ..tokenizers import load_tokenizer, train_tokenizer

    if resume:
        return load_tokenizer(Path(run_dir) / TOKENIZER)
    return train_tokenizer("word", texts, **train_options)
