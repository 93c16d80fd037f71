"""Language-model data: a text file tokenized once into token memmaps, then random windows for training.

`LMWindows.get(step)` draws `batch_size` windows of `block_size + 1` tokens at offsets from a generator seeded by
(seed, step): a pure function of the step, as the Trainer's batch-source protocol asks. Windows are gathered with
one numpy fancy index, no Python loop per token.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..errors import TinytxError
from ..tokenizers.base import Tokenizer
from .batches import rank_slice
from .encode import encode_file, load_tokens, split_tokens


def encode_text_file(
    tokenizer: Tokenizer, src: str | os.PathLike, train: str | os.PathLike, val: str | os.PathLike,
    val_fraction: float = 0.1, progress: bool = False,
) -> tuple[Path, Path]:
    """Tokenize `src` into the token files `train` and `val` (the last val_fraction of the tokens is validation)."""
    train, val = Path(train), Path(val)
    train.parent.mkdir(parents=True, exist_ok=True)
    full = train.with_name(f".{train.stem}.all.bin")
    encode_file(tokenizer, src, full, progress=progress)
    try:
        split_tokens(full, val_fraction, train, val)
    finally:
        full.unlink(missing_ok=True)
        Path(f"{full}.json").unlink(missing_ok=True)
    return train, val


class LMWindows:
    """Random (x, y) windows from a token array; y is x shifted by one."""

    def __init__(self, tokens, block_size: int, batch_size: int, seed: int = 0, vocab_size: int | None = None):
        self.tokens = load_tokens(tokens) if isinstance(tokens, (str, os.PathLike)) else np.asarray(tokens)
        self.block_size, self.batch_size, self.seed = block_size, batch_size, seed
        if block_size < 1 or not isinstance(batch_size, int) or batch_size < 1:
            raise TinytxError(f"block size and batch size must be >= 1, got {block_size} and {batch_size}")
        if len(self.tokens) < block_size + 1:
            where = f"{tokens}: " if isinstance(tokens, (str, os.PathLike)) else ""
            raise TinytxError(
                f"{where}only {len(self.tokens)} tokens of data, fewer than one window of {block_size + 1}; "
                "use a smaller block size or more text"
            )
        if vocab_size is not None and len(self.tokens) and int(self.tokens.max()) >= vocab_size:
            raise TinytxError(f"token data has ids up to {int(self.tokens.max())}, beyond the vocabulary of {vocab_size}")
        self.steps_per_epoch = None
        self._offsets = np.arange(block_size + 1)

    def _gather(self, starts: np.ndarray) -> dict[str, torch.Tensor]:
        win = torch.from_numpy(np.asarray(self.tokens[starts[:, None] + self._offsets]).astype(np.int64))
        return {"idx": win[:, :-1], "targets": win[:, 1:]}

    def get(self, step: int, rank: int = 0, world: int = 1) -> dict[str, torch.Tensor]:
        g = np.random.default_rng([self.seed, step])
        starts = g.integers(0, len(self.tokens) - self.block_size, size=self.batch_size)
        return self._gather(starts[rank_slice(self.batch_size, rank, world)])

    def iter_eval(self, max_batches: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Consecutive non-overlapping windows from the start: the same every time."""
        starts = np.arange(0, len(self.tokens) - self.block_size, self.block_size)
        for b, i in enumerate(range(0, len(starts), self.batch_size)):
            if max_batches is not None and b >= max_batches:
                return
            yield self._gather(starts[i : i + self.batch_size])
