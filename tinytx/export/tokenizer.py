"""A tinytx tokenizer as a Hugging Face `tokenizers` file: `tokenizers.Tokenizer.from_file(FILE)` loads it and
gives the same ids as tinytx on any text.

    tinytx tokenize export --tokenizer tok.json --format hf -o hf_tokenizer.json

What each kind becomes (the pipeline is built so that it computes what tinytx computes, not something close):

  bpe      tinytx's file already is a `tokenizers` file; what changes is the special tokens. tinytx encodes a typed
           "[EOS]" as text (special ids enter a sequence only on purpose), `tokenizers` would match it as the
           special token, and its switch for that (encode_special_tokens) is not saved in the file. So the five
           special tokens stay in the vocabulary at ids 0..4 but are not listed as "added tokens" that text is
           searched for. (tinytx export hf declares them to transformers with split_special_tokens, which keeps
           them special and still encodes typed text as text.)
  char     every character its own piece (a Split pre-tokenizer), looked up in the alphabet, decoded by
           concatenation. Unseen characters as in tinytx: byte fallback (their UTF-8 bytes as <0x..> tokens) is a
           BPE model without merges, which has byte fallback; [UNK] is a WordLevel model; a tokenizer that refuses
           them ("error") gets a WordLevel unknown token that is not in the vocabulary, so `tokenizers` raises.
  word     a WordLevel model behind pre-tokenizers that split exactly like tinytx's regex. Python's \\w and \\s are
           not Oniguruma's (Python leaves out combining marks, counts "²" as a word character), so the regex is
           written with explicit character ranges computed from this Python's own definitions. Lowercasing is
           the Lowercase normalizer, which lowercases character by character: it differs from Python's
           str.lower only for final sigma (Python writes "ς" at a word's end) and for characters one Unicode
           version knows and the other does not, so a vocabulary containing such a character is refused. Stop
           words are removed by a pre-tokenizer that drops a piece spelling a stop word in full.
  unigram  a Unigram model with sentencepiece's pieces and scores and byte fallback, behind the normalizer that
           does what sentencepiece's identity normalisation + tinytx's "▁" escape do. sentencepiece never matches
           its control and byte pieces ([PAD], <0x41>) in text, `tokenizers` would; a pre-tokenizer isolates every
           "[" and "<" (where those pieces start), so that no piece can match across one, which is exact when no
           other piece holds "[" or "<" with more characters (else the export is refused). normalize=True (NFKC) tokenizers are refused: their
           precompiled normalisation map is not reproduced here. One limit: sentencepiece adds up a path's scores
           in 32-bit floats, tokenizers in 64-bit; on one text of around 100,000 characters the running sum is
           large enough that sentencepiece can miss the best split by a hair (measured on Shakespeare: no
           difference in 30 random texts of 70,000 characters, 12 of 30 at 100,000; there tokenizers' split is
           the better one). tinytx itself encodes files in chunks of about 1 MB.
  hf       (imported from a Hugging Face model) its own pipeline, with its special tokens handled as for bpe, and
           without a post-processor that adds tokens (tinytx adds [BOS]/[EOS] only when asked).
"""
from __future__ import annotations

import copy
import functools
import json
import os
import re
import sys
from pathlib import Path

from tokenizers import Regex
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers

from ..errors import TinytxError
from ..io import write_json
from ..tokenizers import (
    SPECIAL_TOKENS, BPETokenizer, CharTokenizer, HFTokenizer, Tokenizer, UnigramTokenizer, WordTokenizer,
    load_tokenizer,
)
from ..tokenizers.word import STOP_WORDS

FORMATS = ("hf",)
NO_SUCH_TOKEN = "<unknown character: refused>"  # the unk token of a char tokenizer that refuses unknown text


def to_hf(tok: Tokenizer) -> dict:
    """The `tokenizers` JSON that encodes like `tok` (raises TinytxError for what it cannot express)."""
    if isinstance(tok, (BPETokenizer, HFTokenizer)):
        return without_special_matching(json.loads(tok.hf.to_str()))
    if isinstance(tok, CharTokenizer):
        return char_pipeline(tok)
    if isinstance(tok, WordTokenizer):
        return word_pipeline(tok)
    if isinstance(tok, UnigramTokenizer):
        return unigram_pipeline(tok)
    raise TinytxError(f"a {tok.kind} tokenizer cannot be written as a Hugging Face tokenizers file")


