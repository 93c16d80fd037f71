"""BLEU and chrF through sacrebleu: wiring, a hand-computed BLEU, and clear errors."""
import math

import pytest

from tinytx.errors import TinytxError
from tinytx.metrics import bleu, chrf, perplexity, translation_scores


def test_perfect_translation_scores_100():
    s = translation_scores(["The cat sat on the mat."], ["The cat sat on the mat."])
    assert s["bleu"] == pytest.approx(100.0) and s["chrf"] == pytest.approx(100.0)
    assert s["bleu_signature"].startswith("nrefs:1|case:mixed") and "tok:13a" in s["bleu_signature"]
    assert "chrf_signature" in s


def test_bleu_matches_a_hand_computation():
    # hyp "the cat is on the mat" vs ref "the cat sat on the mat": n-gram precisions 5/6, 3/5, 1/4 and 0/3
    # (exp smoothing turns 0/3 into 1/(2*3)); equal lengths, so no brevity penalty
    expected = 100 * (5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25
    assert bleu(["the cat is on the mat"], ["the cat sat on the mat"])["bleu"] == pytest.approx(expected, abs=1e-6)


def test_chrf_orders_translations():
    ref = ["a dog runs through the grass"]
    assert chrf(["a dog runs in the grass"], ref)["chrf"] > chrf(["two people sit"], ref)["chrf"]


def test_mismatched_or_empty_inputs_are_errors():
    with pytest.raises(TinytxError, match="2 translations but 1 references"):
        bleu(["a", "b"], ["a"])
    with pytest.raises(TinytxError, match="no sentences"):
        chrf([], [])


def test_perplexity():
    assert perplexity(math.log(7.0)) == pytest.approx(7.0)
    assert perplexity(1e6) == float("inf")
