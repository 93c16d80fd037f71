"""`tinytx train seq2seq` -> `tinytx translate` -> `tinytx eval` on tiny fixture files, and the error cases."""
import json
from pathlib import Path

import pytest

import tinytx
from tinytx.cli import main

FIX = Path(__file__).parent / "fixtures" / "seq2seq"  # German number words -> English (300 / 20 / 20 pairs)
TINY = ["--n-embd", "64", "--n-layer", "1", "--n-head", "2", "--vocab-size", "300", "--batch-size", "32",
        "--max-len", "24", "--dropout", "0", "--warmup-steps", "10", "--eval-interval", "100", "--eval-batches", "1",
        "--no-progress", "--device", "cpu"]


def data(*names):
    return [str(FIX / n) for n in names]


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tx"
    src, tgt, vsrc, vtgt = data("train.de", "train.en", "val.de", "val.en")
    assert main(["train", "seq2seq", "--model", "transformer", "--src", src, "--tgt", tgt, "--val-src", vsrc,
                 "--val-tgt", vtgt, "--out", str(run), "--max-steps", "200", "--lr", "5e-3",
                 "--no-scale-embeddings",  # this 300-pair toy learns word order in 200 steps with GPT-2's init
                 "--label-smoothing", "0", *TINY]) == 0
    return run


@pytest.mark.slow  # ~10-15 s on 2 idle cores: 200 steps so the translations are right
def test_train_translate_eval(transformer_run, tmp_path, capsys):
    run = tinytx.load_run(transformer_run)
    assert run.task == "seq2seq" and run.meta.model["name"] == "transformer_seq2seq"
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
    assert {"bleu", "chrf", "bleu_signature", "chrf_signature", "sentences", "beam"} <= set(metrics)
    assert metrics["bleu"] > 20 and metrics["chrf"] > 50  # short sentences: BLEU is harsh on them
    assert "tok:13a" in metrics["bleu_signature"] and metrics["sentences"] == 20 and metrics["beam"] == 4


def test_gru_separate_vocabularies_token_budget_and_resume(tmp_path, capsys):
    run = tmp_path / "gru"
    src, tgt = data("train.de", "train.en")
    args = ["train", "seq2seq", "--model", "gru", "--src", src, "--tgt", tgt, "--out", str(run), "--no-shared-vocab",
            *TINY]
    assert main([*args, "--batch-size", "256t", "--max-steps", "4"]) == 0
    assert (run / "src_tokenizer.json").exists() and (run / "tokenizer.json").exists()
    loaded = tinytx.load_run(run)
    assert loaded.src_tokenizer is not None and loaded.tokenizer is not None
    assert loaded.meta.model["config"]["n_layer"] == 1  # the gru preset
    # 256 target tokens / (mean target length + [EOS]) sentences, saved as the run's batch size (exact resume)
    batch = loaded.info["batch_sentences"]
    assert 10 < batch < 256 and loaded.options.train.batch_size == batch
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
                 *TINY, "--max-steps", "1"]) == 0
    assert main(["translate", str(run)]) == 2
    assert "give a sentence or --input" in capsys.readouterr().err
    assert main(["translate", str(run), "eins", "--beam", "0"]) == 2
    assert "beam size" in capsys.readouterr().err
    assert main(["eval", str(run), "--src", data("test.de")[0]]) == 2
    assert "--tgt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse refuses it
        main(["train", "seq2seq", "--src", data("train.de")[0], "--tgt", data("train.en")[0], "--out",
              str(tmp_path / "r"), *TINY, "--batch-size", "lots", "--max-steps", "1"])
    assert e.value.code == 2 and "--batch-size" in capsys.readouterr().err
    assert main(["train", "seq2seq", "--src", data("train.de")[0], "--tgt", data("train.en")[0], "--out",
                 str(tmp_path / "r"), *TINY, "--batch-size", "full", "--max-steps", "1"]) == 2
    assert "--batch-size full is not for seq2seq" in capsys.readouterr().err
    assert main(["train", "seq2seq", "--src", data("train.de")[0], "--tgt", data("train.en")[0], "--val-src",
                 data("val.de")[0], "--out", str(tmp_path / "r"), *TINY, "--max-steps", "1"]) == 2
    assert "give both --val-src and --val-tgt" in capsys.readouterr().err
    assert main(["translate", str(tmp_path), "eins"]) == 2
    assert "not a tinytx run" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_docs_show_only_flags_that_exist():
    """docs/seq2seq.md: every `tinytx ...` command parses, and every flag it names is a real one."""
    import re
    import shlex

    from tinytx.cli import build_parser

    doc = (Path(__file__).parent.parent / "docs" / "seq2seq.md").read_text()
    parser, _ = build_parser()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", doc, re.S):
        for cmd in block.replace("\\\n", " ").splitlines():
            cmd = cmd.split("#")[0].strip()
            if cmd.startswith("tinytx "):
                commands.append(shlex.split(cmd)[1:])
    assert len(commands) >= 5
    for argv in commands:
        parser.parse_args(argv)  # argparse exits on an unknown flag
    known = set()
    for name in ("train", "translate", "eval"):
        top = parser._subparsers._group_actions[0].choices[name]
        subs = [top._subparsers._group_actions[0].choices["seq2seq"]] if name == "train" else [top]
        known |= {s for p in subs for a in p._actions for s in a.option_strings}
    known.discard("--data")  # eval's flag for the other recipes; seq2seq has none
    prose = re.sub(r"```.*?```", "", doc, flags=re.S)  # (the commands in code blocks are parsed above)
    spans = " ".join(re.findall(r"`([^`]+)`", prose))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", spans)) - {"--gru-minutes"}  # a bench_seq2seq.py flag
    assert named and named <= known, named - known
