"""`tinytx train <recipe>` and `tinytx eval RUN`, generated from the recipes' option dataclasses (tinytx.options).

Every option field becomes a flag with its help, its default and its choices; the nested training settings
(TrainConfig) become the same flags for every recipe. Only flags the user typed reach the recipe (argparse's
SUPPRESS default), so a new run fills in per-model presets and `--resume` can tell a changed flag from a default.
"""
from __future__ import annotations

import argparse
import types
import typing
from typing import Any

from ..errors import Interrupted, TinytxError
from ..options import OPTIONS, fields



def _base_type(tp) -> Any:
    """int for `int | None`, list for `list[int]`, ..."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return typing.get_origin(tp) or tp


def _parser_for(parse, name: str):
    def convert(text: str):
        try:
            return parse(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}") from None

    return convert


def _shown(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def add_option_flags(parser: argparse.ArgumentParser, cls) -> None:
    defaults, presets = cls(), cls.PRESETS
    groups = {"": parser.add_argument_group("recipe options"),
              "train": parser.add_argument_group("training (the engine's settings, the same for every recipe)")}
    for name, f, tp in fields(cls):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        leaf = name.split(".")[-1]
        flag = "--" + (meta.get("flag") or leaf.replace("_", "-"))
        default = _shown(_get(defaults, name))
        per_model = {m: p[name] for m, p in presets.items() if name in p}
        if per_model:
            default += "; " + ", ".join(f"{m}: {_shown(v)}" for m, v in per_model.items())
        kw: dict[str, Any] = dict(dest=name, default=argparse.SUPPRESS, help=f"{meta['help']} (default: {default})")
        base = _base_type(tp)
        if base is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            parse = meta.get("parse") or (base if base in (int, float, str) else str)
            kw["type"] = _parser_for(parse, flag)
            if meta.get("choices"):
                kw["choices"] = meta["choices"]
            if not meta.get("choices"):
                kw["metavar"] = meta.get("metavar") or leaf.upper()
        group = groups["train" if name.startswith("train.") else ""]
        names = [flag, "-o"] if flag == "--out" else [flag]
        group.add_argument(*names, **kw)


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def register(cli) -> None:
    for task, cls in OPTIONS.items():
        doc = (cls.__doc__ or "").strip()
        p = cli.train.add_parser(task, help=doc.split(":", 1)[-1].strip().rstrip("."), description=doc)
        p.add_argument("--out", "-o", required=True, help="the run directory (created; never one tinytx did not make)")
        p.add_argument("--resume", action="store_true",
                       help="continue the run in --out exactly where it stopped, with its saved options")
        add_option_flags(p, cls)
        p.set_defaults(func=train_command, task=task)


def train_command(args: argparse.Namespace) -> None:
    from ..recipes import train

    given = {k: v for k, v in vars(args).items() if k not in ("out", "resume", "func", "task", "command", "kind")}
    result = train(args.task, args.out, given=given, resume=args.resume)
    if result.get("interrupted"):
        raise Interrupted(result["interrupted"], f"{result['stopped']} (step {result['step']}, run {args.out})")
    if result.get("rank", 0) == 0:  # under torchrun only rank 0 reports
        print(f"{result['summary']} -> {args.out}")


def eval_command(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from ..engine import pick_device
    from ..io import STDIN, copy_stdin
    from ..recipes import get
    from ..rundir import STDIN_TEXT, load_run, require

    if args.batch_size < 1:
        raise TinytxError(f"--batch-size must be >= 1, got {args.batch_size}")
    meta = require(args.run)
    run = load_run(args.run, device=str(pick_device(args.device)))
    recipe = get(meta.task)
    inputs = {"data": args.data, "src": args.src, "tgt": args.tgt}
    piped = [name for name, value in inputs.items() if value == STDIN]
    if len(piped) > 1:
        raise TinytxError(f"{' and '.join('--' + n for n in piped)} are all '-': standard input can be read only once")
    with tempfile.TemporaryDirectory(prefix="tinytx-") as tmp:
        if piped:  # standard input into a file named as the recipe reads it (stdin.txt, or stdin.csv for tables)
            name = Path(getattr(recipe, "stdin_copy", STDIN_TEXT)).name
            inputs[piped[0]] = str(copy_stdin(Path(tmp) / name, f"--{piped[0]} -"))
        metrics = recipe.evaluate(run, **inputs, beam=args.beam, batch_size=args.batch_size, device=args.device)
    print_metrics(metrics, args.json)


def print_metrics(metrics: dict, as_json: bool) -> None:
    import json

    report = metrics.pop("report", None)
    if as_json:
        print(json.dumps(metrics))
        return
    if report:  # it shows the per-label numbers; the lines below keep the scalars
        print(report + "\n")
        metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
    for k, v in metrics.items():
        if isinstance(v, float):
            print(f"{k:>16}: {v:.4f}")
        elif isinstance(v, (int, str)):
            print(f"{k:>16}: {v}")
        else:
            print(f"{k:>16}: {json.dumps(v)}")


def add_eval_parser(top) -> None:
    ev = top.add_parser("eval", help="evaluate a trained run (any recipe)")
    ev.add_argument("run", help="run directory")
    ev.add_argument("--data", help="data file (csv for tabular/classify, text for lm/mlm/word2vec; - reads standard "
                                   "input); default for lm: the run's own validation split")
    ev.add_argument("--src", help="source sentences (seq2seq; - reads standard input)")
    ev.add_argument("--tgt", help="reference translations (seq2seq; - reads standard input)")
    ev.add_argument("--beam", type=int, default=4, help="beam size (seq2seq)")
    ev.add_argument("--batch-size", type=int, default=64, help="evaluation batch size")
    ev.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=eval_command)