def export_tokenizer(path: str | os.PathLike, out: str | os.PathLike, fmt: str = "hf") -> str:
    """`tinytx tokenize export`: write `path`'s tokenizer as a `tokenizers` file; returns the line to print."""
    if fmt not in FORMATS:
        raise TinytxError(f"unknown tokenizer format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if Path(out).is_dir():
        raise TinytxError(f"{out}: is a directory; give a file name")
    tok = load_tokenizer(path)
    d = to_hf(tok)
    check_same_ids(tok, d)
    write_json(out, d)
    line = f"{tok.kind} tokenizer with {tok.vocab_size} tokens -> {out} (tokenizers.Tokenizer.from_file loads it)"
    if isinstance(tok, UnigramTokenizer):
        line += ("; note: on a single text of around 100,000 characters or more, sentencepiece's 32-bit path "
                 "scores can pick a slightly worse split than tokenizers does, so the ids may differ there")
    return line


def check_same_ids(tok: Tokenizer, d: dict, extra: tuple[str, ...] = ()) -> None:
    """A last check before writing: the pipeline gives tinytx's ids on the vocabulary's own text and a few
    awkward strings (the tests check any text)."""
    rust = RustTokenizer.from_str(json.dumps(d))
    words = [tok.id_to_token(i) or "" for i in range(len(SPECIAL_TOKENS), min(tok.vocab_size, 3000))]
    samples = [" ".join(words), "".join(words), "Hello, world! [EOS] <|endoftext|> <0x41> don't  \n\t",
               "ÉCOLE ΣΟΦΙΑ straße İstanbul ½ a\u0301 😀 \u2581", *extra]
    for text in samples:
        try:
            mine = tok.encode(text)
        except TinytxError:
            continue  # a char tokenizer that refuses unknown characters
        theirs = rust.encode(text, add_special_tokens=False).ids
        if theirs != mine:
            raise TinytxError(f"the {tok.kind} tokenizer could not be expressed exactly in the tokenizers format "
                              f"(ids differ on {text[:40]!r}); nothing was written")


# --- bpe and imported pipelines ---------------------------------------------------------------------------------

def without_special_matching(d: dict) -> dict:
    """The special tokens stay in the vocabulary but are no longer "added tokens" that text is searched for
    (tinytx encodes a typed "[EOS]" as text). One that exists only as an added token is refused: the file could
    not keep its id without matching it in text."""
    d = copy.deepcopy(d)
    vocab = d.get("model", {}).get("vocab", {})
    known = set(vocab) if isinstance(vocab, dict) else {p[0] for p in vocab}
    kept = []
    for t in d.get("added_tokens") or []:
        if not t.get("special"):
            kept.append(t)
        elif t["content"] not in known:
            raise TinytxError(f"the special token {t['content']!r} is not in the model's vocabulary, so the file "
                              "could not keep its id without matching it in text")
    d["added_tokens"] = kept
    if (d.get("post_processor") or {}).get("type") not in (None, "ByteLevel"):  # a template adding [CLS]/<s>
        d["post_processor"] = None
    return d


# --- char ---------------------------------------------------------------------------------------------------------

def char_pipeline(tok: CharTokenizer) -> dict:
    vocab = {t: i for i, t in enumerate(tok.vocab)}
    unknown = getattr(tok, "unknown", "unk")
    if unknown == "bytes":  # byte fallback: a BPE model without merges has it (WordLevel has not)
        rust = RustTokenizer(models.BPE(vocab, [], unk_token="[UNK]", byte_fallback=True))
        rust.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    else:
        rust = RustTokenizer(models.WordLevel(vocab, unk_token=NO_SUCH_TOKEN if unknown == "error" else "[UNK]"))
        rust.decoder = decoders.Fuse()
    rust.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # one piece per character
    return json.loads(rust.to_str())


# --- word ---------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def python_classes() -> tuple[str, str]:
    """Python's own \\w and \\s (for str patterns) as Oniguruma class bodies of explicit ranges."""
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)

    def ranges(pattern: str) -> str:
        spans, out = [], []
        for m in re.finditer(pattern, every):
            a, b = ord(m.group()[0]), ord(m.group()[-1])
            if spans and spans[-1][1] + 1 == a:
                spans[-1][1] = b
            else:
                spans.append([a, b])
        for a, b in spans:
            out.append(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}")
        return "".join(out)

    return ranges(r"\w+"), ranges(r"\s+")


