"""`tinytx train lm`, `tinytx generate`, `tinytx demo`, and `tinytx eval` for language-model runs.

Argument parsing only: the work is in tinytx.lm and tinytx.generate.
"""
from __future__ import annotations

import argparse
import sys

from .flags import add_run_flags




def _defaults():
    from ..lm import LMOptions

    return LMOptions(data="", out="")


def register(cli) -> None:
    d = _defaults()
    p = cli.train.add_parser("lm", help="train a language model (gpt, rnn, gru, lstm, bigram, mlp_lm) on a text file",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=d.model, choices=["gpt", "rnn", "gru", "lstm", "bigram", "mlp_lm"])
    p.add_argument("--data", help="a UTF-8 text file (required unless --resume)")
    p.add_argument("--tokenizer", default=d.tokenizer, help="char, bpe, or a saved tokenizer.json")
    p.add_argument("--vocab-size", type=int, default=d.vocab_size, help="bpe vocabulary size")
    p.add_argument("--out", "-o", required=True, help="run directory")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="last part of the file held out")
    p.add_argument("--block-size", type=int, default=d.block_size, help="context window (training window for RNNs)")
    p.add_argument("--n-layer", type=int, default=d.n_layer)
    p.add_argument("--n-head", type=int, default=d.n_head)
    p.add_argument("--n-embd", type=int, default=d.n_embd, help="embedding / model width")
    p.add_argument("--hidden-size", type=int, default=d.hidden_size, help="rnn/gru/lstm/mlp_lm hidden units")
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--positions", default=d.positions, choices=["learned", "sinusoidal"])
    p.add_argument("--max-steps", type=int, default=None, help=f"optimizer steps (default {d.max_steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--grad-accum", type=int, default=d.grad_accum)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (cosine decay after warmup)")
    p.add_argument("--min-lr", type=float, default=None, help="cosine floor (default lr/10)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="linear warmup steps")
    add_run_flags(p, d)
    p.set_defaults(func=train_command)

    g = cli.top.add_parser("generate", help="generate text from a language-model run")
    g.add_argument("run", help="run directory")
    g.add_argument("--prompt", default="", help="text to continue (default: a newline)")
    g.add_argument("--max-new-tokens", type=int, default=200)
    g.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--seed", type=int, default=None, help="same seed -> same text")
    g.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    g.add_argument("--unknown", default="error", choices=["error", "unk"],
                   help="prompt characters the tokenizer does not know: error, or replace with [UNK]")
    g.add_argument("--no-cache", action="store_true", help="recompute the whole context every step (slow)")
    g.add_argument("--device", default="cpu")
    g.set_defaults(func=generate_command)

    demo = cli.top.add_parser("demo", help="train a small char-level GPT on Shakespeare (~2 min on CPU) and sample")
    demo.add_argument("--minutes", type=float, default=2.0, help="training time budget")
    demo.add_argument("--max-steps", type=int, default=None, help="fixed number of steps instead of --minutes")
    demo.add_argument("--out", "-o", default="runs/demo")
    demo.add_argument("--data", default=None, help="text file (default data/tinyshakespeare/input.txt)")
    demo.add_argument("--device", default="auto")
    demo.add_argument("--prompt", default="ROMEO:")
    demo.add_argument("--max-new-tokens", type=int, default=300)
    demo.add_argument("--seed", type=int, default=1337)
    demo.add_argument("--no-progress", action="store_true")
    demo.set_defaults(func=demo_command)

    cli.evaluators["lm"] = evaluate_command


def train_command(args) -> None:
    from ..errors import TinytxError
    from ..lm import LMOptions, train_lm

    if not args.resume and not args.data:
        raise TinytxError("--data is required (a text file) unless you --resume a run")
    d = _defaults()
    opts = LMOptions(
        data=args.data or "", out=args.out, model=args.model, tokenizer=args.tokenizer, vocab_size=args.vocab_size,
        val_fraction=args.val_fraction, block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head,
        n_embd=args.n_embd, hidden_size=args.hidden_size, dropout=args.dropout, positions=args.positions,
        max_steps=args.max_steps if args.max_steps is not None else (0 if args.resume else d.max_steps),
        batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr, min_lr=args.min_lr,
        warmup=args.warmup, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        eval_interval=args.eval_interval, eval_batches=args.eval_batches, seed=args.seed, device=args.device,
        dtype=args.dtype, compile=args.compile, progress=not args.no_progress, resume=args.resume,
    )
    result = train_lm(opts)
    val = result.get("val", {})
    line = f"trained {opts.model} to step {result['step']} -> {opts.out}"
    if "loss" in val:
        line += f" (val loss {val['loss']:.4f}, perplexity {val.get('perplexity', float('nan')):.2f})"
    if result.get("stopped"):
        line += f"; {result['stopped']}"
    print(line)


def generate_command(args) -> None:
    from ..generate import generate_text
    from ..run import load_run

    run = load_run(args.run, device=args.device)
    def write(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    stream = write if args.stream else None
    if args.stream:
        write(args.prompt)

    text = generate_text(run, args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                         top_k=args.top_k, top_p=args.top_p, seed=args.seed, stream_callback=stream,
                         unknown=args.unknown, use_cache=not args.no_cache)
    if args.stream:
        sys.stdout.write("\n")
    else:
        print(text)


def demo_command(args) -> None:
    from ..lm import demo

    demo(out=args.out, minutes=args.minutes, max_steps=args.max_steps, data=args.data, device=args.device,
         progress=not args.no_progress, prompt=args.prompt, new_tokens=args.max_new_tokens, seed=args.seed)


def evaluate_command(args, config) -> dict:
    from ..lm import evaluate_lm

    return evaluate_lm(args.run, data=args.data, batch_size=args.batch_size, device=args.device)
