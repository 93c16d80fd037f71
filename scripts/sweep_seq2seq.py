"""Which seq2seq recipe is best for a CPU's 10 minutes? Compare recipes at equal CPU *time*, trained anywhere.

A recipe's quality after 10 CPU-minutes depends on two things: how fast a step runs on the CPU, and how much a
step teaches. The first is measured here, on the CPU that matters; the second does not depend on the device, so
the training itself can run on a faster machine (a lent GPU, many processes at once) for exactly the number of
steps the recipe would have had on the CPU.

    # 1. on the 2-core box (quiet): CPU tokens/s of each recipe, 60 steps each, 2 threads
    python scripts/sweep_seq2seq.py measure --threads 2 --out sweep_speed.json
    # 2. anywhere: each recipe for its CPU-equal step count, scored on val and test_2016 (beam 4)
    python scripts/sweep_seq2seq.py run --speeds sweep_speed.json --device cuda --jobs 8 --out sweep_rows.json

A recipe's steps = REFERENCE_STEPS x (its tokens/s / the reference recipe's tokens/s) x (1,024 / its batch
tokens): REFERENCE_STEPS is what the default transformer reached in a real `--minutes 10` run on the quiet box
(docs/benchmarks.md), so the counts are the real run's, scaled by measured speed. The numbers are for choosing
defaults; the claims in docs/benchmarks.md are re-measured with real `--minutes 10` runs (scripts/bench_seq2seq.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "base"
REFERENCE_STEPS = 2451  # default transformer, quiet box, 2 threads, --minutes 10 (docs/benchmarks.md, session 4)

# The sweep that chose the current defaults started from the previous ones; every recipe below is those + its flags
# (a later flag wins), so the table reproduces with today's code. Previous transformer defaults: 3 layers each side,
# feed-forward 4 x 256, lr 1e-3, warm-up a quarter epoch (117 steps on Multi30k at 1,024-token batches).
OLD_DEFAULTS = {"transformer": "--n-layer 3 --d-ff 1024 --lr 1e-3 --warmup-steps 117",
                "gru": "--lr 1e-3 --warmup-steps 117"}

RECIPES = {  # name -> `tinytx train seq2seq` flags on top of OLD_DEFAULTS
    "base": "",
    "gru": "--model gru",
    "lr2e-3": "--lr 2e-3",
    "lr3e-3": "--lr 3e-3",
    "drop0": "--dropout 0",
    "drop0.2": "--dropout 0.2",
    "ff512": "--d-ff 512",
    "layers2": "--n-layer 2",
    "layers4": "--n-layer 4",
    "d192": "--n-embd 192",
    "heads8": "--n-head 8",
    "batch512": "--batch-size 512t",
    "batch2048": "--batch-size 2048t",
    "minlr0": "--min-lr 0",
    "vocab2000": "--vocab-size 2000",
    "vocab8000": "--vocab-size 8000",
    "ls0": "--label-smoothing 0",
    "lr5e-3": "--lr 5e-3",
    # round 2: the faster shapes of round 1 combined, and lower learning rates
    "heads8ff512": "--n-head 8 --d-ff 512",
    "d192h8": "--n-embd 192 --n-head 8",
    "d192ff512": "--n-embd 192 --d-ff 512",
    "d192l2": "--n-embd 192 --n-layer 2",
    "d192l4": "--n-embd 192 --n-layer 4",
    "l2ff512": "--n-layer 2 --d-ff 512",
    "l2h8": "--n-layer 2 --n-head 8",
    "d128": "--n-embd 128",
    "lr7e-4": "--lr 7e-4",
    "lr5e-4": "--lr 5e-4",
    "lr1.5e-3": "--lr 1.5e-3",
    "warmup400": "--warmup-steps 400",
    "d192lr7e-4": "--n-embd 192 --lr 7e-4",
    "d192lr1.5e-3": "--n-embd 192 --lr 1.5e-3",
    # round 3: the best shapes with a longer warm-up (round 2: warm-up 400 gave the base shape +2.3 val BLEU)
    "l2ff512-w400": "--n-layer 2 --d-ff 512 --warmup-steps 400",
    "l2ff512-w800": "--n-layer 2 --d-ff 512 --warmup-steps 800",
    "l2ff512-w400-lr1.5e-3": "--n-layer 2 --d-ff 512 --warmup-steps 400 --lr 1.5e-3",
    "d192ff512-w400": "--n-embd 192 --d-ff 512 --warmup-steps 400",
    "d192l2-w400": "--n-embd 192 --n-layer 2 --warmup-steps 400",
    "d192l2ff512": "--n-embd 192 --n-layer 2 --d-ff 512",
    "d192l2ff512-w400": "--n-embd 192 --n-layer 2 --d-ff 512 --warmup-steps 400",
    "gru-w400": "--model gru --warmup-steps 400",
    "l2ff512-seed1": "--n-layer 2 --d-ff 512 --seed 1",
    # round 4: the round-3 winner with a one-epoch warm-up (468 steps on Multi30k), its seed noise, its lr margin,
    # the same optimizer settings on deeper shapes and on the GRU
    "l2ff512-w468-lr1.5e-3": "--n-layer 2 --d-ff 512 --warmup-steps 468 --lr 1.5e-3",
    "l2ff512-w468-lr1.5e-3-seed1": "--n-layer 2 --d-ff 512 --warmup-steps 468 --lr 1.5e-3 --seed 1",
    "l2ff512-w468-lr2e-3": "--n-layer 2 --d-ff 512 --warmup-steps 468 --lr 2e-3",
    "ff512-w468-lr1.5e-3": "--d-ff 512 --warmup-steps 468 --lr 1.5e-3",
    "base-w468-lr1.5e-3": "--warmup-steps 468 --lr 1.5e-3",
    "gru-w468-lr1.5e-3": "--model gru --warmup-steps 468 --lr 1.5e-3",
    "base-seed1": "--seed 1",  # seed noise
    "d192-seed1": "--n-embd 192 --seed 1",
}


# flags that change what a step teaches, not what it costs: such a recipe has the speed of the one without them
COST_FREE = {"--seed", "--lr", "--min-lr", "--label-smoothing", "--warmup-steps", "--weight-decay", "--dropout"}


def cost_key(flags: str) -> str:
    """The recipe's flags without the cost-free ones: recipes with one key run at one speed."""
    words, kept = shlex.split(flags), []
    for i in range(0, len(words), 2):
        if words[i] not in COST_FREE:
            kept += words[i:i + 2]
    return " ".join(kept)


