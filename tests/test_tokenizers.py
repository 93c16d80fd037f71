import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

from tinytx.errors import TinytxError
from tinytx.tokenizers import (
    BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, CharTokenizer, load_tokenizer, pad_batch, train_tokenizer,
)

CORPUS = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
    "Café naïve — ünïcödé, 日本語のテキスト, emoji 😀 and tabs\tand  double  spaces.\n"
) * 30
VOCAB = {"char": None, "word": 200, "bpe": 400, "unigram": 400}


@pytest.fixture(scope="module")
def toks():
    return {kind: train_tokenizer(kind, [CORPUS], vocab_size=v) for kind, v in VOCAB.items()}


STRINGS = ["", "a", "Speak, speak.", "hear me\n\n  speak", "[EOS] not special [PAD]", "café 😀\t日本", " leading", "trailing \n",
           "sentencepiece's own space mark \u2581 stays", "\r\n\x00\x0b\u2028 control and line separators"]
LOSSLESS = ["bpe", "unigram"]


@pytest.mark.parametrize("kind", LOSSLESS)
@pytest.mark.parametrize("text", STRINGS)
def test_lossless_round_trip(toks, kind, text):
    tok = toks[kind]
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("text", [s for s in STRINGS if set(s) <= set(CORPUS)])
def test_char_round_trip_on_alphabet(toks, text):
    assert toks["char"].decode(toks["char"].encode(text)) == text


@pytest.mark.parametrize("kind", list(VOCAB))
def test_special_tokens_have_fixed_ids(toks, kind):
    tok = toks[kind]
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert [tok.id_to_token(i) for i in range(5)] == list(SPECIAL_TOKENS)


@pytest.mark.parametrize("kind", list(VOCAB))
def test_no_special_token_injection(toks, kind):
    tok = toks[kind]
    ids = tok.encode("stop [EOS] [PAD] [MASK] here")
    assert not set(ids) & {0, 2, 3, 4}
    assert tok.encode("x", add_bos=True, add_eos=True)[0] == BOS_ID
    assert tok.encode("x", add_bos=True, add_eos=True)[-1] == EOS_ID


@pytest.mark.parametrize("kind", list(VOCAB))
def test_save_load_same_ids(toks, kind, tmp_path):
    tok = toks[kind]
    tok.save(tmp_path / "tok.json")
    again = load_tokenizer(tmp_path / "tok.json")
    assert type(again) is type(tok) and again.vocab_size == tok.vocab_size
    for s in STRINGS:
        assert again.encode(s) == tok.encode(s)


def test_bpe_file_loads_in_rust_library(toks, tmp_path):
    toks["bpe"].save(tmp_path / "bpe.json")
    hf = HFTokenizer.from_file(str(tmp_path / "bpe.json"))
    assert hf.decode(hf.encode("Speak, speak.").ids) == "Speak, speak."


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# U+FDD0 (a Unicode noncharacter) is the one character unigram reserves for itself (see tokenizers/unigram.py)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufdd0"), max_size=80))
def test_property_bpe_unigram_round_trip_any_text(toks, text):
    for kind in LOSSLESS:
        assert toks[kind].decode(toks[kind].encode(text)) == text


@pytest.fixture(scope="module")
def reloaded(toks, tmp_path_factory):
    d = tmp_path_factory.mktemp("saved")
    for kind, tok in toks.items():
        tok.save(d / f"{kind}.json")
    return {kind: load_tokenizer(d / f"{kind}.json") for kind in toks}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_property_save_load_same_ids(toks, reloaded, text):
    for kind in toks:
        assert reloaded[kind].encode(text) == toks[kind].encode(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=sorted(set(CORPUS)), max_size=80))
def test_property_char_round_trip_on_alphabet(toks, text):
    assert toks["char"].decode(toks["char"].encode(text)) == text


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=30), max_size=5))
def test_property_batch_equals_single(toks, texts):
    for tok in toks.values():
        assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
        assert tok.decode_batch(tok.encode_batch(texts)) == [tok.decode(tok.encode(t)) for t in texts]


def test_char_unknown_characters(toks):
    tok = toks["char"]
    assert tok.encode("Ω") == [1]
    strict = CharTokenizer(tok.chars, unknown="error")
    with pytest.raises(TinytxError, match="never saw"):
        strict.encode("Ω")


