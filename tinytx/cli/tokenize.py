"""`tinytx tokenize train|encode|decode|show|export`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(cli) -> None:
    p = cli.top.add_parser("tokenize", help="train a tokenizer, encode/decode files, show tokens")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    t = sub.add_parser("train", help="train a tokenizer on text files")
    t.add_argument("files", nargs="+", help="UTF-8 text files")
    t.add_argument("--kind", required=True, metavar="KIND", help="char, word, bpe or unigram (checked against "
                   "tinytx.tokenizers.KINDS when the command runs)")
    t.add_argument("--vocab-size", type=int, default=None, help="target size (bpe/unigram/word; char checks it)")
    t.add_argument("--min-frequency", type=int, default=1)
    t.add_argument("--lowercase", action="store_true", help="word: lowercase before splitting")
    t.add_argument("--stop-words", action="store_true", help="word: drop English stop words")
    t.add_argument("--normalize", action="store_true", help="unigram: NFKC-normalise (no longer lossless)")
    t.add_argument("--no-byte-fallback", action="store_true",
                   help="char: unseen characters become [UNK] (no 256 byte tokens; no longer lossless)")
    t.add_argument("-o", "--out", required=True, help="tokenizer JSON file to write")
    t.set_defaults(func=train)

    e = sub.add_parser("encode", help="encode a text file to a flat token file (.bin + .bin.json)")
    e.add_argument("file")
    e.add_argument("--tokenizer", required=True)
    e.add_argument("-o", "--out", required=True, help="output .bin")
    e.add_argument("--val-fraction", type=float, default=None,
                   help="also split: the last fraction goes to OUT with .val.bin, the rest to .train.bin")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=encode)

    d = sub.add_parser("decode", help="decode a token file back to text")
    d.add_argument("file")
    d.add_argument("--tokenizer", required=True)
    d.add_argument("-o", "--out", required=True)
    d.set_defaults(func=decode)

    s = sub.add_parser("show", help="print the tokens and ids of a text")
    s.add_argument("text")
    s.add_argument("--tokenizer", required=True)
    s.set_defaults(func=show)

    x = sub.add_parser("export", help="write a tokenizer as a Hugging Face tokenizers file (same ids on any text)")
    x.add_argument("--tokenizer", required=True, help="a tinytx tokenizer JSON")
    x.add_argument("--format", choices=["hf"], default="hf", help="hf: a file tokenizers.Tokenizer.from_file loads")
    x.add_argument("-o", "--out", required=True, help="the file to write")
    x.set_defaults(func=export)


def train(args: argparse.Namespace) -> None:
    from ..errors import TinytxError
    from ..tokenizers import read_text, train_tokenizer

    options = {}
    if args.kind == "word":
        options.update(lowercase=args.lowercase, stop_words=args.stop_words)
    if args.kind == "unigram":
        options.update(normalize=args.normalize)
    if args.kind == "char" and args.no_byte_fallback:
        options.update(unknown="unk")
    for f in args.files:  # check every file before the (slow) training
        if Path(f).is_dir():
            raise TinytxError(f"{f}: is a directory, not a text file")
        if not Path(f).is_file():
            raise TinytxError(f"{f}: file not found")
    if Path(args.out).is_dir():  # before the training, not after it
        raise TinytxError(f"{args.out}: is a directory; give a file name")
    texts = (read_text(f) for f in args.files)
    tok = train_tokenizer(args.kind, texts, vocab_size=args.vocab_size, min_frequency=args.min_frequency, **options)
    tok.save(args.out)
    print(f"{args.kind} tokenizer with {tok.vocab_size} tokens -> {args.out}")
    if args.vocab_size and args.kind != "char" and tok.vocab_size < args.vocab_size:
        warn(f"asked for {args.vocab_size} tokens, the text supports only {tok.vocab_size}")


def warn(message: str) -> None:
    print(f"tinytx: warning: {message}", file=sys.stderr)


def encode(args: argparse.Namespace) -> None:
    from ..data.encode import encode_file, sidecar_path, split_tokens
    from ..errors import TinytxError
    from ..tokenizers import load_tokenizer

    if args.val_fraction is not None and not 0 < args.val_fraction < 1:
        raise TinytxError(f"--val-fraction must be between 0 and 1, got {args.val_fraction}")
    if Path(args.out).is_dir():
        raise TinytxError(f"{args.out}: is a directory; give a file name")
    tok = load_tokenizer(args.tokenizer)
    meta = encode_file(tok, args.file, args.out, progress=not args.quiet)
    print(f"{meta['count']:,} tokens ({meta['dtype']}) -> {args.out}")
    unknown = meta.get("unk_count") or 0  # counted while encoding
    share = unknown / meta["count"] if meta["count"] else 0.0
    if tok.kind == "word":  # a word tokenizer's coverage is worth knowing even when it is complete
        print(f"[UNK]: {share:.2%} of the tokens ({unknown:,})", file=sys.stderr)
    if share > 0:
        warn(f"{share:.1%} of the tokens are [UNK]: the tokenizer does not cover this text")
    if args.val_fraction is not None:
        stem = str(args.out)[:-4] if str(args.out).endswith(".bin") else str(args.out)
        try:
            tr, va = split_tokens(args.out, args.val_fraction, f"{stem}.train.bin", f"{stem}.val.bin")
        except TinytxError:  # the command failed as a whole: take back the file it just wrote
            for made in (Path(args.out), sidecar_path(args.out)):
                made.unlink(missing_ok=True)
            raise
        print(f"split: {tr['count']:,} train -> {stem}.train.bin, {va['count']:,} val -> {stem}.val.bin")


def decode(args: argparse.Namespace) -> None:
    from ..data.encode import decode_file
    from ..errors import TinytxError
    from ..tokenizers import load_tokenizer

    if Path(args.out).is_dir():
        raise TinytxError(f"{args.out}: is a directory; give a file name")
    decode_file(load_tokenizer(args.tokenizer), args.file, args.out)
    print(f"-> {args.out}")


def show(args: argparse.Namespace) -> None:
    from ..tokenizers import load_tokenizer

    tok = load_tokenizer(args.tokenizer)
    ids = tok.encode(args.text)
    print(f"{len(ids)} tokens")
    for i in ids:
        print(f"{i:>7}  {tok.id_to_token(i)!r}")


def export(args: argparse.Namespace) -> None:
    from ..export.tokenizer import export_tokenizer

    print(export_tokenizer(args.tokenizer, args.out, args.format))
