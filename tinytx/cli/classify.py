"""`tinytx predict`, `tinytx similar` and `tinytx analogy`. Argument parsing only: the work is in tinytx.predict and
tinytx.recipes.word2vec (imported when the command runs)."""
from __future__ import annotations

from ..errors import TinytxError


def register(cli) -> None:
    p = cli.top.add_parser("predict", help="classify texts with a trained classification run")
    p.add_argument("run", help="run directory")
    # "+" made optional, not "*": argparse (before 3.12) gives a "*" positional nothing when a flag comes between
    # it and the run, and `predict RUN --top-k 2 "text"` must keep working
    p.add_argument("texts", nargs="+", help="one or more texts (or --file)").required = False
    p.add_argument("--file", "-f", metavar="F", help="classify each line of a UTF-8 file (- = standard input), "
                                                    "blank lines skipped, printed as they are classified")
    p.add_argument("--top-k", type=int, default=1, help="print the k most likely labels of each text")
    p.add_argument("--json", action="store_true", help="one JSON object per text: text, label, probability, top_k")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps")
    p.set_defaults(func=predict_command)

    p = cli.top.add_parser("similar", help="nearest words by cosine similarity (word2vec run)")
    p.add_argument("run")
    p.add_argument("word")
    p.add_argument("-k", type=int, default=10)
    p.set_defaults(func=similar_command)

    p = cli.top.add_parser("analogy", help="a - b + c: `tinytx analogy RUN king man woman` (word2vec run)")
    p.add_argument("run")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    p.add_argument("-k", type=int, default=5)
    p.set_defaults(func=analogy_command)


def _lines(path: str, batch: int):
    """The non-blank lines of a UTF-8 file or of standard input ('-'), `batch` at a time: a pipe is classified as
    it arrives and a large file is never held whole."""
    import sys

    where = "standard input" if path == "-" else path
    if path == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)  # bytes; a test's StringIO gives str
    else:
        try:
            stream = open(path, "rb")
        except OSError as e:
            raise TinytxError(f"{path}: cannot read ({e.strerror or e})") from None
    chunk = []
    try:
        for number, line in enumerate(stream, start=1):
            try:
                text = line.decode("utf-8") if isinstance(line, bytes) else line
            except UnicodeDecodeError:
                raise TinytxError(f"{where}: line {number} is not UTF-8 text") from None
            text = text.rstrip("\r\n").removeprefix("\ufeff" if number == 1 else "")
            if "\x00" in text:
                raise TinytxError(f"{where}: line {number} holds NUL bytes; give a text file, one text per line")
            if text.strip():
                chunk.append(text)
            if len(chunk) == batch:
                yield chunk
                chunk = []
    finally:
        if path != "-":
            stream.close()
    if chunk:
        yield chunk


def predict_command(args) -> None:
    import json
    import sys

    from ..predict import predict
    from ..rundir import load_run

    if not args.texts and not args.file:
        raise TinytxError("give the texts to classify, or --file F (- = standard input)")
    if args.texts and args.file:
        raise TinytxError("give the texts to classify or --file F, not both")
    if args.top_k < 1:
        raise TinytxError(f"--top-k must be >= 1, got {args.top_k}")
    if args.batch_size < 1:
        raise TinytxError(f"--batch-size must be >= 1, got {args.batch_size}")
    run = load_run(args.run, device=args.device, task="classify")
    batches = _lines(args.file, args.batch_size) if args.file else [args.texts]
    seen = 0
    for texts in batches:
        seen += len(texts)
        for text, best in zip(texts, predict(run, texts, batch_size=args.batch_size, top_k=args.top_k)):
            best = best if args.top_k > 1 else [best]
            if args.json:
                print(json.dumps({"text": text, "label": best[0][0], "probability": best[0][1],
                                  "top_k": [{"label": label, "probability": p} for label, p in best]},
                                 ensure_ascii=False))
            else:
                print("\t".join(f"{label}\t{prob:.4f}" for label, prob in best) + f"\t{text}")
        sys.stdout.flush()  # a pipe sees each batch as it is classified
    if not seen:
        raise TinytxError(f"{'standard input' if args.file == '-' else args.file}: has no text to classify")


def similar_command(args) -> None:
    from ..recipes.word2vec import nearest

    if args.k < 1:
        raise TinytxError(f"-k must be >= 1, got {args.k}")
    for word, sim in nearest(args.run, args.word, args.k):
        print(f"{sim:.4f}\t{word}")


def analogy_command(args) -> None:
    from ..recipes.word2vec import analogy

    if args.k < 1:
        raise TinytxError(f"-k must be >= 1, got {args.k}")
    for word, sim in analogy(args.run, args.a, args.b, args.c, args.k):
        print(f"{sim:.4f}\t{word}")
