import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

from tinytx.errors import TinytxError
from tinytx.tokenizers import (
    BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID as UNK, CharTokenizer, load_tokenizer, pad_batch, train_tokenizer,
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
LOSSLESS = ["char", "bpe", "unigram"]  # char: byte fallback for characters it never saw


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
def test_property_lossless_round_trip_any_text(toks, text):
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
    # byte fallback (the default): an unseen character is its UTF-8 bytes, byte b at byte_offset + b
    assert tok.vocab_size == 5 + len(tok.chars) + 256 and tok.byte_offset == 5 + len(tok.chars)
    assert tok.encode("Ω") == [tok.byte_offset + b for b in "Ω".encode()] and tok.decode(tok.encode("Ω")) == "Ω"
    assert tok.id_to_token(tok.byte_offset + 0xCE) == "<0xCE>" and tok.unknown_chars("aΩbΩ€") == ["Ω", "€"]
    assert tok.encode("Speak") == CharTokenizer(tok.chars, unknown="unk").encode("Speak")  # same ids for seen ones
    assert CharTokenizer(tok.chars, unknown="unk").encode("Ω") == [1]
    strict = CharTokenizer(tok.chars, unknown="error")
    with pytest.raises(TinytxError, match="never saw"):
        strict.encode("Ω")


def test_char_old_files_keep_unk(toks, tmp_path):
    """A char tokenizer file from before byte fallback (no "byte_fallback" key) loads as it was: the same ids,
    the same vocabulary size, and unseen characters still become [UNK]."""
    tok = toks["char"]
    old = {"kind": "char", "special_tokens": list(SPECIAL_TOKENS), "chars": tok.chars}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = load_tokenizer(tmp_path / "old.json")
    assert loaded.vocab_size == 5 + len(tok.chars) and loaded.byte_offset is None
    assert loaded.encode("Speak, Ω!") == [tok.token_to_id(c) if c in tok.chars else 1 for c in "Speak, Ω!"]
    assert loaded.decode(loaded.encode("Speak")) == "Speak"
    loaded.save(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["byte_fallback"] is False
    assert load_tokenizer(tmp_path / "again.json").encode("Ω") == [1]


def test_char_byte_fallback_details():
    tok = train_tokenizer("char", ["hello world"])
    odd = "\x00\x7f\x80\u07ff\u0800\uffff\U00010000\U0010ffff é\u0301 😀 [EOS]\n"
    expected = [tok.token_to_id(c) if c in tok.chars else None for c in odd]
    ids = tok.encode(odd)
    flat = []
    for c, i in zip(odd, expected):
        flat += [i] if i is not None else [tok.byte_offset + b for b in c.encode()]
    assert ids == flat and tok.decode(ids) == odd
    assert not set(ids) & {0, 1, 2, 3, 4}
    texts = ["ab€", "", "hé", "llo", "😀😀", ""]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
    assert tok.decode_batch(tok.encode_batch(texts)) == texts
    assert tok.decode(tok.encode("é", add_bos=True, add_eos=True), skip_special=False) == "[BOS]é[EOS]"
    assert tok.decode([tok.byte_offset + 0xC3]) == "\ufffd"  # half a character (only a model writes one)
    with pytest.raises(TinytxError, match="out of range"):
        tok.decode([tok.vocab_size])
    with pytest.raises(TinytxError, match="smaller than the alphabet"):
        train_tokenizer("char", ["hello world"], vocab_size=5 + 8 + 255)
    assert train_tokenizer("char", ["hello world"], vocab_size=5 + 8, unknown="unk").vocab_size == 13


@settings(max_examples=80, deadline=None)
@given(train=st.text(min_size=1, max_size=40), text=st.text(max_size=80))
def test_property_char_lossless_on_other_text(train, text):
    """A char tokenizer trained on one text encodes and decodes any other text exactly."""
    tok = train_tokenizer("char", ["\n" + train])  # (a newline: never taken for a file name)
    ids = tok.encode(text)
    assert tok.decode(ids) == text and UNK not in ids
    assert len(ids) == sum(1 if c in tok.chars else len(c.encode()) for c in text)


def test_word_tokenizer_options():
    tok = train_tokenizer("word", ["The cat and the hat. The end!"], lowercase=True, stop_words=True)
    assert tok.decode(tok.encode("THE CAT, the Hat")) == "cat [UNK] hat"  # "," was never seen
    assert tok.encode("dog") == [1]  # [UNK]


def test_word_tokenizer_is_lossy_by_design(toks):
    tok = toks["word"]
    assert tok.decode(tok.encode("Speak,speak.\n\nhear  me")) == "Speak , speak . hear me"  # spacing is lost


def test_special_tokens_are_fixed():
    assert train_tokenizer("char", ["ab"], special_tokens=list(SPECIAL_TOKENS)).vocab_size == 7 + 256
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


# --- bpe: tiktoken's engine gives the ids `tokenizers` gives ----------------------------------------------------

def hf_ids(tok, text):
    return tok.hf.encode(text, add_special_tokens=False).ids


@pytest.fixture(scope="module")
def shakespeare_bpe():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "tinyshakespeare" / "input.txt"
    return train_tokenizer("bpe", [str(path)], vocab_size=2048), path.read_text(encoding="utf-8")


# text a byte-level BPE finds awkward: runs of every kind of whitespace, digits, contractions, emoji, the special
# tokens' spellings, letters of other scripts, and any character at all
AWKWARD = st.lists(st.one_of(
    st.sampled_from(list(" \t\n\r\x0b\x0c\u00a0\u2028\u3000") + list("0123456789") + list("'sStTdDmM'") +
                    ["'s", "'ll", "'re", "[EOS]", "[PAD]", "😀", "👍🏽", "日本", "é\u0301", "Ω", "  ", "\n\n", " 'll"]),
    st.characters(blacklist_categories=("Cs",)),
), max_size=60).map("".join)


def test_bpe_encodes_with_tiktoken(toks, shakespeare_bpe):
    assert toks["bpe"].engine == "tiktoken" and shakespeare_bpe[0].engine == "tiktoken"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=AWKWARD, words=st.lists(st.sampled_from(CORPUS.split(" ") + ["\n", " ", "  ", "'s", "[EOS]"]), max_size=30))
def test_property_bpe_ids_equal_tokenizers(toks, shakespeare_bpe, text, words):
    """Any text (and text made of the corpus' own words, where merges fire): tiktoken's ids are `tokenizers`' ids."""
    for tok in (toks["bpe"], shakespeare_bpe[0]):
        for t in (text, " ".join(words), "".join(words) + text):
            assert tok.encode(t) == hf_ids(tok, t)
    batch = [text, " ".join(words)]
    assert toks["bpe"].encode_batch(batch) == [hf_ids(toks["bpe"], t) for t in batch]


def test_bpe_ids_equal_tokenizers_on_a_real_corpus(shakespeare_bpe, tmp_path):
    """All of tiny Shakespeare: one text, its lines as a batch, and the token file."""
    import numpy as np

    from tinytx.data.encode import encode_file, load_tokens, split_lines

    tok, text = shakespeare_bpe
    ids = tok.encode(text)
    assert ids == hf_ids(tok, text) and len(ids) > 300_000
    lines = text.splitlines(keepends=True)
    assert tok.encode_batch(lines) == [e.ids for e in tok.hf.encode_batch(lines, add_special_tokens=False)]
    (tmp_path / "s.txt").write_text(text, encoding="utf-8")
    encode_file(tok, tmp_path / "s.txt", tmp_path / "s.bin", progress=False)
    pieces = split_lines(text, 1 << 16)  # what encode_file hands the engine: 64 KB pieces at line ends
    expected = [i for piece in pieces for i in hf_ids(tok, piece)]
    assert np.array_equal(np.asarray(load_tokens(tmp_path / "s.bin")), expected)


def test_bpe_falls_back_to_tokenizers(toks, tmp_path):
    """A file tiktoken cannot reproduce (here: a normalizer) encodes with `tokenizers`, same ids as the library."""
    d = toks["bpe"].to_dict()
    d["normalizer"] = {"type": "Lowercase"}
    (tmp_path / "lower.json").write_text(json.dumps(d))
    tok = load_tokenizer(tmp_path / "lower.json")
    assert tok.engine == "tokenizers"
    for text in ("Speak, SPEAK [EOS]", "Café 😀\n"):
        assert tok.encode(text) == hf_ids(tok, text) == toks["bpe"].encode(text.lower())
        assert tok.encode_batch([text]) == [hf_ids(tok, text)]
    from tinytx.tokenizers.bpe import _tiktoken_encoding

    d = toks["bpe"].to_dict()
    assert not isinstance(_tiktoken_encoding(d), str)
    d["model"]["merges"] = d["model"]["merges"][::-1]
    assert "id order" in _tiktoken_encoding(d)
    d = toks["bpe"].to_dict()
    d["added_tokens"].append({**d["added_tokens"][-1], "id": 5, "content": "<extra>"})
    assert "added tokens" in _tiktoken_encoding(d)


def test_bpe_lone_surrogate_error_unchanged(toks):
    with pytest.raises(Exception) as ours:
        toks["bpe"].encode("a\ud800b")
    with pytest.raises(Exception) as theirs:
        hf_ids(toks["bpe"], "a\ud800b")
    assert type(ours.value) is type(theirs.value)
    with pytest.raises(type(theirs.value)):
        toks["bpe"].encode_batch(["fine", "a\ud800b"])


# --- word: the numpy encoder gives the regex's ids -------------------------------------------------------------

WORDY = st.lists(st.one_of(
    st.sampled_from(list("ab c'_'\n\t1²ΣσςİK-.,") + ["don't", "a'b'c'd", "ab_c", "e\u0301", "𝐀", "😀", "\u00a0",
                                                    "\u2028", "  ", "the", "The", "THE", "'s"]),
    st.characters(blacklist_categories=("Cs",)),
), max_size=200).map("".join)


def regex_ids(tok, text):
    """The definition: WORD_RE.findall, then a dict lookup (stop words dropped)."""
    import re

    from tinytx.tokenizers.word import DROP, WORD_RE

    words = re.findall(WORD_RE, text.lower() if tok.lowercase else text)
    ids = [tok._lookup.get(w, UNK) for w in words]
    return [i for i in ids if i != DROP]


@pytest.fixture(scope="module")
def word_toks():
    train = "the cat sat on the mat. don't a'b c'd ab_c 1 ² é Σσς ΣΑΣ i̇ k 𝐀 " * 3
    return [train_tokenizer("word", [train], **o) for o in (dict(), dict(lowercase=True),
                                                           dict(lowercase=True, stop_words=True))]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=WORDY, texts=st.lists(WORDY, max_size=6))