def test_word_tokenizer_options():
    tok = train_tokenizer("word", ["The cat and the hat. The end!"], lowercase=True, stop_words=True)
    assert tok.decode(tok.encode("THE CAT, the Hat")) == "cat [UNK] hat"  # "," was never seen
    assert tok.encode("dog") == [1]  # [UNK]


def test_word_tokenizer_is_lossy_by_design(toks):
    tok = toks["word"]
    assert tok.decode(tok.encode("Speak,speak.\n\nhear  me")) == "Speak , speak . hear me"  # spacing is lost


def test_special_tokens_are_fixed():
    assert train_tokenizer("char", ["ab"], special_tokens=list(SPECIAL_TOKENS)).vocab_size == 7
    with pytest.raises(TinytxError, match="fixed"):
        train_tokenizer("char", ["ab"], special_tokens=["<s>", "</s>"])


def test_token_file_dtype():
    from tinytx.data.encode import token_dtype

    assert token_dtype(65536) == "uint16" and token_dtype(65537) == "uint32"


def test_word_min_frequency_and_vocab_cap():
    tok = train_tokenizer("word", ["a a a b b c"], min_frequency=2)
    assert tok.token_to_id("c") is None and tok.token_to_id("a") is not None
    assert train_tokenizer("word", ["a a a b b c"], vocab_size=6).vocab_size == 6


def test_padding_and_mask(toks):
    ids, mask = toks["char"].encode_padded(["Speak", "me"], max_length=4)
    assert ids.shape == (2, 4) and mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert ids[1, 2] == PAD_ID
    ids, mask = pad_batch([[5], [6, 7, 8]])
    assert ids.tolist() == [[5, 0, 0], [6, 7, 8]]
    ids, mask = pad_batch([[5], [6, 7, 8]], pad_to=4)
    assert ids.tolist() == [[5, 0, 0, 0], [6, 7, 8, 0]] and mask.sum() == 4
    ids, _ = toks["bpe"].encode_padded(["Speak", "Speak, speak."], add_bos=True, add_eos=True)
    assert ids[0, 0] == BOS_ID and EOS_ID in ids[0].tolist() and ids[1, -1] == EOS_ID


@pytest.mark.parametrize(
    "kind,vocab,msg", [("char", 5, "smaller than the alphabet"), ("bpe", 100, "byte alphabet"), ("word", 3, "no room")]
)
def test_vocab_too_small(kind, vocab, msg):
    with pytest.raises(TinytxError, match=msg):
        train_tokenizer(kind, [CORPUS], vocab_size=vocab)


@pytest.mark.parametrize("kind", list(VOCAB))
def test_empty_corpus(kind):
    with pytest.raises(TinytxError, match="empty corpus"):
        train_tokenizer(kind, [""])


def test_load_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"kind": "mystery"}))
    (tmp_path / "corrupt.json").write_text(json.dumps({"kind": "char"}))
    for name, msg in [("bad.json", "not a tokenizer"), ("other.json", "unknown tokenizer kind"), ("corrupt.json", "corrupt"), ("missing.json", "not found")]:
        with pytest.raises(TinytxError, match=msg):
            load_tokenizer(tmp_path / name)


def test_unknown_kind():
    with pytest.raises(TinytxError, match="unknown tokenizer kind"):
        train_tokenizer("wordpiece", ["x"])


def test_docs_examples_run(tmp_path, monkeypatch, capsys):
    """docs/tokenizers.md: every ```python block runs, and every `tinytx ...` command line succeeds."""
    import re
    import shlex
    from pathlib import Path

    from tinytx.cli import main

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "tokenizers.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "tinyshakespeare").mkdir(parents=True)
    shakespeare = (root / "data" / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:200_000]
    (tmp_path / "data" / "tinyshakespeare" / "input.txt").write_text(shakespeare, encoding="utf-8")
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", doc, re.S | re.M)
    for lang, body in blocks:
        if lang == "python":
            exec(compile(body, "docs/tokenizers.md", "exec"), {})
    commands = [line for lang, body in blocks if lang == "" for line in body.splitlines() if line.startswith("tinytx ")]
    assert commands
    for line in commands:
        assert main(shlex.split(line)[1:] + (["--quiet"] if " encode " in line else [])) == 0, line
    assert Path("shakespeare.txt").read_text(encoding="utf-8") == shakespeare
