"""Multi30k German->English with the CLI's defaults: `tinytx train seq2seq` for a wall-clock budget, then BLEU and
chrF (sacrebleu) on val and test_2016_flickr with `tinytx eval`'s decoding defaults. Prints a markdown table (results
go into docs/benchmarks.md). Not a test: nothing asserts.

    flock /tmp/tinytx-heavy.lock python scripts/bench_seq2seq.py --minutes 10       # the table's rows
    python scripts/bench_seq2seq.py --smoke                                         # a few steps each: it runs

Each row is exactly

    tinytx train seq2seq --model M --src train.de --tgt train.en --val-src val.de --val-tgt val.en --minutes N

(+ the row's extra flags, shown in its first column; --threads/--max-steps/--flags add to every row). Everything
else is the recipe's default: the Trainer times the first steps and sizes the schedule to the budget, the recipe
sizes vocabulary, max length and warm-up from the data. `--threads 1 --max-steps N` compares recipes at fixed work on
a busy machine; `--flags` adds flags to every row (e.g. `--flags "--average 5"`).
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinytx.cli import build_parser  # noqa: E402
from tinytx.recipes import get, train  # noqa: E402
from tinytx.engine.trainer import resolve_dtype  # noqa: E402
from tinytx.rundir import load_run, read_config  # noqa: E402

ROWS = {"transformer": [], "gru": ["--model", "gru"]}  # the rows: extra flags on top of the defaults


def data_files(data: Path) -> dict[str, Path]:
    files = {}
    for split in ("train", "val", "test_2016_flickr"):
        for lang in ("de", "en"):
            for name in (f"{split}.{lang}", f"{split}.{lang}.gz"):
                if (data / name).exists():
                    files[f"{split}.{lang}"] = data / name
                    break
            else:
                sys.exit(f"{data}: missing {split}.{lang}[.gz]")
    return files


def given(flags: list[str]) -> dict:
    """The options the command line makes of `flags` (as `tinytx train seq2seq FLAGS` would: presets apply)."""
    args = build_parser()[0].parse_args(["train", "seq2seq", "-o", "unused", *flags])
    return {k: v for k, v in vars(args).items() if k not in ("out", "resume", "func", "task", "command", "kind")}


def bench(name: str, extra: list[str], files, work: Path, args) -> dict:
    budget = ["--max-steps", str(args.max_steps)] if args.max_steps else ["--minutes", f"{args.minutes:g}"]
    row_flags = [*extra, *budget, *shlex.split(args.flags)]
    if args.threads:
        row_flags += ["--threads", str(args.threads)]
    if args.device != "cpu":
        row_flags += ["--device", args.device]
    flags = ["--src", str(files["train.de"]), "--tgt", str(files["train.en"]), "--val-src", str(files["val.de"]),
             "--val-tgt", str(files["val.en"]), "--no-progress", *row_flags]
    out = work / name
    t0 = time.perf_counter()
    result = train("seq2seq", out, given=given(flags))
    train_s = time.perf_counter() - t0
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    speeds = [m["train_targets_per_s"] for m in metrics if "train_targets_per_s" in m]
    run = load_run(out, device=args.device)
    row = {"model": name, "flags": " ".join(row_flags), "params": result["params"], "steps": result["step"],
           "batch": run.info["batch_sentences"], "train_s": train_s, "tok_s": sum(speeds) / max(len(speeds), 1),
           "val_loss": result.get("val", {}).get("loss", float("nan")), "dtype": resolve_dtype(read_config(out)["train"]["dtype"], torch.device(args.device), run.model),
           "vocab": run.tokenizer.vocab_size}
    for split in ("val", "test_2016_flickr"):
        t1 = time.perf_counter()
        scores = get("seq2seq").evaluate(run, src=files[f"{split}.de"], tgt=files[f"{split}.en"],
                                         limit=args.test_limit, log=None)
        row.update({f"{split}_bleu": scores["bleu"], f"{split}_chrf": scores["chrf"],
                    f"{split}_decode_s": time.perf_counter() - t1, "sentences": scores["sentences"],
                    "beam": scores["beam"], "signature": scores["bleu_signature"]})
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / "data" / "multi30k"),
                   help="folder with {train,val,test_2016_flickr}.{de,en}[.gz]")
    p.add_argument("--minutes", type=float, default=10.0, help="each row's --minutes")
    p.add_argument("--models", default="transformer,gru", help="rows to run, comma-separated")
    p.add_argument("--threads", type=int, default=None, help="--threads for every row (none = torch's choice)")
    p.add_argument("--max-steps", type=int, default=None, help="--max-steps instead of --minutes (fixed work)")
    p.add_argument("--flags", default="", help="more `tinytx train seq2seq` flags for every row, e.g. '--lr 1e-3'")
    p.add_argument("--test-limit", type=int, default=None, help="score only the first N sentences of each set")
    p.add_argument("--keep", default=None, help="keep the run directories here")
    p.add_argument("--device", default="cpu", help="train and translate on this device (cpu, cuda)")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--smoke", action="store_true", help="3 steps each on 20 sentences: check the script runs")
    args = p.parse_args()
    if args.smoke:
        args.max_steps, args.test_limit = 3, 20
    files = data_files(Path(args.data))
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tinytx-bench-seq2seq-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, {args.threads or torch.get_num_threads()} threads\n", flush=True)
    rows = []
    try:
        for name in args.models.split(","):
            rows.append(bench(name, ROWS[name], files, work, args))
            r = rows[-1]
            print(f"{name}: {r['steps']} steps in {r['train_s']:.0f} s, val BLEU {r['val_bleu']:.2f}, "
                  f"test BLEU {r['test_2016_flickr_bleu']:.2f}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if not rows:
        return
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n| model | flags beyond `--src --tgt --val-src --val-tgt` | params | vocab | dtype | steps (sentences) "
          f"| train wall | train tgt tokens/s | val loss | val BLEU | test_2016 BLEU | test_2016 chrF "
          f"| decode wall ({rows[0]['sentences']} sent., beam {rows[0]['beam']}) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | `{r['flags']}` | {r['params'] / 1e6:.2f} M | {r['vocab']} | {r['dtype']} "
              f"| {r['steps']} ({r['batch']}) | {r['train_s'] / 60:.1f} min | {r['tok_s']:.0f} | {r['val_loss']:.3f} "
              f"| {r['val_bleu']:.2f} | {r['test_2016_flickr_bleu']:.2f} | {r['test_2016_flickr_chrf']:.2f} "
              f"| {r['test_2016_flickr_decode_s']:.0f} s |")
    print(f"\nsacreBLEU signature: {rows[0]['signature']}")


if __name__ == "__main__":
    main()
