"""`tinytx tokenize ...` through tinytx.cli.main: round trips of files, and one readable line for bad input."""
import json

import numpy as np
import pytest

from tinytx.cli import main

TEXT = "".join(f"Line {i}: naïve café, 日本 😀\ttab  two spaces [EOS]\n" for i in range(400)) + "no newline at the end"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_bytes(TEXT.encode("utf-8"))
    return path


@pytest.mark.parametrize("kind,vocab", [("char", None), ("bpe", 320), ("unigram", 330)])
def test_train_encode_decode_byte_identical(corpus, tmp_path, kind, vocab, capsys):
    tok = tmp_path / "tok.json"
    args = ["tokenize", "train", "--kind", kind, str(corpus), "-o", str(tok)]
    assert main(args + (["--vocab-size", str(vocab)] if vocab else [])) == 0
    assert main(["tokenize", "encode", "--tokenizer", str(tok), str(corpus), "-o", str(tmp_path / "ids.bin"), "--quiet"]) == 0
    meta = json.loads((tmp_path / "ids.bin.json").read_text())
    assert meta["dtype"] == "uint16" and meta["tokenizer_kind"] == kind
    assert (tmp_path / "ids.bin").stat().st_size == 2 * meta["count"]
    assert main(["tokenize", "decode", "--tokenizer", str(tok), str(tmp_path / "ids.bin"), "-o", str(tmp_path / "back.txt")]) == 0
    assert (tmp_path / "back.txt").read_bytes() == corpus.read_bytes()


def test_val_fraction_split(corpus, tmp_path):
    tok = tmp_path / "tok.json"
    assert main(["tokenize", "train", "--kind", "char", str(corpus), "-o", str(tok)]) == 0
    assert main(["tokenize", "encode", "--tokenizer", str(tok), str(corpus), "-o", str(tmp_path / "ids.bin"),
                 "--val-fraction", "0.25", "--quiet"]) == 0
    full = np.fromfile(tmp_path / "ids.bin", dtype=np.uint16)
    train = np.fromfile(tmp_path / "ids.train.bin", dtype=np.uint16)
    val = np.fromfile(tmp_path / "ids.val.bin", dtype=np.uint16)
    assert np.array_equal(np.concatenate([train, val]), full)
    assert len(val) == pytest.approx(0.25 * len(full), abs=1)


def test_word_options_and_show(corpus, tmp_path, capsys):
    tok = tmp_path / "word.json"
    assert main(["tokenize", "train", "--kind", "word", "--lowercase", "--min-frequency", "2", str(corpus), "-o", str(tok)]) == 0
    capsys.readouterr()
    assert main(["tokenize", "show", "--tokenizer", str(tok), "NAÏVE café [EOS]"]) == 0
    out = capsys.readouterr().out
    assert "'naïve'" in out and "'café'" in out and "   3 " not in out  # "[EOS]" typed is not the special id


