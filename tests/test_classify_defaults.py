"""Classification defaults sized from the data: the budget grows for small sets and is capped for big ones, max_len
follows the length distribution, the user's flags win, the run saves what was resolved, early stopping keeps the
best weights, and `--model M --data FILE` alone learns a small set."""
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import tinytx
from tinytx.options import ClassifyOptions, make
from tinytx.recipes import get, train
from tinytx.recipes.classify_defaults import (MAX_EPOCHS, MAX_LEN_CAP, MIN_EPOCHS, MIN_STEPS, derived, epochs_for,
                                              max_len_for)

FIX = Path(__file__).parent / "fixtures" / "classify"
TRAIN, TEST = str(FIX / "train.csv"), str(FIX / "test.csv")
CPU = {"train.progress": False, "train.device": "cpu", "train.threads": 1}


@pytest.mark.parametrize("model", list(MIN_STEPS))
def test_budget_grows_for_small_data_and_is_capped_for_big_data(model):
    bs = 32
    small, medium, big = (epochs_for(model, n, bs) for n in (200, 1_600, 200_000))
    assert small == MAX_EPOCHS  # a tiny set is repeated, but not without end
    assert small >= medium >= big == MIN_EPOCHS[model]
    # the minimum number of optimizer steps is reached wherever the epoch cap allows it
    assert medium * -(-1_600 // bs) >= MIN_STEPS[model]


def test_max_len_follows_the_length_distribution_within_the_cap():
    assert max_len_for("gru", [3] * 100) == 16  # never below the floor
    assert max_len_for("gru", list(range(1, 101))) == 96  # 95th percentile (95.05) rounded up to a multiple of 8
    assert max_len_for("transformer", [5_000] * 10) == MAX_LEN_CAP["transformer"]
    assert max_len_for("embedding", [600] * 10) == 600  # the cheap bag keeps long texts whole


def test_user_flags_win_over_derived_defaults():
    opts = make(ClassifyOptions, {"model": "gru", "data": "x.csv", "max_len": 50, "pooling": "last",
                                  "train.epochs": 3})
    assert derived(opts, 1_000, [500] * 10) == {}  # budget given: no steps, warm-up or patience added
    opts = make(ClassifyOptions, {"model": "gru", "data": "x.csv", "train.patience": 7, "train.warmup_steps": 9})
    d = derived(opts, 1_000, [40] * 10)
    assert d["max_len"] == 40 and d["pooling"] == "maxmean" and "train.patience" not in d
    assert "train.warmup_steps" not in d and d["train.max_steps"] == epochs_for("gru", 1_000, 32) * 32
    # a time budget is the user's too
    assert "train.max_steps" not in derived(make(ClassifyOptions, {"model": "bow", "train.minutes": 1}), 1_000, None)


def test_the_run_saves_the_resolved_values_and_a_given_flag_wins(tmp_path):
    result = train("classify", tmp_path / "a", given={"data": TRAIN, "model": "embedding", **CPU})
    o = tinytx.load_run(tmp_path / "a").options
    assert o.max_len is not None and o.train.max_steps and o.train.warmup_steps > 0 and o.train.patience
    assert result["max_steps"] == o.train.max_steps and o.train.epochs is None
    train("classify", tmp_path / "b", given={"data": TRAIN, "model": "embedding", "max_len": 5,
                                             "train.max_steps": 3, **CPU})
    o = tinytx.load_run(tmp_path / "b").options
    assert (o.max_len, o.train.max_steps, o.train.warmup_steps, o.train.patience) == (5, 3, 0, None)


def test_early_stopping_ends_on_the_best_weights(tmp_path):
    """A learning rate far too high makes validation loss wander: the run keeps the weights of its best evaluation."""
    result = train("classify", tmp_path / "run", given={"data": TRAIN, "model": "bow", "train.lr": 5.0,
                                                        "train.patience": 2, **CPU})
    assert result["best_step"] < result["step"] < tinytx.load_run(tmp_path / "run").options.train.max_steps
    assert "early stopping" in result["stopped"]
    final = load_file(str(tmp_path / "run" / "model.safetensors"))
    best = load_file(str(tmp_path / "run" / "best.safetensors"))
    assert final.keys() == best.keys() and all(torch.equal(final[k], best[k]) for k in final)


@pytest.mark.parametrize("model", ["bow", "embedding", "gru", "transformer"])
def test_defaults_alone_learn_a_small_set(tmp_path, model):
    train("classify", tmp_path / "run", given={"data": TRAIN, "model": model, **CPU})
    m = get("classify").evaluate(tinytx.load_run(tmp_path / "run"), data=TEST)
    assert m["accuracy"] >= 0.9, (model, m["accuracy"])