def with_old_defaults(flags: str) -> str:
    return OLD_DEFAULTS["gru" if "--model gru" in flags else "transformer"] + " " + flags


def batch_tokens(flags: str) -> int:
    words = shlex.split(flags)
    return int(words[words.index("--batch-size") + 1].rstrip("t")) if "--batch-size" in words else 1024


def data_flags(data: Path) -> list[str]:
    return ["--src", str(data / "train.de.gz"), "--tgt", str(data / "train.en.gz")]


def measure(args) -> None:
    """Train each recipe `--steps` steps on the CPU; its speed = mean target tokens/s after the first 20 steps."""
    speeds = {}
    for name in args.recipes.split(","):
        if cost_key(RECIPES[name]) != RECIPES[name]:
            continue  # measured as the recipe of its cost key
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "tinytx", "train", "seq2seq", "-o", f"{tmp}/run",
                   *data_flags(Path(args.data)), *shlex.split(with_old_defaults(RECIPES[name])), "--max-steps",
                   str(args.steps),
                   "--threads", str(args.threads), "--no-progress"]
            subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            logs = [json.loads(line) for line in Path(f"{tmp}/run/metrics.jsonl").read_text().splitlines()]
            rates = [m["train_targets_per_s"] for m in logs if "train_targets_per_s" in m and m.get("step", 0) > 20]
        speeds[name] = sum(rates) / len(rates)
        print(f"{name:12s} {speeds[name]:8.0f} target tokens/s", flush=True)
    Path(args.out).write_text(json.dumps({"threads": args.threads, "tokens_per_s": speeds}, indent=1))


def run(args) -> None:
    """Each recipe for its CPU-equal steps (bench_seq2seq.py --max-steps), `--jobs` processes at a time."""
    measured = json.loads(Path(args.speeds).read_text())["tokens_per_s"]
    groups: dict[str, list[float]] = {}  # recipes of one cost measured more than once: their median
    for n, v in measured.items():
        groups.setdefault(cost_key(RECIPES[n]), []).append(v)
    by_key = {k: statistics.median(v) for k, v in groups.items()}
    speeds = {n: by_key[cost_key(f)] for n, f in RECIPES.items() if cost_key(f) in by_key}
    names = [n for n in args.recipes.split(",") if n in speeds]
    work = Path(args.work or tempfile.mkdtemp(prefix="tinytx-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    steps = {n: round(REFERENCE_STEPS * speeds[n] / speeds[REFERENCE] * 1024 / batch_tokens(RECIPES[n]))
             for n in names}
    pending, running, rows = list(names), {}, {}
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    while pending or running:
        while pending and len(running) < args.jobs:
            n = pending.pop(0)
            cmd = [sys.executable, str(ROOT / "scripts" / "bench_seq2seq.py"), "--models",
                   "gru" if "--model gru" in RECIPES[n] else "transformer", "--max-steps", str(steps[n]),
                   "--flags", with_old_defaults(RECIPES[n]).replace("--model gru", ""), "--device", args.device,
                   "--threads", str(args.threads), "--keep", str(work / n), "--json", str(work / f"{n}.json")]
            running[n] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(work / f"{n}.log", "w"),
                                          stderr=subprocess.STDOUT)
        time.sleep(2)
        for n, proc in list(running.items()):
            if proc.poll() is not None:
                del running[n]
                if proc.returncode == 0:
                    rows[n] = json.loads((work / f"{n}.json").read_text())[0]
                    r = rows[n]
                    print(f"{n:12s} {steps[n]:5d} steps  val loss {r['val_loss']:.3f}  val BLEU {r['val_bleu']:.2f}"
                          f"  test BLEU {r['test_2016_flickr_bleu']:.2f}", flush=True)
                else:
                    print(f"{n}: failed, see {work / n}.log", flush=True)
    Path(args.out).write_text(json.dumps({"steps": steps, "rows": rows}, indent=1))
    print(f"\n| recipe | flags | CPU tgt tok/s | steps | val loss | val BLEU | test_2016 BLEU |")
    print("|---|---|---|---|---|---|---|")
    for n in names:
        if n in rows:
            r = rows[n]
            print(f"| {n} | `{RECIPES[n]}` | {speeds[n]:.0f} | {steps[n]} | {r['val_loss']:.3f} | {r['val_bleu']:.2f} "
                  f"| {r['test_2016_flickr_bleu']:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=("measure", "run"))
    p.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated names (default: all)")
    p.add_argument("--data", default=str(ROOT / "data" / "multi30k"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=60, help="measure: steps per recipe")
    p.add_argument("--speeds", default="sweep_speed.json", help="run: the measure phase's output")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--work", default=None, help="run: keep run directories and logs here")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    measure(args) if args.phase == "measure" else run(args)


if __name__ == "__main__":
    main()
