"""`tinytx train tabular` and `tinytx eval` for tabular runs. Argument parsing only: the work is in tinytx.tabular."""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import TinytxError


def _int_list(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive integers, got {text!r}")
    return sizes


def _batch_size(text: str):
    if text == "full":
        return "full"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch size must be 'full' or an integer, got {text!r}") from None


def register(cli) -> None:
    p = cli.train.add_parser(
        "tabular", help="train linear/logistic/softmax regression, a perceptron or an MLP on a CSV table",
        description="Train a model on a CSV table. Features are standardised and categorical targets "
                    "label-encoded; the statistics are saved in the run for eval/plot/--resume.",
    )
    p.add_argument("--model", default="linear", choices=["linear", "logistic", "softmax", "perceptron", "mlp"])
    p.add_argument("--data", help="CSV file with a header row (required unless --resume)")
    p.add_argument("--target", help="target column (several, comma-separated, for multi-output regression)")
    p.add_argument("--features", help="comma-separated feature columns (default: all but the target)")
    p.add_argument("--task", default="auto", choices=["auto", "regression", "classification"],
                   help="mlp only: auto = regression for numeric targets, classification for labels")
    p.add_argument("--out", "-o", required=True, help="run directory (created only after every check passed)")
    g = p.add_argument_group("model (mlp)")
    g.add_argument("--hidden", type=_int_list, default=[32], help="hidden layer sizes, e.g. 64,32")
    g.add_argument("--activation", default="relu", choices=["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu"])
    g.add_argument("--dropout", type=float, default=0.0, help="dropout after each hidden layer (off in eval)")
    g = p.add_argument_group("gradient descent")
    g.add_argument("--batch-size", type=_batch_size, default=None,
                   help="'full' = batch GD, 1 = stochastic GD, n = mini-batch (default per model)")
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    g.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default=None, help="default: sgd (mlp: adam)")
    g.add_argument("--lr", type=float, default=None, help="learning rate (default 0.1; perceptron 1; mlp 0.01)")
    g.add_argument("--momentum", type=float, default=0.0, help="sgd momentum")
    g.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd, momentum > 0)")
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--schedule", default="constant", choices=["constant", "step", "exponential", "invsqrt", "cosine"])
    g.add_argument("--decay-rate", type=float, default=0.5, help="step/exponential: lr factor per --decay-steps")
    g.add_argument("--decay-steps", type=int, default=1000)
    g.add_argument("--warmup", type=int, default=0, help="linear warmup steps")
    g.add_argument("--min-lr", type=float, default=0.0, help="cosine floor")
    g.add_argument("--l1", type=float, default=0.0, help="L1 penalty on weights (drives useless ones to 0)")
    g.add_argument("--l2", type=float, default=0.0, help="L2 penalty on weights")
    g.add_argument("--grad-clip", type=float, default=0.0)
    g = p.add_argument_group("how long, validation, checkpoints")
    g.add_argument("--epochs", type=float, default=None, help="passes over the training rows (default per model)")
    g.add_argument("--max-steps", type=int, default=None, help="optimizer steps (wins over --epochs)")
    g.add_argument("--val-split", type=float, default=0.2, help="fraction of rows held out (0 = none)")
    g.add_argument("--patience", type=int, default=None, help="early stopping: evaluations without improvement")
    g.add_argument("--eval-interval", type=int, default=None, help="steps between evaluations, each with a checkpoint (default: an epoch, at most ~50 per run)")
    g.add_argument("--log-interval", type=int, default=None)
    g.add_argument("--checkpoint-interval", type=int, default=None, help="steps between checkpoints")
    g.add_argument("--restarts", type=int, default=1, help="random restart: train from N seeds, keep the best")
    g.add_argument("--no-standardize", action="store_true", help="use raw feature values")
    g.add_argument("--seed", type=int, default=1337)
    g.add_argument("--device", default="auto")
    g.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    g.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=train_command)
    cli.evaluators["tabular"] = evaluate_command


def train_command(args) -> None:
    from ..engine.distributed import teardown
    from ..tabular import TabularOptions, line_in_original_units, load_tabular, train_tabular

    if not args.resume and not (args.data and args.target):
        raise TinytxError("--data and --target are required (unless you --resume a run)")
    opts = TabularOptions(
        data=args.data or "", target=args.target or "", out=args.out, model=args.model,
        features=[f.strip() for f in args.features.split(",") if f.strip()] if args.features else None,
        task=args.task, standardize=not args.no_standardize, val_split=args.val_split, hidden_sizes=args.hidden,
        activation=args.activation, dropout=args.dropout, batch_size=args.batch_size, grad_accum=args.grad_accum,
        epochs=args.epochs, max_steps=args.max_steps, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        nesterov=args.nesterov, weight_decay=args.weight_decay, schedule=args.schedule, decay_rate=args.decay_rate,
        decay_steps=args.decay_steps, warmup_steps=args.warmup, min_lr=args.min_lr, l1=args.l1, l2=args.l2,
        grad_clip=args.grad_clip, patience=args.patience, eval_interval=args.eval_interval,
        log_interval=args.log_interval, checkpoint_interval=args.checkpoint_interval, restarts=args.restarts,
        seed=args.seed, device=args.device, progress=not args.no_progress, resume=args.resume,
    )
    try:
        result = train_tabular(opts)
    finally:
        teardown()
    if result.get("interrupted"):
        print(f"tinytx: {result['stopped']}", file=sys.stderr)
        raise KeyboardInterrupt
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only rank 0 reports
    run = load_tabular(opts.out)
    cfg = run.config["model"]
    val = result.get("val") or {}
    if result.get("restarts"):
        line = f"trained {len(result['restarts'])} restarts of {cfg['name']}, kept the best -> {opts.out}"
    else:
        line = f"trained {cfg['name']} to step {result['step']} -> {opts.out}"
    shown = {k: val[k] for k in ("loss", "mse", "accuracy") if isinstance(val.get(k), float)}
    if shown:
        line += " (val " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()) + ")"
    if result.get("stopped"):
        line += f"; {result['stopped']}"
    print(line)
    if cfg["name"] == "linear" and cfg["config"]["in_features"] == 1 and cfg["config"]["out_features"] == 1:
        w, b = line_in_original_units(run.model, run.extra)
        print(f"{run.extra['targets'][0]} = {w:.4f} * {run.extra['features'][0]} + {b:.4f}")


def evaluate_command(args, config) -> dict:
    from ..tabular import evaluate_tabular

    if not args.data:
        raise TinytxError("--data is required to evaluate a tabular run (a CSV with the run's columns)")
    return evaluate_tabular(args.run, args.data, device=args.device, batch_size=args.batch_size)
