"""`tinytx train seq2seq` -> `tinytx translate` -> `tinytx eval` on tiny fixture files, and the error cases."""
import json
from pathlib import Path

import pytest

import tinytx
from tinytx.cli import main

FIX = Path(__file__).parent / "fixtures" / "seq2seq"  # German number words -> English (300 / 20 / 20 pairs)
TINY = ["--d-model", "64", "--n-layer", "1", "--n-head", "2", "--vocab-size", "300", "--batch-size", "32",
        "--max-len", "24", "--dropout", "0", "--warmup", "10", "--eval-interval", "100", "--eval-batches", "1",
        "--no-progress", "--device", "cpu"]


def data(*names):
    return [str(FIX / n) for n in names]


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tx"
    src, tgt, vsrc, vtgt = data("train.de", "train.en", "val.de", "val.en")
    assert main(["train", "seq2seq", "--model", "transformer", "--src", src, "--tgt", tgt, "--val-src", vsrc,
                 "--val-tgt", vtgt, "--out", str(run), "--shared-vocab", "--max-steps", "200", "--lr", "5e-3",
                 "--label-smoothing", "0", *TINY]) == 0
    return run


@pytest.mark.slow  # ~10-15 s on 2 idle cores: 200 steps so the translations are right
def test_train_translate_eval(transformer_run, tmp_path, capsys):
    run = tinytx.load_run(transformer_run)
    assert run.task == "seq2seq" and run.config["model"]["name"] == "transformer_seq2seq"
    assert run.translate("drei vier", beam=4) == "three four"

    capsys.readouterr()
    assert main(["translate", str(transformer_run), "sieben eins"]) == 0
    assert capsys.readouterr().out == "seven one\n"

    out = tmp_path / "hyp.en"
    assert main(["translate", str(transformer_run), "--input", data("test.de")[0], "--beam", "2", "-o", str(out)]) == 0
    hyps = out.read_text().splitlines()
    assert len(hyps) == len(Path(data("test.en")[0]).read_text().splitlines())

    capsys.readouterr()
    src, tgt = data("test.de", "test.en")
    assert main(["eval", str(transformer_run), "--src", src, "--tgt", tgt, "--beam", "4", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"bleu", "chrf", "signature"} <= set(metrics)
    assert metrics["bleu"] > 20 and metrics["chrf"] > 50  # short sentences: BLEU is harsh on them
    assert "tok:13a" in metrics["signature"]


def test_gru_separate_vocabularies_and_resume(tmp_path, capsys):
    run = tmp_path / "gru"
    src, tgt = data("train.de", "train.en")
    args = ["train", "seq2seq", "--model", "gru", "--src", src, "--tgt", tgt, "--out", str(run), *TINY]
    assert main([*args, "--max-steps", "4"]) == 0
    assert (run / "src_tokenizer.json").exists() and (run / "tokenizer.json").exists()
    assert main(["train", "seq2seq", "--out", str(run), "--resume", "--max-steps", "6", "--no-progress",
                 "--device", "cpu"]) == 0
    assert "to step 6" in capsys.readouterr().out
    assert isinstance(tinytx.load_run(run).translate(["eins zwei", "drei"], beam=2), list)


def test_mismatched_line_counts_are_a_clear_error(tmp_path, capsys):
    tgt = tmp_path / "short.en"
    tgt.write_text("one\ntwo\n")
    code = main(["train", "seq2seq", "--src", data("train.de")[0], "--tgt", str(tgt), "--out", str(tmp_path / "r"),
                 *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "has 300 lines but" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_empty_and_overlong_pairs_are_skipped_and_counted(tmp_path, capsys):
    src, tgt = tmp_path / "s.de", tmp_path / "s.en"
    lines = Path(data("train.de")[0]).read_text().splitlines()[:60]
    refs = Path(data("train.en")[0]).read_text().splitlines()[:60]
    src.write_text("\n".join(lines + ["", "eins zwei", " ".join(["neun"] * 40)]) + "\n")
    tgt.write_text("\n".join(refs + ["one", "", " ".join(["nine"] * 40)]) + "\n")
    assert main(["train", "seq2seq", "--src", str(src), "--tgt", str(tgt), "--out", str(tmp_path / "r"),
                 "--max-steps", "2", *TINY]) == 0
    out = capsys.readouterr().out
    assert "skipped 2 of 63 pairs with an empty side" in out
    assert "skipped 1 of 61 training pairs longer than --max-len 24" in out


def test_bad_inputs(tmp_path, capsys):
    run = tmp_path / "one-step"
    assert main(["train", "seq2seq", "--src", data("train.de")[0], "--tgt", data("train.en")[0], "--out", str(run),
                 "--shared-vocab", *TINY, "--max-steps", "1"]) == 0
    assert main(["translate", str(run)]) == 2
    assert "give a sentence or --input" in capsys.readouterr().err
    assert main(["translate", str(run), "eins", "--beam", "0"]) == 2
    assert "beam size" in capsys.readouterr().err
    assert main(["eval", str(run), "--src", data("test.de")[0]]) == 2
    assert "--tgt" in capsys.readouterr().err
    assert main(["train", "seq2seq", "--src", data("train.de")[0], "--tgt", data("train.en")[0], "--out",
                 str(tmp_path / "r"), *TINY, "--batch-size", "lots", "--max-steps", "1"]) == 2
    assert "--batch-size" in capsys.readouterr().err
