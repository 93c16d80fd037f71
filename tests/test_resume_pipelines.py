"""`--resume` for the pipelines that rebuild their inputs (classify, mlm, word2vec): a run interrupted at step k
and resumed with its saved options ends with the same weights as a run that was never stopped."""
from pathlib import Path

import pytest
import torch

import tinytx
from tinytx.classify import ClassifyOptions, MLMOptions, train_classify, train_mlm
from tinytx.cli import main
from tinytx.embeddings import Word2VecOptions, train_word2vec
from tinytx.engine.callbacks import Callback

FIX = Path(__file__).parent / "fixtures" / "classify"
TRAIN = str(FIX / "train.csv")


class Interrupt(Callback):
    """What Ctrl-C does: finish the step, checkpoint, stop."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, trainer, logs):
        if trainer.step == self.at:
            trainer.interrupted = True
            trainer.stop("interrupted")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "c.txt"
    path.write_text("\n".join(l.split(",")[0] for l in Path(TRAIN).read_text().splitlines()[1:]) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory, corpus):
    out = tmp_path_factory.mktemp("mlm") / "run"
    train_mlm(MLMOptions(data=corpus, out=str(out), min_freq=1, d_model=16, n_head=2, n_layer=1, d_ff=32,
                         max_len=16, max_steps=4, warmup=1, progress=False, device="cpu"))
    return str(out)


def classify(out, **kw):
    base = dict(data=TRAIN, out=str(out), min_freq=1, val_fraction=0.2, progress=False, device="cpu", batch_size=8,
                max_steps=12)
    return ClassifyOptions(**{**base, **kw})


PIPELINES = {
    "classify-bow": (train_classify, lambda out, corpus, mlm: classify(out, model="bow", features="tfidf", ngrams=2)),
    "classify-transformer-frozen": (train_classify, lambda out, corpus, mlm: classify(
        out, model="transformer", init_from=mlm, freeze="body", pooling="mean", dropout=0.1)),
    "mlm": (train_mlm, lambda out, corpus, mlm: MLMOptions(
        data=corpus, out=str(out), min_freq=1, d_model=16, n_head=2, n_layer=1, d_ff=32, max_len=16, max_steps=12,
        warmup=2, batch_size=8, progress=False, device="cpu")),
    "word2vec": (train_word2vec, lambda out, corpus, mlm: Word2VecOptions(
        data=corpus, out=str(out), n_embd=8, min_count=1, max_steps=12, batch_size=32, progress=False, device="cpu")),
}


@pytest.mark.parametrize("name", PIPELINES)
def test_interrupted_then_resumed_equals_straight(name, tmp_path, corpus, mlm_run):
    train, make = PIPELINES[name]
    train(make(tmp_path / "straight", corpus, mlm_run))
    train(make(tmp_path / "stopped", corpus, mlm_run), callbacks=[Interrupt(5)])
    # on resume the saved options win: only out/device/max_steps/progress are read from these
    resumed = make(tmp_path / "stopped", corpus, mlm_run)
    resumed.resume, resumed.seed = True, 999
    result = train(resumed)
    assert result["step"] == 12
    a = tinytx.load_run(tmp_path / "straight").model.state_dict()
    b = tinytx.load_run(tmp_path / "stopped").model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), (name, k)


def test_cli_resume_needs_no_data_and_refuses_changed_data(tmp_path, capsys):
    run = str(tmp_path / "run")
    flags = ["--model", "bow", "--out", run, "--max-steps", "6", "--no-progress", "--device", "cpu"]
    assert main(["train", "classify", "--data", TRAIN, *flags]) == 0
    assert main(["train", "classify", "--data", TRAIN, *flags]) == 2  # the run exists
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "classify", "--out", run, "--resume", "--max-steps", "9", "--no-progress"]) == 0
    assert "to step 9" in capsys.readouterr().out
    shorter = tmp_path / "shorter.csv"
    shorter.write_text("\n".join(Path(TRAIN).read_text().splitlines()[:-3]) + "\n")
    assert main(["train", "classify", "--data", str(shorter), "--out", run, "--resume", "--max-steps", "12"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytx: error:") and "same data" in err
    assert main(["train", "classify", "--out", run]) == 2
    assert "--data is required" in capsys.readouterr().err
    assert main(["train", "mlm", "--out", run, "--resume"]) == 2  # a classify run is not a masked-LM run
    assert "not a masked-LM run" in capsys.readouterr().err
