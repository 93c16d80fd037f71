"""The `tinytx` command. This file only builds the parser and turns errors into one readable line.

Each module in tinytx/cli/ adds its own commands with `register(cli)`, where `cli.top` is the top-level
subparsers, `cli.train` the `tinytx train ...` subparsers, and `cli.evaluators[task]` the function that
`tinytx eval RUN` calls for a run of that task. Commands call the Python API and nothing more.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
from dataclasses import dataclass, field
from typing import Callable

from ..errors import TinytxError


@dataclass
class CLI:
    top: argparse._SubParsersAction
    train: argparse._SubParsersAction
    evaluators: dict[str, Callable[[argparse.Namespace, dict], dict]] = field(default_factory=dict)


def build_parser() -> tuple[argparse.ArgumentParser, CLI]:
    parser = argparse.ArgumentParser(prog="tinytx", description="Train small NLP models on your text.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"tinytx {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = top.add_parser("train", help="train a model (tabular, lm, classify, seq2seq, word2vec)")
    cli = CLI(top, train.add_subparsers(dest="kind", metavar="KIND", required=True))

    ev = top.add_parser("eval", help="evaluate a trained run")
    ev.add_argument("run", help="run directory")
    ev.add_argument("--data", help="data file (csv for tabular/classify, text for lm)")
    ev.add_argument("--src", help="source sentences (seq2seq)")
    ev.add_argument("--tgt", help="reference translations (seq2seq)")
    ev.add_argument("--beam", type=int, default=4, help="beam size (seq2seq)")
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--device", default="auto")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=lambda args: run_eval(args, cli))

    import tinytx.cli as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"tinytx.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(cli)
    return parser, cli


def run_eval(args: argparse.Namespace, cli: CLI) -> None:
    from ..engine.checkpoint import load_config

    config = load_config(args.run)
    task = config.get("task")
    if task not in cli.evaluators:
        raise TinytxError(f"{args.run}: cannot evaluate a run of task {task!r}")
    metrics = cli.evaluators[task](args, config)
    print_metrics(metrics, args.json)


def print_metrics(metrics: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
        return
    for k, v in metrics.items():
        if isinstance(v, float):
            print(f"{k:>16}: {v:.4f}")
        elif isinstance(v, (int, str)):
            print(f"{k:>16}: {v}")
        else:
            print(f"{k:>16}: {json.dumps(v)}")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # never reach for the hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except TinytxError as e:
        print(f"tinytx: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinytx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0
