"""`tinytx translate`: sentences in, translations out, with a seq2seq run.

Argument parsing only: the work is in tinytx.translate. `tinytx train seq2seq` and `tinytx eval` are generated
for every recipe (cli/train.py; the seq2seq one is tinytx.recipes.seq2seq).
"""
from __future__ import annotations

import sys
from pathlib import Path


def register(cli) -> None:
    t = cli.top.add_parser("translate", help="translate sentences with a seq2seq run")
    t.add_argument("run", help="run directory")
    t.add_argument("text", nargs="?", help="a sentence to translate (or use --input)")
    t.add_argument("--input", "-i", help="a file with one sentence per line")
    t.add_argument("--output", "-o", help="write translations here (default: print)")
    t.add_argument("--beam", type=int, default=4, help="beam size (1 = greedy)")
    t.add_argument("--length-penalty", type=float, default=1.0, help="GNMT length penalty alpha (0 = none)")
    t.add_argument("--max-len-a", type=float, default=1.5, help="max output length = a * source length + b")
    t.add_argument("--max-len-b", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--device", default="cpu")
    t.set_defaults(func=translate_command)


def translate_command(args) -> None:
    from ..data.pairs import read_lines
    from ..errors import TinytxError
    from ..io import atomic_path
    from ..rundir import load_run

    if (args.text is None) == (args.input is None):
        raise TinytxError("give a sentence or --input FILE (one of them)")
    sentences = [args.text] if args.text is not None else read_lines(args.input, "--input file")
    run = load_run(args.run, device=args.device, task="seq2seq")
    out, stats = run.translate(sentences, beam=args.beam, length_penalty=args.length_penalty,
                               max_len_a=args.max_len_a, max_len_b=args.max_len_b, batch_size=args.batch_size,
                               return_stats=True)
    if stats["truncated"]:
        print(f"tinytx: cut {stats['truncated']} sentences longer than the model's {run.model.max_len} tokens",
              file=sys.stderr)
    text = "".join(line + "\n" for line in out)
    if args.output:
        with atomic_path(args.output) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
