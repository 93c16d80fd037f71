"""Classify texts with a trained classification run: (label, probability) for each text, in order.

    run = tinytx.load_run("runs/spam")
    predict(run, ["FREE money!!!"])          # [("spam", 0.98)]
"""
from __future__ import annotations

from typing import Sequence

import torch

from .data.text_classification import Inputs
from .errors import TinytxError


def run_inputs(run) -> Inputs:
    """The run's own way from text to batch: its featurizer (bow) or its tokenizer and max length."""
    if run.featurizer is not None:
        return Inputs(featurizer=run.featurizer)
    if run.tokenizer is None:
        raise TinytxError(f"{run.path}: has neither a featurizer nor a tokenizer; cannot rebuild its inputs")
    return Inputs(tokenizer=run.tokenizer, max_len=run.options.max_len)


@torch.no_grad()
def predict(run, texts: str | Sequence[str], batch_size: int = 64, top_k: int = 1):
    """(label, probability) for each text; with top_k > 1, a list of the k best (label, probability) per text."""
    if run.task != "classify":
        raise TinytxError(f"{run.path}: not a classification run (it is a {run.task} run)")
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise TinytxError("no texts to classify")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise TinytxError(f"text {i + 1} is empty: nothing to classify")
    names = run.info["labels"]
    if top_k < 1:
        raise TinytxError(f"top-k must be >= 1, got {top_k}")
    k = min(top_k, len(names))
    inputs, device = run_inputs(run), next(run.model.parameters()).device
    run.model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        part = texts[start : start + batch_size]
        batch = inputs.collate(inputs.examples(part, [0] * len(part)))
        batch.pop("y")
        probs = torch.softmax(run.model(**{key: v.to(device) for key, v in batch.items()}).float(), -1)
        p, idx = probs.topk(k, -1)
        for row_p, row_i in zip(p.tolist(), idx.tolist()):
            best = [(names[i], v) for i, v in zip(row_i, row_p)]
            out.append(best if top_k > 1 else best[0])
    return out
