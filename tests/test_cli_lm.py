"""`tinytx train lm` -> `tinytx generate` -> `tinytx eval` on a tiny corpus, plus the robustness cases."""
import json
import math

import pytest
import torch

import tinytx
from tinytx.cli import main

# the tokenizers and the token-memmap source come from the tokenizer helper's modules
tokenizers = pytest.importorskip("tinytx.tokenizers")
if not hasattr(tokenizers, "train_tokenizer"):
    pytest.skip("tinytx.tokenizers.train_tokenizer not available yet", allow_module_level=True)
pytest.importorskip("tinytx.data.lm")

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
) * 30

TINY = ["--block-size", "16", "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--hidden-size", "32",
        "--batch-size", "8", "--eval-interval", "15", "--eval-batches", "2", "--warmup-steps", "5", "--lr", "3e-3",
        "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def gpt_run(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "gpt"
    assert main(["train", "lm", "--model", "gpt", "--data", str(corpus), "--out", str(run), "--max-steps", "30",
                 *TINY]) == 0
    return run


def test_train_writes_a_complete_run(gpt_run):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "trainer_state.pt", "metrics.jsonl"):
        assert (gpt_run / name).exists(), name
    config = json.loads((gpt_run / "config.json").read_text())
    assert config["task"] == "lm" and config["model"]["name"] == "gpt"


