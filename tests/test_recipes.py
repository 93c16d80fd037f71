"""One suite over every registered recipe, through the one skeleton and the generated command line:

- a run interrupted at step k and resumed ends bit-identical to a run that never stopped (in process, and for real
  signals: SIGINT -> exit 130, SIGTERM -> exit 143, kill -9, each followed by --resume in a new process);
- train -> eval works; a changed flag on --resume is refused, naming the flag and both values; the data is checked;
- torchrun: 2 processes (gloo, CPU) train to the same weights as 1 process with the same global batch.
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tinytx.cli import build_parser, main
from tinytx.engine.callbacks import Callback
from tinytx.recipes import MODULES, train

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures"
CLS, S2S = FIX / "classify", FIX / "seq2seq"
TABLE = ROOT / "data" / "tabular" / "line.csv"
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n") * 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


def recipe_flags(task: str, corpus: str, steps: int) -> list[str]:
    """Tiny models and data for each recipe, written as a user would type them."""
    common = ["--max-steps", str(steps), "--seed", "7", "--no-progress", "--device", "cpu", "--threads", "1"]
    return common + {
        "lm": ["--data", corpus, "--block-size", "16", "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
               "--batch-size", "4", "--eval-interval", "6", "--eval-batches", "2", "--warmup-steps", "2"],
        "classify": ["--data", str(CLS / "train.csv"), "--model", "embedding", "--min-count", "1", "--n-embd", "8",
                     "--batch-size", "8", "--val-fraction", "0.2", "--eval-interval", "6"],
        "mlm": ["--data", corpus, "--min-count", "1", "--n-embd", "16", "--n-head", "2", "--n-layer", "1",
                "--d-ff", "32", "--max-len", "16", "--batch-size", "8", "--warmup-steps", "2", "--eval-interval", "6"],
        "word2vec": ["--data", corpus, "--n-embd", "8", "--min-count", "1", "--batch-size", "32"],
        "seq2seq": ["--src", str(S2S / "train.de"), "--tgt", str(S2S / "train.en"), "--val-src", str(S2S / "val.de"),
                    "--val-tgt", str(S2S / "val.en"), "--vocab-size", "300", "--n-embd", "16", "--n-layer", "1",
                    "--n-head", "2", "--d-ff", "32", "--batch-size", "8", "--eval-interval", "6",
                    "--warmup-steps", "2"],
        "tabular": ["--data", str(TABLE), "--target", "y", "--model", "mlp", "--hidden-sizes", "8",
                    "--batch-size", "8", "--eval-interval", "6"],
    }[task]


EVAL = {"lm": [], "classify": ["--data", str(CLS / "test.csv")], "mlm": ["--data", "{corpus}"],
        "word2vec": ["--data", "{corpus}"], "seq2seq": ["--src", str(S2S / "test.de"), "--tgt", str(S2S / "test.en"),
                                                         "--beam", "1"],
        "tabular": ["--data", str(TABLE)]}


def given(task: str, flags: list[str]) -> dict:
    args = build_parser()[0].parse_args(["train", task, "-o", "unused", *flags])
    return {k: v for k, v in vars(args).items() if k not in ("out", "resume", "func", "task", "command", "kind")}


def weights(run) -> dict:
    return load_file(str(Path(run) / "model.safetensors"))


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


class Interrupt(Callback):
    """What a signal does, at a known step: finish the step, checkpoint, stop."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, trainer, logs):
        if trainer.step == self.at:
            trainer.interrupted = signal.SIGINT
            trainer.stop("interrupted")


