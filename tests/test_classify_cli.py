"""The CLI round trip: train classify -> eval (table and --json) -> predict; errors are one line, exit 2; word2vec,
mlm and transfer commands."""
import json
from pathlib import Path

from tinytx.cli import main

FIX = Path(__file__).parent / "fixtures" / "classify"


def test_train_eval_predict_round_trip(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "classify", "--model", "bow", "--features", "tfidf", "--ngrams", "2", "--data",
                 str(FIX / "train.csv"), "--out", run, "--epochs", "15", "--val-fraction", "0.2", "--no-progress",
                 "--device", "cpu"]) == 0
    assert "trained bow classifier" in capsys.readouterr().out
    assert main(["eval", run, "--data", str(FIX / "test.csv"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "true \\ predicted" in out and "accuracy" in out and out.index("recall") < out.index("accuracy")
    assert main(["eval", run, "--data", str(FIX / "test.csv"), "--json", "--device", "cpu"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["accuracy"] >= 0.9 and "macro_f1" in m
    assert json.loads((tmp_path / "run" / "confusion_matrix.json").read_text())["labels"] == ["cooking", "sports", "tech"]
    assert main(["predict", run, "bake the onion soup", "the kernel code has a bug"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [l.split("\t")[0] for l in lines] == ["cooking", "tech"]
    assert 0 < float(lines[0].split("\t")[1]) <= 1
    assert main(["predict", run, "--top-k", "2", "bake the onion soup"]) == 0
    label, p, label2, p2, text = capsys.readouterr().out.strip().split("\t")
    assert (label, text) == ("cooking", "bake the onion soup") and label2 != label and float(p) >= float(p2)


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["train", "classify", "--data", str(FIX / "train.csv"), "--label-col", "nope", "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytx: error:") and len(err.strip().splitlines()) == 1
    assert main(["predict", str(tmp_path / "missing"), "hello"]) == 2
    assert main(["similar", str(tmp_path / "missing"), "hello"]) == 2
    assert "tinytx: error:" in capsys.readouterr().err
    assert main(["train", "classify", "--model", "bow", "--init-from", str(tmp_path), "--data",
                 str(FIX / "train.csv"), "--out", str(tmp_path / "y")]) == 2
    assert "--init-from (a masked-LM run) needs --model transformer" in capsys.readouterr().err


def test_word2vec_mlm_and_transfer_commands(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(l.split(",")[0] for l in (FIX / "train.csv").read_text().splitlines()[1:]) + "\n")
    w2v = str(tmp_path / "w2v")
    assert main(["train", "word2vec", "--data", str(corpus), "--out", w2v, "--n-embd", "8", "--min-count", "1",
                 "--max-steps", "5", "--batch-size", "64", "--no-progress", "--device", "cpu"]) == 0
    assert "trained word2vec (skipgram" in capsys.readouterr().out
    assert main(["similar", w2v, "goal", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["analogy", w2v, "oven", "bake", "code", "-k", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["similar", w2v, "zeppelin"]) == 2
    assert "not in the vocabulary" in capsys.readouterr().err
    emb = str(tmp_path / "emb")
    assert main(["train", "classify", "--model", "embedding", "--init-embeddings", w2v, "--freeze-embeddings",
                 "--n-embd", "8", "--data", str(FIX / "train.csv"), "--out", emb, "--max-steps", "2", "--no-progress",
                 "--device", "cpu"]) == 0
    assert "trained embedding classifier to step 2" in capsys.readouterr().out

    mlm = str(tmp_path / "mlm")
    assert main(["train", "mlm", "--data", str(corpus), "--out", mlm, "--min-count", "1", "--n-embd", "16",
                 "--n-head", "2", "--n-layer", "1", "--d-ff", "32", "--max-len", "16", "--max-steps", "4",
                 "--warmup-steps", "1", "--no-progress", "--device", "cpu"]) == 0
    assert "trained masked LM to step 4" in capsys.readouterr().out
    ft = str(tmp_path / "ft")
    assert main(["train", "classify", "--model", "transformer", "--init-from", mlm, "--freeze", "body", "--data",
                 str(FIX / "train.csv"), "--out", ft, "--max-steps", "3", "--no-progress", "--device", "cpu"]) == 0
    assert "trained transformer classifier to step 3" in capsys.readouterr().out
    assert main(["train", "classify", "--model", "transformer", "--init-from", w2v, "--data", str(FIX / "train.csv"),
                 "--out", str(tmp_path / "ft2"), "--max-steps", "1", "--no-progress", "--device", "cpu"]) == 2
    assert "not a masked-LM run (it is a word2vec run)" in capsys.readouterr().err
    assert main(["predict", ft, "a text"]) == 0
    assert main(["eval", mlm, "--data", str(corpus), "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["perplexity"] > 1