def test_generate_same_seed_same_text_and_greedy(gpt_run, capsys):
    outs = []
    for seed in ("1", "1", "2"):
        assert main(["generate", str(gpt_run), "--prompt", "All:", "--max-new-tokens", "40", "--seed", seed]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and outs[0].startswith("All:")
    assert outs[0] != outs[2]
    greedy = []
    for _ in range(2):
        assert main(["generate", str(gpt_run), "--prompt", "All:", "--max-new-tokens", "30", "--temperature", "0"]) == 0
        greedy.append(capsys.readouterr().out)
    assert greedy[0] == greedy[1]


def test_stream_prints_the_same_text(gpt_run, capsys):
    args = ["generate", str(gpt_run), "--prompt", "Speak", "--max-new-tokens", "25", "--seed", "3"]
    assert main(args) == 0
    plain = capsys.readouterr().out
    assert main(args + ["--stream"]) == 0
    assert capsys.readouterr().out == plain


def test_eval_reports_val_loss(gpt_run, corpus, capsys):
    assert main(["eval", str(gpt_run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    vocab = json.loads((gpt_run / "config.json").read_text())["model"]["config"]["vocab_size"]
    assert 0 < m["loss"] < math.log(vocab) - 0.5  # 30 steps on a tiny repetitive text: well below uniform
    assert m["perplexity"] == pytest.approx(torch.tensor(m["loss"]).exp().item(), rel=1e-6)
    assert main(["eval", str(gpt_run), "--data", str(corpus), "--json"]) == 0
    assert "loss" in json.loads(capsys.readouterr().out)


def test_python_api_generate(gpt_run):
    run = tinytx.load_run(gpt_run)
    text = run.generate("All:", max_new_tokens=20, temperature=0.0)
    assert text.startswith("All:") and len(text) == len("All:") + 20
    assert text == run.generate("All:", max_new_tokens=20, temperature=0.0)


def test_unknown_prompt_characters(gpt_run, capsys):
    assert main(["generate", str(gpt_run), "--prompt", "Zebra€", "--max-new-tokens", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytx: error:") and "'€'" in err and "--unknown unk" in err and "Traceback" not in err
    assert main(["generate", str(gpt_run), "--prompt", "Zebra€", "--max-new-tokens", "5", "--unknown", "unk"]) == 0


def test_prompt_longer_than_window_is_cropped(gpt_run, capsys):
    prompt = "First Citizen: Before we proceed any further, hear me speak. " * 3  # > 16 tokens
    assert main(["generate", str(gpt_run), "--prompt", prompt, "--max-new-tokens", "10", "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith(prompt)


def test_vocab_mismatch_is_a_clear_error(gpt_run, tmp_path, capsys):
    import shutil

    from tinytx.tokenizers import train_tokenizer

    bad = tmp_path / "bad"
    shutil.copytree(gpt_run, bad)
    other = tmp_path / "other.txt"
    other.write_text("abc")
    train_tokenizer("char", [str(other)]).save(bad / "tokenizer.json")
    assert main(["generate", str(bad), "--prompt", "a"]) == 2
    err = capsys.readouterr().err
    assert "tokenizer has" in err and "Traceback" not in err


def test_nan_loss_stops_with_a_message(corpus, tmp_path, capsys):
    run = tmp_path / "nan"
    args = ["train", "lm", "--model", "gpt", "--data", str(corpus), "--out", str(run), "--max-steps", "30", *TINY]
    args[args.index("--lr") + 1] = "1e30"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "loss became" in err and "learning rate" in err


@pytest.mark.parametrize("model", ["gru", "bigram"])
def test_other_models_train_and_generate(model, corpus, tmp_path, capsys):
    run = tmp_path / model
    assert main(["train", "lm", "--model", model, "--data", str(corpus), "--out", str(run), "--max-steps", "15",
                 *TINY]) == 0
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "All", "--max-new-tokens", "10", "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith("All")


def test_resume_continues_exactly(corpus, tmp_path):
    from tinytx.engine import TrainConfig
    from tinytx.engine.callbacks import Callback
    from tinytx.options import LMOptions
    from tinytx.recipes import train

    class Interrupt(Callback):  # what Ctrl-C does: finish the step, checkpoint, stop
        def on_step_end(self, trainer, logs):
            if trainer.step == 12:
                trainer.interrupted = 2
                trainer.stop("interrupted")

    opts = LMOptions(data=str(corpus), model="gpt", block_size=16, n_layer=1, n_head=2, n_embd=16,
                     train=TrainConfig(batch_size=4, max_steps=24, eval_interval=8, eval_batches=2, warmup_steps=3,
                                       schedule="cosine", progress=False, device="cpu"))
    train("lm", tmp_path / "straight", opts)
    assert train("lm", tmp_path / "stopped", opts, callbacks=[Interrupt()])["interrupted"] == 2
    assert train("lm", tmp_path / "stopped", resume=True)["step"] == 24
    a, b = tinytx.load_run(tmp_path / "straight").model, tinytx.load_run(tmp_path / "stopped").model
    for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), n


def test_existing_run_needs_resume(gpt_run, corpus, capsys):
    assert main(["train", "lm", "--data", str(corpus), "--out", str(gpt_run), "--max-steps", "5", *TINY]) == 2
    assert "--resume" in capsys.readouterr().err


def test_missing_data_file(tmp_path, capsys):
    assert main(["train", "lm", "--data", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "r")]) == 2
    assert "no such text file" in capsys.readouterr().err


def test_demo_tiny(tmp_path, corpus, capsys):
    assert main(["demo", "--max-steps", "10", "--out", str(tmp_path / "demo"), "--data", str(corpus),
                 "--no-progress", "--max-new-tokens", "20", "--prompt", "All:", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "val loss" in out and "All:" in out
    # the demo starts afresh in its own run directory, and refuses any other non-empty directory
    assert main(["demo", "--max-steps", "5", "--out", str(tmp_path / "demo"), "--data", str(corpus),
                 "--no-progress", "--max-new-tokens", "5", "--prompt", "All", "--device", "cpu"]) == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("{}")
    assert main(["demo", "--max-steps", "5", "--out", str(mine), "--data", str(corpus), "--no-progress"]) == 2
    assert (mine / "config.json").read_text() == "{}" and "not a tinytx run" in capsys.readouterr().err


def test_bpe_tokenizer_and_saved_tokenizer_path(corpus, tmp_path, capsys):
    run = tmp_path / "bpe"
    assert main(["train", "lm", "--data", str(corpus), "--out", str(run), "--tokenizer", "bpe", "--vocab-size", "300",
                 "--max-steps", "10", *TINY]) == 0
    tok = json.loads((run / "tokenizer.json").read_text())
    assert tok  # saved into the run
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "Speak, ", "--max-new-tokens", "8", "--seed", "0", "--stream"]) == 0
    assert capsys.readouterr().out.startswith("Speak, ")
    # a saved tokenizer.json can be reused for a new run
    run2 = tmp_path / "reuse"
    assert main(["train", "lm", "--data", str(corpus), "--out", str(run2), "--tokenizer", str(run / "tokenizer.json"),
                 "--max-steps", "5", *TINY]) == 0
    assert (run2 / "tokenizer.json").read_text() == (run / "tokenizer.json").read_text()


def test_generate_without_prompt_starts_from_a_newline(gpt_run, capsys):
    assert main(["generate", str(gpt_run), "--max-new-tokens", "12", "--seed", "0"]) == 0
    assert len(capsys.readouterr().out) >= 12