def test_word_encode_reports_unknown_rate(corpus, tmp_path, capsys):
    tok = tmp_path / "word.json"
    other = tmp_path / "other.txt"
    other.write_text("Line naïve café tab two spaces\n" * 3)
    assert main(["tokenize", "train", "--kind", "word", str(other), "-o", str(tok)]) == 0
    capsys.readouterr()
    assert main(["tokenize", "encode", "--tokenizer", str(tok), str(corpus), "-o", str(tmp_path / "ids.bin"), "--quiet"]) == 0
    err = capsys.readouterr().err
    ids = np.fromfile(tmp_path / "ids.bin", dtype=np.uint16)
    share = (ids == 1).mean()
    assert f"[UNK]: {share:.2%} of the tokens ({int((ids == 1).sum()):,})" in err and "warning" in err
    assert json.loads((tmp_path / "ids.bin.json").read_text())["unk_count"] == int((ids == 1).sum())
    assert main(["tokenize", "encode", "--tokenizer", str(tok), str(other), "-o", str(tmp_path / "o.bin"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "[UNK]: 0.00% of the tokens (0)" in err and "warning" not in err


def test_char_tokenizer_is_lossless_on_other_text(corpus, tmp_path, capsys):
    """Trained on one text, a char tokenizer writes any other file and gets it back byte for byte (byte fallback)."""
    other = tmp_path / "other.txt"
    other.write_text("Line 12: tab\n")
    tok = tmp_path / "tok.json"
    assert main(["tokenize", "train", "--kind", "char", str(other), "-o", str(tok)]) == 0
    assert main(["tokenize", "encode", "--tokenizer", str(tok), str(corpus), "-o", str(tmp_path / "ids.bin"), "--quiet"]) == 0
    assert main(["tokenize", "decode", "--tokenizer", str(tok), str(tmp_path / "ids.bin"), "-o", str(tmp_path / "back.txt")]) == 0
    assert (tmp_path / "back.txt").read_bytes() == corpus.read_bytes()
    assert "[UNK]" not in capsys.readouterr().err


def bad_inputs(tmp_path):
    (tmp_path / "ok.txt").write_text("hello world\n")
    (tmp_path / "bin.dat").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "other.json").write_text('{"model": "gpt"}')
    (tmp_path / "corrupt.json").write_text('{"kind": "bpe"')
    (tmp_path / "ids.bin").write_bytes(b"\x01\x00")
    t = str(tmp_path)
    return {
        "missing file": (["train", "--kind", "char", f"{t}/nope.txt", "-o", f"{t}/o.json"], "not found"),
        "binary file": (["train", "--kind", "bpe", f"{t}/bin.dat", "-o", f"{t}/o.json"], "binary"),
        "non-utf8": (["train", "--kind", "word", f"{t}/latin1.txt", "-o", f"{t}/o.json"], "not UTF-8"),
        "empty corpus": (["train", "--kind", "unigram", f"{t}/empty.txt", "-o", f"{t}/o.json"], "empty"),
        "vocab < alphabet": (["train", "--kind", "char", "--vocab-size", "8", f"{t}/ok.txt", "-o", f"{t}/o.json"], "smaller than the alphabet"),
        "bpe vocab < bytes": (["train", "--kind", "bpe", "--vocab-size", "100", f"{t}/ok.txt", "-o", f"{t}/o.json"], "byte alphabet"),
        "not a tokenizer": (["show", "--tokenizer", f"{t}/other.json", "x"], "not a tokenizer"),
        "corrupt json": (["show", "--tokenizer", f"{t}/corrupt.json", "x"], "not a tokenizer JSON"),
        "text as tokenizer": (["encode", "--tokenizer", f"{t}/ok.txt", f"{t}/ok.txt", "-o", f"{t}/o.bin"], "not a tokenizer JSON"),
        "encode binary": (["encode", "--tokenizer", f"{t}/tok.json", f"{t}/bin.dat", "-o", f"{t}/o.bin"], "binary"),
        "encode empty": (["encode", "--tokenizer", f"{t}/tok.json", f"{t}/empty.txt", "-o", f"{t}/o.bin"], "empty"),
        "bad val fraction": (["encode", "--tokenizer", f"{t}/tok.json", f"{t}/ok.txt", "-o", f"{t}/o.bin", "--val-fraction", "1.5"], "between 0 and 1"),
        "decode without sidecar": (["decode", "--tokenizer", f"{t}/tok.json", f"{t}/ids.bin", "-o", f"{t}/o.txt"], "sidecar"),
    }


@pytest.mark.parametrize("case", [
    "missing file", "binary file", "non-utf8", "empty corpus", "vocab < alphabet", "bpe vocab < bytes", "not a tokenizer",
    "corrupt json", "text as tokenizer", "encode binary", "encode empty", "bad val fraction", "decode without sidecar",
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, case):
    args, msg = bad_inputs(tmp_path)[case]
    assert main(["tokenize", "train", "--kind", "char", str(tmp_path / "ok.txt"), "-o", str(tmp_path / "tok.json")]) == 0
    capsys.readouterr()
    assert main(["tokenize", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytx: error: ") and err.count("\n") == 1 and msg in err, err
    assert not list(tmp_path.glob("o.*"))  # nothing half-written
