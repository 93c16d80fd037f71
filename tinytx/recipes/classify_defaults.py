"""Classification defaults sized from the data: how long to train, how many tokens to keep, warm-up, early stopping.

Fixed epochs tuned on one set do not transfer: 5-10 epochs are ~700-1,400 steps on 4,837 e-mails but only 200-300
on 1,780 news articles, where the GRU was still improving when they ran out. So a budget is set in optimizer steps
(at least MIN_STEPS[model]), turned into whole epochs (so every row is seen equally often), at least MIN_EPOCHS and at
most MAX_EPOCHS (a tiny set is not repeated a thousand times); early stopping on the validation loss ends a run whose
budget was more than it needed, and the best validation weights are kept (the engine's restore_best).

Only what the user left unset is derived (None in ClassifyOptions; --warmup-steps 0, its default): any flag given
wins. A budget the user sets (--epochs, --max-steps, --minutes) is taken as it is: no early stopping or warm-up is
added to it. The resolved values are saved with the run's options, so --resume and `tinytx eval` see numbers, and
deriving again from them changes nothing.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

MIN_STEPS = {"bow": 500, "embedding": 800, "gru": 800, "transformer": 1000}
MIN_EPOCHS = {"bow": 5, "embedding": 5, "gru": 4, "transformer": 5}
MAX_EPOCHS = 40
WARMUP_SHARE = 0.05  # of the step budget: Adam's first steps on a fresh encoder are the unstable ones
LENGTH_PERCENTILE = 95  # max_len keeps this share of the training texts whole
# max_len caps: the embedding bag costs little per token; a GRU step grows linearly with length and attention
# quadratically, on a CPU thread; the label of an e-mail or an article is plain within its first ~256 words
MAX_LEN_CAP = {"embedding": 1024, "gru": 256, "transformer": 256}
MIN_MAX_LEN = 16
POOLING = {"transformer": "mean", "gru": "maxmean"}  # [CLS] pooling learns slowly from scratch on small data


def epochs_for(model: str, n_rows: int, batch_size: int) -> int:
    """Whole epochs that give at least MIN_STEPS[model] optimizer steps, within [MIN_EPOCHS, MAX_EPOCHS]."""
    per_epoch = math.ceil(n_rows / batch_size)
    return min(MAX_EPOCHS, max(MIN_EPOCHS[model], math.ceil(MIN_STEPS[model] / per_epoch)))


def max_len_for(model: str, lengths: Sequence[int]) -> int:
    """The LENGTH_PERCENTILE-th percentile of the training texts' token counts, rounded up to a multiple of 8,
    within [MIN_MAX_LEN, MAX_LEN_CAP[model]]."""
    p = float(np.percentile(np.asarray(lengths), LENGTH_PERCENTILE)) if len(lengths) else MIN_MAX_LEN
    return int(min(MAX_LEN_CAP.get(model, 256), max(MIN_MAX_LEN, 8 * math.ceil(p / 8))))


def derived(opts, n_rows: int, lengths: Sequence[int] | None) -> dict[str, Any]:
    """The derived values for what `opts` leaves unset, as dotted option names ("train.x" for training settings).

    n_rows: training rows (after the validation split); lengths: their token counts (token models)."""
    cfg, out = opts.train, {}
    if opts.max_len is None and lengths is not None:
        out["max_len"] = max_len_for(opts.model, lengths)
    if opts.pooling is None and opts.model in POOLING:
        out["pooling"] = POOLING[opts.model]
    if cfg.epochs is None and cfg.max_steps is None and cfg.minutes is None:
        epochs = epochs_for(opts.model, n_rows, cfg.batch_size)
        steps = epochs * math.ceil(n_rows / cfg.batch_size)
        out["train.max_steps"] = steps  # steps, not epochs: --resume may then extend it with --max-steps
        if cfg.warmup_steps == 0:
            out["train.warmup_steps"] = max(1, round(WARMUP_SHARE * steps))
        if cfg.patience is None:  # evaluations (one per epoch unless --eval-interval)
            # patient: the validation loss of a few hundred rows is noisy while the lr is high (a transformer's
            # jumped 0.06 -> 0.88 -> 0.33 mid-run on 48 rows), and a run cut there keeps a high-lr checkpoint; the
            # cosine decay's last epochs usually give the best weights
            out["train.patience"] = max(5, epochs // 2)
    return out


def apply(opts, values: dict[str, Any]) -> None:
    """Set `values` on `opts` IN PLACE: the skeleton saves this very object as the run's options once the recipe
    has prepared the data, so the run directory records the resolved values."""
    train = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("train.")}
    for name, value in values.items():
        if not name.startswith("train."):
            setattr(opts, name, value)
    if train:
        opts.train = opts.train.replace(**train)  # replace re-runs TrainConfig's checks
