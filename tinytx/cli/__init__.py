"""The `tinytx` command. This file only builds the parser and turns errors into one readable line.

`tinytx train <recipe>` and `tinytx eval` are generated from the recipes' options (cli/train.py); every other
module in tinytx/cli/ adds its own commands with `register(cli)`. Commands call the Python API and nothing more,
and import it only when they run, so `tinytx --help` and `tinytx tokenize ...` never load torch.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from dataclasses import dataclass

from ..errors import Interrupted, TinytxError
from . import classify, export, lm, plot, seq2seq, tokenize, train


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line like every other error (and the same exit code, 2)."""

    def error(self, message: str):
        self.exit(2, f"tinytx: error: {self.prog}: {message} (see {self.prog} --help)\n")


@dataclass
class CLI:
    top: argparse._SubParsersAction
    train: argparse._SubParsersAction


def build_parser() -> tuple[argparse.ArgumentParser, CLI]:
    from .. import __version__

    parser = Parser(prog="tinytx", description="Train small NLP models on your text.")
    parser.add_argument("--version", action="version", version=f"tinytx {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    train_parser = top.add_parser("train", help="train a model (lm, classify, mlm, word2vec, seq2seq, tabular)")
    cli = CLI(top, train_parser.add_subparsers(dest="kind", metavar="RECIPE"))
    train_parser.set_defaults(func=lambda args: _usage(train_parser))
    train.register(cli)
    train.add_eval_parser(top)
    for module in (lm, classify, seq2seq, tokenize, plot, export):
        module.register(cli)
    parser.set_defaults(func=lambda args: _usage(parser))
    return parser, cli


def _usage(parser: argparse.ArgumentParser) -> None:
    """`tinytx` or `tinytx train` alone: list what there is, as --help does."""
    parser.print_help()


def _terminate(signum, frame):
    raise Interrupted(signum, "terminated")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # never reach for the hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM (what schedulers send) ends a command the way Ctrl-C does: cleanly, and training checkpoints first
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        args.func(args)
    except TinytxError as e:
        print(f"tinytx: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"tinytx: interrupted: {e}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("tinytx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0
