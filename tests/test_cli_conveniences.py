"""The conveniences users of nanoGPT, Hugging Face and fastText look for: `--log tensorboard`, `generate
--num-samples`, `predict --file F|-` with `--top-k` and `--json`, and `--data -` (standard input)."""
import hashlib
import io
import json
import sys
from pathlib import Path

import pytest

from tinytx.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "classify"
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n") * 20
TINY = ["--block-size", "16", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--batch-size", "4",
        "--eval-batches", "2", "--warmup-steps", "0", "--no-progress", "--device", "cpu"]


def stdin(monkeypatch, data: bytes) -> None:
    """What `... | tinytx ...` gives the command: bytes on standard input."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def lm_run(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "lm"
    assert main(["train", "lm", "--data", str(corpus), "-o", str(run), "--max-steps", "3", *TINY]) == 0
    return run


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "bow"
    assert main(["train", "classify", "--model", "bow", "--data", str(FIXTURES / "train.csv"), "-o", str(run),
                 "--max-steps", "3", "--no-progress", "--device", "cpu"]) == 0
    return run


# --- --log tensorboard ------------------------------------------------------------------------------------------

def events(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return acc


def test_tensorboard_logs_the_train_loss_at_the_logged_steps(corpus, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    run = tmp_path / "tb"
    assert main(["train", "lm", "--data", str(corpus), "-o", str(run), "--max-steps", "6", "--log-interval", "2",
                 "--eval-interval", "3", "--log", "tensorboard", *TINY]) == 0
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    acc = events(run)
    logged = {r["step"]: r["train_loss"] for r in metrics(run) if "train_loss" in r}  # metrics.jsonl is still there
    assert sorted(logged) == [2, 3, 4, 6]  # every --log-interval, and at each evaluation
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == sorted(logged)
    assert [e.value for e in loss] == pytest.approx([logged[s] for s in sorted(logged)], rel=1e-6)
    assert [e.step for e in acc.Scalars("val/loss")] == [3, 6]
    assert {"train/lr", "train/targets_per_s", "val/loss"} <= set(acc.Tags()["scalars"])
    # plot keeps reading metrics.jsonl
    from tinytx.cli.plot import read_metrics

    assert read_metrics(run) == metrics(run)


def test_tensorboard_resume_logs_each_step_once(corpus, tmp_path):
    """A session killed between checkpoints logged steps that the resumed one trains again: the resumed writer
    starts at the checkpoint's step + 1 (purge_step), so TensorBoard keeps only the new values."""
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "tb"
    args = ["train", "lm", "--data", str(corpus), "-o", str(run), "--log-interval", "2", "--eval-interval", "3",
            "--log", "tensorboard", *TINY]
    assert main([*args, "--max-steps", "6"]) == 0
    before = set((run / "tensorboard").iterdir())
    with SummaryWriter(str(run / "tensorboard")) as ghost:  # what a killed session logged past step 6
        for step in (7, 8):
            ghost.add_scalar("train/loss", 99.0, step)
    (name,) = set((run / "tensorboard").iterdir()) - before
    # a killed session's file is older than the resumed one's (files are read in name order: time, host, pid)
    parts = name.name.split(".")
    parts[3] = f"{int(parts[3]) - 1:010d}"
    name.rename(name.with_name(".".join(parts)))
    assert main([*args, "--max-steps", "9", "--resume"]) == 0
    logged = {r["step"]: r["train_loss"] for r in metrics(run) if "train_loss" in r}
    loss = events(run).Scalars("train/loss")
    assert [e.step for e in loss] == sorted(logged) == [2, 3, 4, 6, 8, 9]
    assert [e.value for e in loss] == pytest.approx([logged[s] for s in sorted(logged)], rel=1e-6)