def test_property_word_fast_path_equals_regex(word_toks, monkeypatch, text, texts):
    import tinytx.tokenizers.word as word

    monkeypatch.setattr(word, "FAST_MIN_CHARS", 0)  # numpy for every text, however short
    monkeypatch.setattr(word, "BLOCK_CHARS", 16)  # and many blocks
    for tok in word_toks:
        assert tok.encode(text) == regex_ids(tok, text)
        assert tok.encode_array(text).tolist() == regex_ids(tok, text)
        assert tok.encode_batch(texts) == [regex_ids(tok, t) for t in texts]


def test_word_character_classes_are_pythons():
    """The class table is Python's own \\w / \\s for every code point of the BMP (and a sample beyond it)."""
    import re

    import numpy as np

    from tinytx.tokenizers.word import QUOTE, SPACE, WORDCH, char_classes

    cps = np.array([c for c in range(0x20000) if not 0xD800 <= c < 0xE000] + [0x10FFFF, 0xE0001], dtype=np.uint32)
    text = "".join(map(chr, cps.tolist()))
    want = np.array([WORDCH if re.match(r"\w", c) else SPACE if re.match(r"\s", c) else QUOTE if c == "'" else 2
                     for c in text], dtype=np.uint8)
    assert np.array_equal(char_classes(cps), want)


def test_word_fast_path_cases(monkeypatch):
    import tinytx.tokenizers.word as word

    monkeypatch.setattr(word, "FAST_MIN_CHARS", 0)
    long_word = "x" * 100
    tok = train_tokenizer("word", [f"a'b'c'd rock'n'roll don't {long_word} ab"])
    for text in ["a'b'c'd'e", "rock'n'roll'x", "'a' b'' 'c", "don't's", long_word, "x" * 99 + "y", long_word + "x",
                 "ab" * 300, ""]:
        assert tok.encode(text) == regex_ids(tok, text), text


def test_word_vocabulary_with_a_hash_collision_keeps_the_regex(monkeypatch):
    import numpy as np

    import tinytx.tokenizers.word as word

    monkeypatch.setattr(word, "token_keys", lambda cps, s, e: np.zeros(len(s), dtype=np.uint64))
    tok = train_tokenizer("word", ["a b c"])
    assert tok._keys() is None and tok.encode("a b d " * 100) == [5, 6, 1] * 100
