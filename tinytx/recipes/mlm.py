"""Masked-LM pretraining (BERT): raw text -> word tokenizer -> [CLS] + ids -> a transformer encoder that predicts
the masked words. The run starts a classifier: `tinytx train classify --model transformer --init-from RUN`.

    from tinytx.recipes import get, train
    train("mlm", "runs/mlm", given={"data": "corpus.txt", "train.max_steps": 2000})
    get("mlm").evaluate(tinytx.load_run("runs/mlm"), data="held_out.txt")["perplexity"]
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.mlm import MLMBatches, mlm_rows
from ..data.sources import load_texts
from ..data.text_classification import split_val
from ..engine import MaskedLM, TrainConfig
from ..errors import TinytxError
from ..models import build
from ..options import MLMOptions
from ..rundir import Run, RunDir
from ..tokenizers import train_tokenizer
from .base import Prepared, default_summary


def sized(cfg: TrainConfig) -> TrainConfig:
    """Without --eval-interval, evaluate five times over --max-steps; warm-up shorter than the run."""
    if cfg.max_steps is None:  # epochs or a time budget: the Trainer's defaults
        return cfg
    changes: dict[str, Any] = {}
    if cfg.eval_interval is None:
        changes["eval_interval"] = max(1, cfg.max_steps // 5)
    if cfg.warmup_steps >= cfg.max_steps:
        changes["warmup_steps"] = cfg.max_steps - 1
    return cfg.replace(**changes) if changes else cfg


class MLMRecipe:
    task = "mlm"
    options = MLMOptions

    def prepare(self, opts: MLMOptions, run: RunDir, fitted: bool) -> Prepared:
        if not 0 < opts.mask_prob < 1:
            raise TinytxError(f"--mask-prob must be between 0 and 1, got {opts.mask_prob}")
        if opts.n_embd % opts.n_head:
            raise TinytxError(f"--n-embd {opts.n_embd} must be divisible by --n-head {opts.n_head}")
        if opts.max_len < 1:
            raise TinytxError(f"--max-len must be >= 1, got {opts.max_len}")
        if not isinstance(opts.train.batch_size, int):
            raise TinytxError(f"--batch-size must be a number of texts for a masked LM, got {opts.train.batch_size!r}")
        texts = [t for t in load_texts(opts.data, by="line", column=opts.text_col) if t.strip()]
        if not texts:
            raise TinytxError(f"{opts.data}: no text to pretrain on")
        if fitted:  # the run's own tokenizer
            tokenizer = run.load_tokenizer()
        else:
            tokenizer = train_tokenizer("word", texts, vocab_size=opts.vocab_size, min_frequency=opts.min_count,
                                        lowercase=opts.lowercase)
            run.save_tokenizer(tokenizer)
        rows = mlm_rows(tokenizer, texts, opts.max_len)
        cfg, V = sized(opts.train), tokenizer.vocab_size
        tr, va = split_val(len(rows), opts.val_fraction, cfg.seed) if len(rows) > 20 else (np.arange(len(rows)), [])
        train = MLMBatches([rows[i] for i in tr], V, cfg.batch_size, True, cfg.seed, opts.mask_prob)
        val = (MLMBatches([rows[i] for i in va], V, cfg.batch_size, False, cfg.seed + 1, opts.mask_prob)
               if len(va) else None)
        info = {"texts": len(texts), "train_examples": len(tr), "val_examples": len(va)}
        return Prepared(train, val, info, config=cfg, state={"vocab_size": V})

    def build_model(self, opts: MLMOptions, prep: Prepared) -> torch.nn.Module:
        return build("masked_lm", dict(vocab_size=prep.state["vocab_size"], d_model=opts.n_embd, n_head=opts.n_head,
                                       n_layer=opts.n_layer, d_ff=opts.d_ff, max_len=opts.max_len + 1,
                                       dropout=opts.dropout))

    def objective(self, opts: MLMOptions, prep: Prepared) -> MaskedLM:
        return MaskedLM()

    def summary(self, opts: MLMOptions, result: dict[str, Any], prep: Prepared) -> str:
        return default_summary(opts, result, what="masked LM", shown=("loss",))

    @torch.no_grad()
    def evaluate(self, run: Run, data: str | None = None, batch_size: int = 64, device: str = "auto",
                 text_col: str | None = None, **_) -> dict[str, Any]:
        """Masked-LM loss and perplexity on a text file (or csv/jsonl column), with the same seeded masking every
        time (seeded by the batch: the same --batch-size gives the same numbers)."""
        if not data:
            raise TinytxError("--data is required to evaluate a masked-LM run (a text file, one example per line)")
        opts: MLMOptions = run.options
        texts = load_texts(data, by="line", column=text_col or opts.text_col)
        rows = mlm_rows(run.tokenizer, texts, opts.max_len)
        if not rows:
            raise TinytxError(f"{data}: no text to evaluate")
        dev = next(run.model.parameters()).device
        run.model.eval()
        source = MLMBatches(rows, run.tokenizer.vocab_size, batch_size, False, 0, opts.mask_prob)
        m = MaskedLM().evaluate(run.model, ({k: v.to(dev) for k, v in b.items()} for b in source.iter_eval()))
        return {"loss": m["loss"], "perplexity": m["perplexity"], "examples": len(rows)}


RECIPE = MLMRecipe()
