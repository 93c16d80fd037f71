"""Translation metrics through sacrebleu (the reference implementation), plus perplexity.

BLEU and chrF are computed on detokenized text (what a user reads), with sacrebleu's own tokenization (13a), so
the scores compare with published ones; the signature string says exactly how a score was computed.
"""
from __future__ import annotations

import math
from typing import Sequence

from .errors import TinytxError


def _check(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise TinytxError(f"{len(hypotheses)} translations but {len(references)} references; they must pair up")
    if not hypotheses:
        raise TinytxError("no sentences to score")


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Corpus BLEU (0-100) with one reference per sentence: {"bleu", "bleu_signature", "bleu_detail"}."""
    from sacrebleu.metrics import BLEU

    _check(hypotheses, references)
    metric = BLEU()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return {"bleu": float(score.score), "bleu_signature": str(metric.get_signature()), "bleu_detail": str(score)}


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Corpus chrF (character n-gram F-score, 0-100): {"chrf", "chrf_signature"}."""
    from sacrebleu.metrics import CHRF

    _check(hypotheses, references)
    metric = CHRF()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return {"chrf": float(score.score), "chrf_signature": str(metric.get_signature())}


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """BLEU and chrF together, with both signatures."""
    return {**bleu(hypotheses, references), **chrf(hypotheses, references)}


def perplexity(mean_loss: float) -> float:
    """exp(mean cross-entropy per token, in nats); inf when it overflows."""
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return float("inf")