@pytest.mark.parametrize("task", list(MODULES))
def test_interrupted_then_resumed_equals_straight_and_evaluates(task, corpus, tmp_path, capsys):
    flags = recipe_flags(task, corpus, steps=12)
    straight = train(task, tmp_path / "straight", given=given(task, flags))
    assert straight["step"] == 12 and not straight["interrupted"]
    stopped = train(task, tmp_path / "stopped", given=given(task, flags), callbacks=[Interrupt(5)])
    assert stopped["interrupted"] and stopped["step"] == 5
    assert main(["train", task, "-o", str(tmp_path / "stopped"), "--resume", "--no-progress"]) == 0
    assert "to step 12" in capsys.readouterr().out
    assert_same_weights(tmp_path / "straight", tmp_path / "stopped")
    # eval works on the finished run, and prints JSON on request
    args = [a.replace("{corpus}", corpus) for a in EVAL[task]]
    assert main(["eval", str(tmp_path / "stopped"), *args, "--json", "--device", "cpu"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics and all(isinstance(k, str) for k in metrics)


@pytest.mark.parametrize("task", list(MODULES))
def test_resume_refuses_changed_flags_and_other_tasks(task, corpus, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", task, "-o", run, *recipe_flags(task, corpus, steps=3)]) == 0
    capsys.readouterr()
    assert main(["train", task, "-o", run, *recipe_flags(task, corpus, steps=3)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", task, "-o", run, "--resume", "--lr", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytx: error: --lr 5") and "differs from the run's" in err
    assert main(["train", task, "-o", run, "--resume", "--max-steps", "2"]) == 2
    assert "already at step 3" in capsys.readouterr().err
    other = "lm" if task != "lm" else "classify"
    assert main(["train", other, "-o", run, "--resume"]) == 2
    assert "not a" in capsys.readouterr().err


def test_resume_with_changed_data_is_refused(corpus, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "classify", "-o", run, *recipe_flags("classify", corpus, steps=3)]) == 0
    changed = tmp_path / "changed.csv"
    changed.write_bytes((CLS / "train.csv").read_bytes()[:-40])
    assert main(["train", "classify", "-o", run, "--resume", "--data", str(changed), "--max-steps", "6"]) == 2
    assert "not the data the run started with" in capsys.readouterr().err
    moved = tmp_path / "moved.csv"
    moved.write_bytes((CLS / "train.csv").read_bytes())
    assert main(["train", "classify", "-o", run, "--resume", "--data", str(moved), "--max-steps", "6",
                 "--no-progress"]) == 0


# --- real signals, in a separate process -------------------------------------------------------------------------

SIGNALS = [("lm", signal.SIGINT), ("lm", signal.SIGTERM), ("lm", signal.SIGKILL), ("classify", signal.SIGTERM),
           ("mlm", signal.SIGINT), ("word2vec", signal.SIGKILL), ("seq2seq", signal.SIGTERM),
           ("tabular", signal.SIGINT)]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


@pytest.mark.slow
@pytest.mark.parametrize("task,sig", SIGNALS, ids=[f"{t}-{s.name}" for t, s in SIGNALS])
def test_signal_checkpoints_and_resume_is_bit_identical(task, sig, corpus, tmp_path):
    steps = 400
    flags = recipe_flags(task, corpus, steps) + ["--checkpoint-interval", "5"]
    train(task, tmp_path / "straight", given=given(task, flags))
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tinytx", "train", task, "-o", str(run), *flags], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / "trainer_state.pt").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    expected = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[sig]
    assert proc.returncode == expected, err
    if sig != signal.SIGKILL:
        assert "checkpoint saved" in err and "--resume" in err and "Traceback" not in err
    step = torch.load(run / "trainer_state.pt", weights_only=True)["step"]
    assert 0 < step < steps, "the run finished before the signal: make it longer"
    resumed = subprocess.run([sys.executable, "-m", "tinytx", "train", task, "-o", str(run), "--resume"], env=ENV,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"to step {steps}" in resumed.stdout
    assert not list(run.glob(".*.tmp"))
    assert_same_weights(tmp_path / "straight", run)


# --- torchrun --------------------------------------------------------------------------------------------------------

def torchrun_available() -> bool:
    return (importlib.util.find_spec("torch.distributed.run") is not None and torch.distributed.is_available()
            and torch.distributed.is_gloo_available())


DIST = {  # global batch 8 = 2 processes x 4 rows
    "lm": ["--dropout", "0"],
    "classify": ["--dropout", "0"],
    "tabular": [],
}


@pytest.mark.slow
@pytest.mark.skipif(not torchrun_available(), reason="torchrun / gloo not available")
@pytest.mark.parametrize("task", list(DIST))
def test_two_processes_equal_one_process(task, corpus, tmp_path):
    flags = recipe_flags(task, corpus, steps=8) + ["--batch-size", "8"] + DIST[task]
    train(task, tmp_path / "single", given=given(task, flags))
    ddp = tmp_path / "ddp"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "tinytx", "train", task, "-o", str(ddp), *flags], env=ENV, capture_output=True,
                          text=True, timeout=180)
    if proc.returncode != 0 and "gloo" in proc.stderr.lower() and "address" in proc.stderr.lower():
        pytest.skip("gloo could not open a local socket here")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained ") == 1  # rank 0 alone reports
    a, b = weights(tmp_path / "single"), weights(ddp)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), (k, (a[k] - b[k]).abs().max())
