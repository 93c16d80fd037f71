import numpy as np
import pytest

from tinytx.cli import main
from tinytx.data.encode import encode_file, load_tokens, read_chunks
from tinytx.data.lm import LMWindows, encode_text_file
from tinytx.errors import TinytxError
from tinytx.tokenizers import train_tokenizer

TEXT = "".join(f"line {i}: café 😀 {'x' * (i % 7)}\n" for i in range(3000))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("c") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind,vocab", [("char", None), ("bpe", 300), ("unigram", 300)])
def test_encode_decode_file_byte_identical(corpus, tmp_path, kind, vocab):
    tok = train_tokenizer(kind, [TEXT], vocab_size=vocab)
    tok.save(tmp_path / "tok.json")
    # small chunks: many chunk borders, multi-byte characters among them
    meta = encode_file(tok, corpus, tmp_path / "ids.bin", progress=False, chunk_bytes=1000)
    assert meta["count"] == len(tok.encode(TEXT)) or kind != "char"
    assert meta["dtype"] == "uint16"
    from tinytx.data.encode import decode_file

    decode_file(tok, tmp_path / "ids.bin", tmp_path / "back.txt", chunk=500)
    assert (tmp_path / "back.txt").read_bytes() == corpus.read_bytes()


def test_chunks_split_at_line_ends(corpus):
    pieces = list(read_chunks(corpus, chunk_bytes=777))
    assert "".join(pieces) == TEXT
    assert all(p.endswith("\n") for p in pieces)


def test_long_line_chunking_keeps_utf8(tmp_path):
    path = tmp_path / "one_line.txt"
    path.write_text("é😀" * 2000, encoding="utf-8")
    assert "".join(read_chunks(path, chunk_bytes=101)) == "é😀" * 2000


def test_bad_files(tmp_path):
    (tmp_path / "bin").write_bytes(b"abc\x00\x01")
    (tmp_path / "latin1").write_bytes("café\n".encode("latin-1"))
    (tmp_path / "empty").write_bytes(b"")
    tok = train_tokenizer("char", ["abc"])
    for name, msg in [("bin", "binary"), ("latin1", "not UTF-8"), ("empty", "empty"), ("missing", "not found")]:
        with pytest.raises(TinytxError, match=msg):
            encode_file(tok, tmp_path / name, tmp_path / "o.bin", progress=False)
    assert not (tmp_path / "o.bin").exists()  # nothing half-written


def test_lm_windows_pure_and_shifted(corpus, tmp_path):
    tok = train_tokenizer("char", [TEXT])
    train, val = encode_text_file(tok, corpus, tmp_path / "train.bin", tmp_path / "val.bin", val_fraction=0.1)
    assert len(load_tokens(val)) == pytest.approx(0.1 * len(TEXT), rel=0.01)
    w = LMWindows(train, block_size=16, batch_size=4, seed=3)
    a, b = w.get(7), w.get(7)
    assert a["idx"].shape == (4, 16) and (a["idx"] == b["idx"]).all()
    assert (a["idx"][:, 1:] == a["targets"][:, :-1]).all()
    assert not (w.get(8)["idx"] == a["idx"]).all()
    # DDP: two ranks together see the single-process batch
    halves = [w.get(7, rank=r, world=2)["idx"] for r in range(2)]
    assert (np.concatenate(halves) == a["idx"].numpy()).all()
    ev = list(w.iter_eval(max_batches=2))
    assert len(ev) == 2 and (ev[0]["idx"][0, :16].numpy() == np.asarray(load_tokens(train)[:16])).all()


def test_lm_windows_too_little_data():
    with pytest.raises(TinytxError, match="fewer than one window"):
        LMWindows(np.arange(10), block_size=16, batch_size=2)


def test_cli_encode_decode_round_trip(corpus, tmp_path, capsys):
    tok = tmp_path / "tok.json"
    assert main(["tokenize", "train", "--kind", "bpe", "--vocab-size", "300", str(corpus), "-o", str(tok)]) == 0
    assert main(["tokenize", "encode", "--tokenizer", str(tok), str(corpus), "-o", str(tmp_path / "ids.bin"),
                 "--val-fraction", "0.1", "--quiet"]) == 0
    assert (tmp_path / "ids.train.bin").exists() and (tmp_path / "ids.val.bin").exists()
    assert main(["tokenize", "decode", "--tokenizer", str(tok), str(tmp_path / "ids.bin"), "-o", str(tmp_path / "t.txt")]) == 0
    assert (tmp_path / "t.txt").read_bytes() == corpus.read_bytes()
    assert main(["tokenize", "show", "--tokenizer", str(tok), "café"]) == 0
    assert "tokens" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "b.bin").write_bytes(b"\x00\xff")
    assert main(["tokenize", "train", "--kind", "char", str(tmp_path / "b.bin"), "-o", str(tmp_path / "t.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytx: error:") and err.count("\n") == 1
    assert not (tmp_path / "t.json").exists()
    assert main(["tokenize", "show", "--tokenizer", str(tmp_path / "none.json"), "x"]) == 2


def test_token_file_checked_against_sidecar(corpus, tmp_path):
    tok = train_tokenizer("char", [TEXT])
    encode_file(tok, corpus, tmp_path / "ids.bin", progress=False)
    with open(tmp_path / "ids.bin", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(TinytxError, match="does not match its sidecar"):
        load_tokens(tmp_path / "ids.bin")
    (tmp_path / "ids.bin.json").write_text("{broken")
    with pytest.raises(TinytxError, match="not valid JSON"):
        load_tokens(tmp_path / "ids.bin")


def test_char_byte_fallback_file_round_trip(corpus, tmp_path):
    """A char tokenizer trained on other text: unseen characters go to the file as bytes and come back, even when a
    decode chunk ends inside one character's bytes."""
    from tinytx.data.encode import decode_file

    tok = train_tokenizer("char", ["line 0123456789:\n"])
    meta = encode_file(tok, corpus, tmp_path / "ids.bin", progress=False, chunk_bytes=1000)
    ids = np.asarray(load_tokens(tmp_path / "ids.bin"))
    assert meta["unk_count"] == 0 and (ids >= tok.byte_offset).any()
    assert ids.tolist() == tok.encode(TEXT)
    for chunk in (7, 500):
        decode_file(tok, tmp_path / "ids.bin", tmp_path / "back.txt", chunk=chunk)
        assert (tmp_path / "back.txt").read_bytes() == corpus.read_bytes()


def test_unknown_count_in_sidecar(corpus, tmp_path):
    from tinytx.data.encode import split_tokens

    tok = train_tokenizer("word", ["line café"])
    meta = encode_file(tok, corpus, tmp_path / "ids.bin", progress=False)
    ids = np.asarray(load_tokens(tmp_path / "ids.bin"))
    assert meta["unk_count"] == int((ids == 1).sum()) > 0
    tr, va = split_tokens(tmp_path / "ids.bin", 0.25, tmp_path / "tr.bin", tmp_path / "va.bin")
    assert tr["unk_count"] + va["unk_count"] == meta["unk_count"]
    assert va["unk_count"] == int((np.asarray(load_tokens(tmp_path / "va.bin")) == 1).sum())
    assert encode_file(train_tokenizer("bpe", [TEXT], vocab_size=300), corpus, tmp_path / "b.bin",
                       progress=False)["unk_count"] == 0