@functools.lru_cache(maxsize=None)
def lowercase_disagreements() -> frozenset[str]:
    """Characters on which Python's str.lower and the Lowercase normalizer can disagree: each side of every
    per-character difference, and both sigmas (Python's final-sigma rule depends on the context)."""
    chars = [chr(c) for c in range(1, sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    theirs = normalizers.Lowercase().normalize_str("\x00".join(chars)).split("\x00")
    if len(theirs) != len(chars):  # cannot align: treat every cased character as a risk
        return frozenset(c for c in chars if c.lower() != c)
    risky = {"σ", "ς", "Σ"}
    for c, t in zip(chars, theirs):
        if t != c.lower():
            risky.update(c + t + c.lower())
    return frozenset(risky)


def word_pipeline(tok: WordTokenizer) -> dict:
    if tok.lowercase:
        risky = lowercase_disagreements()
        bad = sorted({c for w in tok.words for c in w if c in risky})
        if bad:
            raise TinytxError(f"the word vocabulary holds {''.join(bad)!r}, which Python's lowercasing and the "
                              "tokenizers Lowercase normalizer treat differently; it cannot be exported exactly")
    w, s = python_classes()
    word = f"[{w}]"
    rust = RustTokenizer(models.WordLevel({t: i for i, t in enumerate(tok.vocab)}, unk_token="[UNK]"))
    if tok.lowercase:
        rust.normalizer = normalizers.Lowercase()
    steps = [pre_tokenizers.Split(Regex(f"[{s}]+"), behavior="removed"),  # whitespace goes
             # what is left is covered by tinytx's WORD_RE: \w+(?:'\w+)?|[^\w\s], one piece per match
             pre_tokenizers.Split(Regex(f"{word}+(?:'{word}+)?|[^{w}{s}]"), behavior="isolated")]
    if tok.stop_words:
        if tok.lowercase:
            spelled = sorted(STOP_WORDS)
        else:  # tinytx drops a token whose str.lower() is a stop word: every spelling that lowercases to one
            spelled = ["".join(letter_class(ch) for ch in sw) for sw in sorted(STOP_WORDS)]
        steps.append(pre_tokenizers.Split(Regex(r"\A(?:" + "|".join(spelled) + r")\z"), behavior="removed"))
    rust.pre_tokenizer = pre_tokenizers.Sequence(steps)
    return json.loads(rust.to_str())  # the default decoder joins tokens with spaces, as tinytx does


def letter_class(letter: str) -> str:
    """[kK\\x{212A}] for "k": every character whose str.lower() is this letter (the Kelvin sign among them)."""
    return "[" + "".join(f"\\x{{{ord(c):X}}}" for c in lowercasing_to()[letter]) + "]"


@functools.lru_cache(maxsize=None)
def lowercasing_to() -> dict[str, list[str]]:
    """ASCII letter -> the characters whose str.lower() is that letter."""
    out: dict[str, list[str]] = {chr(c): [] for c in range(ord("a"), ord("z") + 1)}
    for c in range(sys.maxunicode + 1):
        if not 0xD800 <= c <= 0xDFFF and (low := chr(c).lower()) in out:
            out[low].append(chr(c))
    return out


# --- unigram ------------------------------------------------------------------------------------------------------

META, ESCAPE = "\u2581", "\ufdd0"  # as in tinytx.tokenizers.unigram
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # sentencepiece's piece types


def unigram_pipeline(tok: UnigramTokenizer) -> dict:
    from sentencepiece import sentencepiece_model_pb2 as pb  # protobuf, needed only here

    if tok.normalize:
        raise TinytxError("a unigram tokenizer trained with normalize=True (NFKC) cannot be exported: its "
                          "precompiled normalisation map is not reproduced in the tokenizers format")
    proto = pb.ModelProto()
    proto.ParseFromString(tok.proto)
    spec, norm = proto.trainer_spec, proto.normalizer_spec
    if spec.model_type != pb.TrainerSpec.UNIGRAM:
        raise TinytxError("only sentencepiece unigram models can be exported (this one is "
                          f"{pb.TrainerSpec.ModelType.Name(spec.model_type)})")
    if norm.name != "identity" or norm.add_dummy_prefix or norm.remove_extra_whitespaces or \
            spec.treat_whitespace_as_suffix or not spec.byte_fallback:
        raise TinytxError("this sentencepiece model's settings differ from tinytx's lossless ones (identity "
                          "normalisation, no dummy prefix, byte fallback); it cannot be exported exactly")
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    if any(t in (USER_DEFINED, UNUSED) for _, _, t in pieces):
        raise TinytxError("this sentencepiece model has user-defined or unused pieces; it cannot be exported exactly")
    guarded = ("[", "<")  # where sentencepiece's control ([PAD]) and byte (<0x41>) pieces start
    clash = sorted(p for p, _, t in pieces if t == NORMAL and len(p) > 1 and any(g in p for g in guarded))
    if clash:
        raise TinytxError(f"the unigram vocabulary has pieces such as {clash[0]!r} that hold '[' or '<' with more "
                          "characters; the tokenizers Unigram model could not keep them apart from sentencepiece's "
                          "control and byte pieces, so it cannot be exported exactly")
    unk = next(i for i, (_, _, t) in enumerate(pieces) if t == UNKNOWN)
    rust = RustTokenizer(models.Unigram([(p, s) for p, s, _ in pieces], unk_id=unk, byte_fallback=True))
    rust.normalizer = normalizers.Sequence([normalizers.Replace(META, ESCAPE), normalizers.Replace(" ", META)])
    rust.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\[<]"), behavior="isolated")
    rust.decoder = decoders.Sequence([decoders.Replace(META, " "), decoders.ByteFallback(), decoders.Fuse(),
                                      decoders.Replace(ESCAPE, META)])
    return json.loads(rust.to_str())
