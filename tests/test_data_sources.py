import gzip
import json

import pytest

from tinytx.data.sources import load_table, load_texts, read_csv_columns, read_pairs
from tinytx.errors import TinytxError


@pytest.fixture
def files(tmp_path):
    (tmp_path / "t.txt").write_text("first line\n\nsecond para a\nsecond para b\n\n\nthird\n", encoding="utf-8")
    csv = 'label,text\nham,"hello, world"\nspam,"buy\nnow"\nham,\n'
    (tmp_path / "a.csv").write_text(csv, encoding="utf-8")
    with gzip.open(tmp_path / "a.csv.gz", "wt", encoding="utf-8") as f:
        f.write(csv)
    (tmp_path / "j.jsonl").write_text("\n".join(json.dumps({"text": t, "y": y}) for t, y in [("a", 1), ("b", 0)]) + "\n")
    (tmp_path / "src.de").write_text("eins\nzwei\x0bdrei\n", encoding="utf-8")  # \x0b inside a line stays there
    (tmp_path / "tgt.en").write_text("one\r\ntwo three\r\n", encoding="utf-8")
    return tmp_path


def test_text_by_line_paragraph_document(files):
    p = files / "t.txt"
    assert load_texts(p) == ["first line", "second para a", "second para b", "third"]
    assert load_texts(p, by="paragraph") == ["first line", "second para a\nsecond para b", "third"]
    assert load_texts(p, by="document") == [p.read_text()]


@pytest.mark.parametrize("name", ["a.csv", "a.csv.gz"])
def test_csv_and_gzip(files, name):
    assert load_texts(files / name) == ["hello, world", "buy\nnow", ""]  # quoted newline kept, empty cell -> ""
    texts, labels = read_csv_columns(files / name, "text", "label")
    assert labels == ["ham", "spam", "ham"] and texts[0] == "hello, world"
    assert load_table(files / name, columns=["label"]) == {"label": ["ham", "spam", "ham"]}


def test_jsonl(files):
    assert read_csv_columns(files / "j.jsonl", "text", "y") == (["a", "b"], [1, 0])


def test_pairs_are_line_aligned(files):
    assert read_pairs(files / "src.de", files / "tgt.en") == [("eins", "one"), ("zwei\x0bdrei", "two three")]


def test_errors_are_clear(files, tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02abc")
    (tmp_path / "latin1.csv").write_bytes("label,text\nham,café\n".encode("latin-1"))
    (tmp_path / "empty.txt").write_bytes(b"  \n")
    (tmp_path / "header.csv").write_text("label,text\n")
    (tmp_path / "one.en").write_text("x\n")
    cases = [
        (lambda: load_texts(tmp_path / "missing.txt"), "not found"),
        (lambda: load_texts(tmp_path / "bin.txt"), "binary"),
        (lambda: load_texts(tmp_path / "latin1.csv"), "not UTF-8"),
        (lambda: load_texts(tmp_path / "empty.txt"), "empty"),
        (lambda: load_table(tmp_path / "header.csv"), "no rows"),
        (lambda: load_table(files / "a.csv", columns=["txt"]), "no column 'txt'; the columns are label, text"),
        (lambda: read_csv_columns(files / "a.csv", "label", "text"), "have no 'text'"),
        (lambda: load_table(files / "t.txt"), "not a table"),
        (lambda: read_pairs(files / "src.de", tmp_path / "one.en"), "must pair line by line"),
        (lambda: load_texts(files / "t.txt", by="sentence"), "line, paragraph or document"),
    ]
    for fn, msg in cases:
        with pytest.raises(TinytxError, match=msg):
            fn()


def test_real_spam_corpus_reads_if_present():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "spamassassin" / "train.csv"
    if not path.exists():
        path = path.with_suffix(".csv.gz")
    if not path.exists():
        pytest.skip("data/spamassassin not in this checkout")
    texts, labels = read_csv_columns(path, "text", "label")
    assert len(texts) == len(labels) > 1000 and set(labels) == {"ham", "spam"}
