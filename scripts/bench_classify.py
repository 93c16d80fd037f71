"""Text classification on SpamAssassin (ham/spam): every classifier family, test accuracy, macro-F1, time, params.

    flock /tmp/tinytx-heavy.lock python scripts/bench_classify.py            # all rows (~15 min on 2 CPU cores)
    python scripts/bench_classify.py --only bow-tfidf,embedding             # some rows

Prints a markdown table. "train s" is the wall time of `train("classify", ...)` (reading the CSV, featurizing /
tokenizing, the Trainer's epochs with their validation passes and checkpoints); "fit s" is the Trainer alone (its
first step to its end). Sequence models see at most --max-len tokens per text. Rows give only what differs from the
per-model defaults (ClassifyOptions.PRESETS), as the command line would.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

import tinytx  # noqa: E402
from tinytx.engine import Callback  # noqa: E402
from tinytx.recipes import get, train  # noqa: E402


class FitClock(Callback):
    """The Trainer's own time: from the start of training to its end (checkpoints and validation included)."""

    def on_train_start(self, trainer):
        self.t0 = time.perf_counter()

    def on_train_end(self, trainer):
        self.seconds = time.perf_counter() - self.t0


def rows(max_len: int):
    """(name, notes, classify options by name, "train.x" for training settings); "mlm" rows pretrain first."""
    seq = dict(max_len=max_len, vocab_size=20_000, min_count=2)
    tr = dict(n_embd=64, n_head=4, n_layer=2, d_ff=128, dropout=0.1, pooling="mean", **seq)
    return [
        ("bow-binary", "binary presence, 1-2 grams, softmax regression", dict(model="bow", features="binary", ngrams=2, vocab_size=50_000)),
        ("bow-count", "counts, 1-2 grams, softmax regression", dict(model="bow", features="count", ngrams=2, vocab_size=50_000)),
        ("bow-tfidf", "TF-IDF, 1-2 grams, softmax regression", dict(model="bow", features="tfidf", ngrams=2, vocab_size=50_000)),
        ("bow-tfidf-mlp", "TF-IDF, 1-2 grams, MLP 64 hidden", dict(model="bow", features="tfidf", ngrams=2, vocab_size=50_000, hidden=64)),
        ("embedding", "fastText-style mean of 64-d embeddings + 50k hashed bigram buckets", dict(model="embedding", n_embd=64, bigram_buckets=50_000, dropout=0.0, **seq)),
        ("gru", f"bi-GRU 64, packed, max {max_len} tokens", {"model": "gru", "n_embd": 64, "hidden_size": 64, "train.epochs": 4, **seq}),
        ("transformer", f"encoder 2x64, mean pooling, from scratch, max {max_len} tokens", {"model": "transformer", "train.epochs": 6, "train.lr": 1e-3, **tr}),
        ("transformer-mlm", "same encoder, MLM-pretrained on train texts, fine-tuned", {"model": "transformer", "train.epochs": 6, "train.lr": 1e-3, "init_from": "MLM", **tr}),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default=str(ROOT / "data/spamassassin/train.csv.gz"))
    ap.add_argument("--test", default=str(ROOT / "data/spamassassin/test.csv.gz"))
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--mlm-steps", type=int, default=600)
    ap.add_argument("--only", default="", help="comma-separated row names")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on the shared 2-core box, 2 threads made small GRU steps ~45x slower under load)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    tmp = Path(tempfile.mkdtemp(prefix="bench_classify_"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; train {args.train}, test {args.test}\n")
    print("| model | what | test accuracy | test macro-F1 | train s | fit s | params |")
    print("|---|---|---:|---:|---:|---:|---:|")
    mlm_run = None
    for name, notes, over in rows(args.max_len):
        if only and name not in only:
            continue
        extra_s = 0.0
        if over.get("init_from") == "MLM":
            if mlm_run is None:
                mlm_run = tmp / "mlm"
                t0 = time.perf_counter()
                r = train("mlm", mlm_run, given={
                    "data": args.train, "max_len": args.max_len, "n_embd": 64, "n_head": 4, "n_layer": 2, "d_ff": 128,
                    "train.max_steps": args.mlm_steps, "train.batch_size": 32, "train.lr": 1e-3,
                    "train.progress": False})
                extra_s = time.perf_counter() - t0
                notes += f" (MLM: {args.mlm_steps} steps, {extra_s:.0f} s, val loss {r['val'].get('loss', float('nan')):.2f})"
            over = dict(over, init_from=str(mlm_run))
        out = tmp / name
        t0 = time.perf_counter()
        clock = FitClock()
        result = train("classify", out, given={"data": args.train, "train.progress": False, **over}, callbacks=[clock])
        wall = time.perf_counter() - t0
        m = get("classify").evaluate(tinytx.load_run(out), data=args.test)
        print(f"| {name} | {notes} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {wall:.1f} | {clock.seconds:.1f} | "
              f"{result['params']:,} |", flush=True)


if __name__ == "__main__":
    main()