def test_log_may_change_on_resume_and_a_missing_extra_is_one_line(corpus, tmp_path, monkeypatch, capsys):
    run = tmp_path / "r"
    args = ["train", "lm", "--data", str(corpus), "-o", str(run), *TINY]
    assert main([*args, "--max-steps", "3"]) == 0
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if TensorBoard were not installed
    capsys.readouterr()
    assert main([*args, "--max-steps", "6", "--resume", "--log", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'tinytx[tensorboard]'" in err
    fresh = tmp_path / "fresh"
    assert main(["train", "lm", "--data", str(corpus), "-o", str(fresh), "--max-steps", "3", "--log",
                 "tensorboard", *TINY]) == 2
    assert not fresh.exists()  # said before any work
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard")
    pytest.importorskip("tensorboard")
    assert main([*args, "--max-steps", "6", "--resume", "--log", "tensorboard", "--log-interval", "1"]) == 2
    assert "--log-interval 1 differs" in capsys.readouterr().err  # only --log may change of the two
    assert main([*args, "--max-steps", "6", "--resume", "--log", "tensorboard"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["log"] == "tensorboard"
    assert [e.step for e in events(run).Scalars("train/loss")] == [6]  # logged from the resumed step on


# --- generate --num-samples -------------------------------------------------------------------------------------

def test_generate_num_samples_each_with_its_seed(lm_run, capsys):
    args = ["generate", str(lm_run), "--prompt", "All:", "--max-new-tokens", "12"]
    assert main([*args, "--num-samples", "3", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert main([*args, "--num-samples", "3", "--seed", "5"]) == 0
    assert capsys.readouterr().out == out  # the same seed, the same samples
    headers = [line for line in out.splitlines() if line.startswith("--- sample")]
    assert headers == ["--- sample 1/3 (seed 5) ---", "--- sample 2/3 (seed 6) ---", "--- sample 3/3 (seed 7) ---"]
    samples = [part.split("\n", 1)[1] for part in out.split("--- sample ")[1:]]
    assert main([*args, "--seed", "6"]) == 0  # sample 2 is what seed 6 gives alone
    assert capsys.readouterr().out == samples[1]
    assert main([*args, "--num-samples", "2", "--seed", "5", "--stream"]) == 0
    assert capsys.readouterr().out == out.split("--- sample 3/3")[0].replace("1/3", "1/2").replace("2/3", "2/2")
    assert main([*args, "--num-samples", "2"]) == 0  # no seed: a random one, shown so it can be repeated
    seeds = [int(line.split("seed ")[1].rstrip(") -")) for line in capsys.readouterr().out.splitlines()
             if line.startswith("--- sample")]
    assert seeds[1] == seeds[0] + 1
    assert main([*args, "--num-samples", "0"]) == 2
    assert "num samples must be >= 1" in capsys.readouterr().err


# --- predict --file F|- --top-k K --json ------------------------------------------------------------------------

def test_predict_texts_file_and_stdin(classify_run, tmp_path, monkeypatch, capsys):
    texts = ["bake the onion soup in the oven", "the team scored a late goal", "compile the kernel"]
    assert main(["predict", str(classify_run), *texts]) == 0
    plain = capsys.readouterr().out
    assert [line.split("\t")[-1] for line in plain.splitlines()] == texts
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join([texts[0], "", texts[1], "   ", texts[2]]) + "\n")  # blank lines are skipped
    assert main(["predict", str(classify_run), "--file", str(lines)]) == 0
    assert capsys.readouterr().out == plain
    stdin(monkeypatch, lines.read_bytes())
    assert main(["predict", str(classify_run), "--file", "-", "--batch-size", "2"]) == 0
    assert capsys.readouterr().out == plain
    stdin(monkeypatch, lines.read_bytes())
    assert main(["predict", str(classify_run), "-f", "-", "--top-k", "2", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == texts
    for row, line in zip(rows, plain.splitlines()):
        label, prob = line.split("\t")[:2]
        assert row["label"] == label and row["probability"] == pytest.approx(float(prob), abs=1e-4)
        assert len(row["top_k"]) == 2 and row["top_k"][0] == {"label": row["label"], "probability": row["probability"]}
        assert row["top_k"][0]["probability"] >= row["top_k"][1]["probability"]
    assert main(["predict", str(classify_run), texts[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["top_k"][0]["label"] == rows[0]["label"]


def test_predict_refusals(classify_run, tmp_path, monkeypatch, capsys):
    run = str(classify_run)
    for args, message in (([run], "give the texts"), ([run, "x", "--file", "-"], "not both"),
                          ([run, "x", "--top-k", "0"], "--top-k must be >= 1"),
                          ([run, "--file", str(tmp_path / "missing.txt")], "cannot read")):
        assert main(["predict", *args]) == 2
        assert message in capsys.readouterr().err
    stdin(monkeypatch, b"\n  \n")
    assert main(["predict", run, "--file", "-"]) == 2
    assert "standard input: has no text" in capsys.readouterr().err
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"fine\ncaf\xe9\n")
    assert main(["predict", run, "--file", str(bad)]) == 2
    assert "line 2 is not UTF-8" in capsys.readouterr().err


# --- --data - ---------------------------------------------------------------------------------------------------

def test_train_lm_from_stdin_then_eval_and_resume(corpus, lm_run, tmp_path, monkeypatch, capsys):
    run = tmp_path / "piped"
    stdin(monkeypatch, corpus.read_bytes())
    assert main(["train", "lm", "--data", "-", "-o", str(run), "--max-steps", "3", *TINY]) == 0
    copy = run / "data" / "stdin.txt"
    assert copy.read_bytes() == corpus.read_bytes()
    config = json.loads((run / "config.json").read_text())
    assert config["options"]["data"] == str(copy)
    assert config["data"]["data"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    # the same text and options as the file-trained run: the same weights, so the same val loss
    capsys.readouterr()
    assert main(["eval", str(run), "--json", "--device", "cpu"]) == 0
    piped = json.loads(capsys.readouterr().out)
    assert main(["eval", str(lm_run), "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(piped["loss"], rel=1e-6)
    # eval --data -: standard input scored like the file
    assert main(["eval", str(run), "--data", str(corpus), "--json", "--device", "cpu"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    stdin(monkeypatch, corpus.read_bytes())
    assert main(["eval", str(run), "--data", "-", "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out) == from_file
    # resume reads the run's copy; `--data -` again does not read standard input (here it is empty)
    stdin(monkeypatch, b"")
    assert main(["train", "lm", "--data", "-", "-o", str(run), "--resume", "--max-steps", "5", *TINY]) == 0
    assert main(["train", "lm", "-o", str(run), "--resume", "--max-steps", "6", "--no-progress"]) == 0
    # a run started from a file has no copy to resume from
    assert main(["train", "lm", "--data", "-", "-o", str(lm_run), "--resume", "--max-steps", "9", *TINY]) == 2
    assert "holds no copy of standard input" in capsys.readouterr().err


def test_empty_stdin_is_refused_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    run = tmp_path / "empty"
    stdin(monkeypatch, b"")
    assert main(["train", "lm", "--data", "-", "-o", str(run), "--max-steps", "3", *TINY]) == 2
    err = capsys.readouterr().err
    assert "--data -: standard input is empty" in err and err.count("\n") == 1
    assert not run.exists()
    stdin(monkeypatch, b"")
    assert main(["train", "seq2seq", "--src", "-", "--tgt", "-", "-o", str(run), "--max-steps", "3"]) == 2
    assert "standard input can be read only once" in capsys.readouterr().err


def test_classify_reads_a_csv_from_stdin(classify_run, tmp_path, monkeypatch, capsys):
    run = tmp_path / "bow"
    stdin(monkeypatch, (FIXTURES / "train.csv").read_bytes())
    assert main(["train", "classify", "--model", "bow", "--data", "-", "-o", str(run), "--max-steps", "3",
                 "--no-progress", "--device", "cpu"]) == 0
    assert (run / "data" / "stdin.csv").read_bytes() == (FIXTURES / "train.csv").read_bytes()
    capsys.readouterr()
    stdin(monkeypatch, (FIXTURES / "test.csv").read_bytes())
    assert main(["eval", str(run), "--data", "-", "--json", "--device", "cpu"]) == 0
    piped = json.loads(capsys.readouterr().out)
    assert main(["eval", str(classify_run), "--data", str(FIXTURES / "test.csv"), "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == piped["accuracy"]
    assert main(["train", "classify", "-o", str(run), "--resume", "--max-steps", "5", "--no-progress"]) == 0
