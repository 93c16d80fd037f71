"""Seq2seq defaults sized from the data (vocabulary, max length, budget, warm-up), the shared vocabulary by default,
and checkpoint averaging (tinytx.engine.callbacks.CheckpointAverage), resumed exactly."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import tinytx
from tinytx.engine import TrainConfig
from tinytx.engine.callbacks import CheckpointAverage
from tinytx.recipes import train
from tinytx.recipes.seq2seq import budget_for, max_len_for, vocab_size_for

from test_recipes import Interrupt  # what a signal does, at a known step

FIX = Path(__file__).parent / "fixtures" / "seq2seq"  # German number words -> English (300 / 20 / 20 pairs)
TINY = {"n_embd": 32, "n_layer": 1, "n_head": 2, "d_ff": 64, "dropout": 0.0, "train.batch_size": 32,
        "train.device": "cpu", "train.progress": False, "train.threads": 1}


def given(**kw):
    return {"src": str(FIX / "train.de"), "tgt": str(FIX / "train.en"), **TINY, **kw}


# --- derived values ----------------------------------------------------------------------------------------------

def test_vocab_size_follows_the_words_of_the_data():
    words = [f"w{i}" for i in range(6000)]
    text = " ".join(words * 3)  # 6,000 words seen 3 times -> 2,000
    assert vocab_size_for([text]) == 2000
    assert vocab_size_for([" ".join(words * 2)]) == 1000  # seen twice: none count; the floor
    assert vocab_size_for([" ".join([f"w{i}" for i in range(200_000)] * 3)]) == 32000  # the cap


def test_max_len_and_budget_from_the_data():
    assert max_len_for(10) == 32 and max_len_for(60) == 80 and max_len_for(1000) == 256
    cfg = TrainConfig(batch_size=32, warmup_steps=0)
    assert budget_for(cfg, 400) == {"max_steps": 4000, "warmup_steps": 500}  # 10 epochs; warm-up in steps
    assert budget_for(cfg, 10) == {"max_steps": 1000, "warmup_steps": 400}  # at least 1,000 steps; 40% of them
    assert budget_for(cfg.replace(max_steps=300), 400) == {"warmup_steps": 120}  # at most 40% of a known budget
    assert budget_for(cfg.replace(minutes=10.0), 4000) == {"warmup_steps": 500}  # a time budget: the Trainer caps
    assert budget_for(cfg.replace(epochs=2.0), 400) == {"warmup_steps": 320}
    assert budget_for(cfg.replace(max_steps=50, warmup_steps=7), 400) == {}  # what the user set wins


def test_defaults_share_one_vocabulary_and_save_what_the_data_gave(tmp_path):
    run_dir = tmp_path / "run"
    result = train("seq2seq", run_dir, given=given(**{"train.max_steps": 3}))
    assert result["step"] == 3
    assert (run_dir / "tokenizer.json").exists() and not (run_dir / "src_tokenizer.json").exists()
    run = tinytx.load_run(run_dir)
    assert run.src_tokenizer is None  # one vocabulary for both languages
    config = json.loads((run_dir / "config.json").read_text())
    opts = config["options"]
    assert opts["shared_vocab"] is True
    assert opts["vocab_size"] == run.tokenizer.vocab_size and opts["max_len"] >= 32
    assert config["train"]["warmup_steps"] >= 1 and config["train"]["max_steps"] == 3
    # both languages round-trip through the one tokenizer
    for text in ("drei vier sieben", "three four seven"):
        assert run.tokenizer.decode(run.tokenizer.encode(text)).strip() == text
    # one embedding for encoder input, decoder input and output layer
    m = run.model
    assert m.encoder.tok_emb.weight is m.decoder.tok_emb.weight is m.lm_head.weight
    assert isinstance(run.translate("drei vier"), str)


def test_no_budget_given_is_sized_in_epochs(tmp_path):
    from tinytx.options import make, Seq2SeqOptions
    from tinytx.recipes.seq2seq import RECIPE
    from tinytx.rundir import RunDir

    opts = make(Seq2SeqOptions, given())
    (tmp_path / "r").mkdir()
    prep = RECIPE.prepare(opts, RunDir(tmp_path / "r"), fitted=False)
    per_epoch = prep.train.steps_per_epoch
    assert opts.train.max_steps == max(1000, 10 * per_epoch) == prep.config.max_steps
    assert opts.train.warmup_steps == min(500, int(0.4 * opts.train.max_steps))  # in steps, not epochs


# --- checkpoint averaging -------------------------------------------------------------------------------------------

def fake_trainer(model, max_steps):
    return SimpleNamespace(raw_model=model, max_steps=max_steps, step=0, sizing=False, interrupted=0, val_data=None)


def test_checkpoint_average_takes_the_mean_of_the_last_points():
    model = nn.Linear(2, 1)
    avg = CheckpointAverage(last=3, share=0.3)
    trainer = fake_trainer(model, max_steps=20)
    assert avg.points(20) == [20, 18, 16]  # every round(0.3 * 20 / 3) = 2 steps
    for step in range(1, 21):
        trainer.step = step
        with torch.no_grad():
            model.weight.fill_(float(step))
            model.bias.fill_(-float(step))
        avg.on_step_end(trainer, {})
    assert avg.steps == [16, 18, 20]
    avg.on_train_end(trainer)
    assert torch.allclose(model.weight, torch.full_like(model.weight, 18.0))
    assert torch.allclose(model.bias, torch.full_like(model.bias, -18.0))


def test_checkpoint_average_state_and_schedule_changes():
    model = nn.Linear(2, 1)
    trainer = fake_trainer(model, max_steps=10)
    avg = CheckpointAverage(last=2, share=0.2)
    trainer.step = 9
    avg.on_step_end(trainer, {})
    restored = CheckpointAverage(last=2, share=0.2)
    restored.load_state_dict(avg.state_dict())
    assert restored.steps == [9] and restored.max_steps == 10
    trainer.max_steps, trainer.step = 30, 27  # resumed with a larger --max-steps: the old point is dropped
    restored.on_step_end(trainer, {})
    assert restored.steps == [27] and restored.max_steps == 30
    trainer.sizing, trainer.step = True, 30  # nothing is taken while a time budget is being measured
    restored.on_step_end(trainer, {})
    assert restored.steps == [27]
    with torch.no_grad():
        model.weight.fill_(5.0)
    restored.on_train_end(trainer)  # fewer than 2 points: the last weights stay
    assert torch.all(model.weight == 5.0)


def weights(run):
    return load_file(str(Path(run) / "model.safetensors"))


def test_averaged_run_interrupted_inside_the_window_resumes_exactly(tmp_path):
    """12 steps, points 8..12: stopped at step 10 (3 points taken), resumed: the same averaged weights."""
    flags = given(**{"train.max_steps": 12, "val_src": str(FIX / "val.de"), "val_tgt": str(FIX / "val.en"),
                     "train.eval_interval": 6, "average": 5})
    straight = train("seq2seq", tmp_path / "straight", given=flags)
    assert straight["val"].get("averaged") == 5
    stopped = train("seq2seq", tmp_path / "stopped", given=flags, callbacks=[Interrupt(10)])
    assert stopped["interrupted"] and stopped["step"] == 10
    train("seq2seq", tmp_path / "stopped", given={"train.progress": False}, resume=True)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "stopped")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the average is not the last step's weights
    last = torch.load(tmp_path / "straight" / "trainer_state.pt", weights_only=True)["model"]
    assert not all(torch.equal(a[k], last[k]) for k in a if k in last)


def test_average_one_keeps_the_last_weights(tmp_path):
    result = train("seq2seq", tmp_path / "r", given=given(**{"train.max_steps": 6}))  # the default
    last = torch.load(tmp_path / "r" / "trainer_state.pt", weights_only=True)["model"]
    w = weights(tmp_path / "r")
    assert result["step"] == 6 and all(torch.equal(w[k], last[k]) for k in w if k in last)
    with pytest.raises(tinytx.TinytxError, match="--average"):
        train("seq2seq", tmp_path / "bad", given=given(**{"train.max_steps": 1, "average": 0}))


def test_scaled_embeddings_keep_the_ties_and_old_configs_load():
    from tinytx.models import build

    cfg = dict(src_vocab_size=50, tgt_vocab_size=50, d_model=32, n_head=2, n_enc_layer=1, n_dec_layer=1,
               share_embeddings=True)
    scaled = build("transformer_seq2seq", dict(cfg, scale_embeddings=True))
    emb = scaled.encoder.tok_emb
    assert emb.weight is scaled.decoder.tok_emb.weight is scaled.lm_head.weight
    ids = torch.tensor([[3, 4]])
    assert torch.allclose(emb(ids), emb.weight[ids] * 32 ** 0.5)
    assert 0.1 < emb.weight.std().item() < 0.25  # std 32^-0.5 ~ 0.18: looked-up vectors of std ~1
    plain = build("transformer_seq2seq", cfg)  # a config saved before the option existed
    assert type(plain.encoder.tok_emb) is nn.Embedding and plain.encoder.tok_emb.weight.std().item() < 0.05
    assert set(plain.state_dict()) == set(scaled.state_dict())  # same weights file layout


def test_help_lists_the_defaults(capsys):
    from tinytx.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "seq2seq", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--no-shared-vocab" in out and "--average" in out and "512t" in out
