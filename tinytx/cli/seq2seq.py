"""`tinytx train seq2seq`, `tinytx translate`, and `tinytx eval` for seq2seq runs.

Argument parsing only: the work is in tinytx.seq2seq and tinytx.translate.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .flags import add_run_flags


def _defaults():
    from ..seq2seq import Seq2SeqOptions

    return Seq2SeqOptions(src="", tgt="", out="")


def register(cli) -> None:
    d = _defaults()
    p = cli.train.add_parser("seq2seq", help="train a translation model (transformer or gru) on parallel text files",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=d.model, choices=["transformer", "gru"])
    p.add_argument("--src", help="source sentences, one per line (required unless --resume)")
    p.add_argument("--tgt", help="target sentences, line i translates line i of --src")
    p.add_argument("--val-src", help="validation source sentences")
    p.add_argument("--val-tgt", help="validation target sentences")
    p.add_argument("--out", "-o", required=True, help="run directory")
    p.add_argument("--vocab-size", type=int, default=d.vocab_size, help="BPE vocabulary size (per language unless shared)")
    p.add_argument("--shared-vocab", action="store_true",
                   help="one BPE vocabulary for both languages; the transformer then ties all embeddings")
    p.add_argument("--max-len", type=int, default=d.max_len,
                   help="longest sentence in tokens: longer training pairs are skipped, longer sources cut")
    p.add_argument("--d-model", type=int, default=d.d_model, help="model width (gru: embedding and hidden size)")
    p.add_argument("--n-layer", type=int, default=None, help="layers (transformer: 3 each side; gru: 1)")
    p.add_argument("--n-head", type=int, default=d.n_head)
    p.add_argument("--d-ff", type=int, default=None, help="transformer MLP width (default 4 * d-model)")
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--max-steps", type=int, default=None, help=f"optimizer steps (default {d.max_steps})")
    p.add_argument("--batch-size", default=str(d.batch_size),
                   help="sentences per batch (64), or target tokens with a t suffix (4096t)")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (cosine decay after warmup)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="linear warmup steps")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    add_run_flags(p, d)
    p.set_defaults(func=train_command)

    t = cli.top.add_parser("translate", help="translate sentences with a seq2seq run")
    t.add_argument("run", help="run directory")
    t.add_argument("text", nargs="?", help="a sentence to translate (or use --input)")
    t.add_argument("--input", "-i", help="a file with one sentence per line")
    t.add_argument("--output", "-o", help="write translations here (default: print)")
    t.add_argument("--beam", type=int, default=4, help="beam size (1 = greedy)")
    t.add_argument("--length-penalty", type=float, default=0.6, help="GNMT length penalty alpha (0 = none)")
    t.add_argument("--max-len-a", type=float, default=1.5, help="max output length = a * source length + b")
    t.add_argument("--max-len-b", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--device", default="cpu")
    t.set_defaults(func=translate_command)

    cli.evaluators["seq2seq"] = evaluate_command


def train_command(args) -> None:
    from ..errors import TinytxError
    from ..seq2seq import Seq2SeqOptions, train_seq2seq

    if not args.resume and not (args.src and args.tgt):
        raise TinytxError("--src and --tgt are required (parallel text files) unless you --resume a run")
    d = _defaults()
    opts = Seq2SeqOptions(
        src=args.src or "", tgt=args.tgt or "", out=args.out, val_src=args.val_src, val_tgt=args.val_tgt,
        model=args.model, vocab_size=args.vocab_size, shared_vocab=args.shared_vocab, max_len=args.max_len,
        d_model=args.d_model, n_layer=args.n_layer, n_head=args.n_head, d_ff=args.d_ff, dropout=args.dropout,
        max_steps=args.max_steps if args.max_steps is not None else (0 if args.resume else d.max_steps),
        batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, label_smoothing=args.label_smoothing,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, eval_interval=args.eval_interval,
        eval_batches=args.eval_batches, seed=args.seed, device=args.device, dtype=args.dtype, compile=args.compile,
        progress=not args.no_progress, resume=args.resume,
    )
    result = train_seq2seq(opts)
    line = f"trained {opts.model} seq2seq to step {result['step']} -> {opts.out}"
    val = result.get("val", {})
    if "loss" in val:
        line += f" (val loss {val['loss']:.4f}, perplexity {val.get('perplexity', float('nan')):.2f})"
    if result.get("stopped"):
        line += f"; {result['stopped']}"
    print(line)


def translate_command(args) -> None:
    from ..errors import TinytxError
    from ..io import atomic_path
    from ..run import load_run
    from ..seq2seq import read_lines

    if (args.text is None) == (args.input is None):
        raise TinytxError("give a sentence or --input FILE (one of them)")
    sentences = [args.text] if args.text is not None else read_lines(args.input)
    run = load_run(args.run, device=args.device)
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


def evaluate_command(args, config) -> dict:
    from ..errors import TinytxError
    from ..seq2seq import evaluate_translation

    if not (args.src and args.tgt):
        raise TinytxError("evaluating a seq2seq run needs --src (sentences) and --tgt (reference translations)")
    log = (lambda msg: print(msg, file=sys.stderr))
    return evaluate_translation(args.run, args.src, args.tgt, beam=args.beam, batch_size=args.batch_size,
                                device=args.device, log=log)
