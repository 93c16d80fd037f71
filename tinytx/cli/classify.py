"""`tinytx predict`, `tinytx similar` and `tinytx analogy`. Argument parsing only: the work is in tinytx.predict and
tinytx.recipes.word2vec (imported when the command runs)."""
from __future__ import annotations

from ..errors import TinytxError


def register(cli) -> None:
    p = cli.top.add_parser("predict", help="classify texts with a trained classification run")
    p.add_argument("run", help="run directory")
    p.add_argument("texts", nargs="+", help="one or more texts")
    p.add_argument("--top-k", type=int, default=1, help="print the k most likely labels of each text")
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


def predict_command(args) -> None:
    from ..predict import predict
    from ..rundir import load_run

    run = load_run(args.run, device=args.device, task="classify")
    for text, best in zip(args.texts, predict(run, args.texts, top_k=args.top_k)):
        best = best if args.top_k > 1 else [best]
        print("\t".join(f"{label}\t{prob:.4f}" for label, prob in best) + f"\t{text}")


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
