"""Text classification: every tinytx classifier with CLI defaults beside scikit-learn and fastText, one table per set.

    python scripts/bench_classify.py --threads 1                          # SpamAssassin, all rows
    python scripts/bench_classify.py --sets spam,spam10,books3 --threads 1
    python scripts/bench_classify.py --only bow,embedding,sk-svc            # some rows

Sets: spam = data/spamassassin (4,837 e-mails / 1,209 test); spam10 = a seeded 10% of its train file, the same test;
books3 = 20-line passages of three English books (1,680 / 420); the last two are built by
scripts/make_classify_sets.py from files the project has (books3 needs ../shared/data/english). `--train/--test`
bench any other CSV pair (columns `text`, `label`). `--cv K` never reads the test file: K-fold cross-validation
on the train file (seeded folds, pooled accuracy over all train rows), for choosing settings without the test half;
`--given key=value,...` adds options to the tinytx rows (e.g. `--given train.lr=0.2` to compare a setting).

Every tinytx row is `tinytx train classify --model M --data TRAIN` with nothing else (the "flags" column says so;
--threads only sets the torch threads): epochs, max length, warm-up and early stopping are derived from the data
(tinytx/recipes/classify_defaults.py), and the "resolved" column shows what they became. tinytx holds 10% of the
train file out for validation (its default); the peers train on all of it. "train s" is the wall time of the whole
fit (reading, featurizing/tokenizing, training with validation and checkpoints). scikit-learn and fastText are
bench-only extras (pip install 'tinytx[bench]').
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
sys.path.insert(0, str(ROOT / "scripts"))

import torch  # noqa: E402

import tinytx  # noqa: E402
from tinytx.data.text_classification import read_labelled  # noqa: E402
from tinytx.recipes import get, train  # noqa: E402

TINYTX = ("bow", "embedding", "gru", "transformer")
PEERS = ("sk-lr", "sk-svc", "sk-nb", "fasttext", "fasttext-25")


def accuracy_f1(truth, pred) -> tuple[float, float]:
    labels = sorted(set(truth))
    acc = sum(t == p for t, p in zip(truth, pred)) / len(truth)
    f1s = []
    for lab in labels:
        tp = sum(t == lab and p == lab for t, p in zip(truth, pred))
        fp = sum(t != lab and p == lab for t, p in zip(truth, pred))
        fn = sum(t == lab and p != lab for t, p in zip(truth, pred))
        f1s.append(2 * tp / max(1, 2 * tp + fp + fn))
    return acc, sum(f1s) / len(f1s)


def sklearn_row(name, train_xy, test_xy):
    """scikit-learn with its own defaults: TF-IDF (1-grams) + LogisticRegression / LinearSVC, counts + NB."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    model = {"sk-lr": lambda: make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)),
             "sk-svc": lambda: make_pipeline(TfidfVectorizer(), LinearSVC()),
             "sk-nb": lambda: make_pipeline(CountVectorizer(), MultinomialNB())}[name]()
    t0 = time.perf_counter()
    model.fit(*train_xy)
    seconds = time.perf_counter() - t0
    return accuracy_f1(test_xy[1], list(model.predict(test_xy[0]))), seconds


def fasttext_row(name, train_xy, test_xy, tmp: Path):
    """fastText supervised, its defaults (dim 100, lr 0.1, 1-grams), 5 or 25 epochs, one thread, lowercased."""
    import fasttext

    clean = lambda s: " ".join(s.lower().split())
    path = tmp / "fasttext.txt"
    path.write_text("".join(f"__label__{y} {clean(x)}\n" for x, y in zip(*train_xy)), encoding="utf-8")
    t0 = time.perf_counter()
    model = fasttext.train_supervised(str(path), epoch=25 if name == "fasttext-25" else 5, thread=1, verbose=0)
    seconds = time.perf_counter() - t0
    pred = [labels[0].removeprefix("__label__") for labels in model.predict([clean(x) for x in test_xy[0]])[0]]
    return accuracy_f1(test_xy[1], pred), seconds


PEER_FLAGS = {"sk-lr": "TfidfVectorizer() + LogisticRegression(max_iter=1000)",
              "sk-svc": "TfidfVectorizer() + LinearSVC()", "sk-nb": "CountVectorizer() + MultinomialNB()",
              "fasttext": "train_supervised defaults (epoch 5), thread 1",
              "fasttext-25": "train_supervised, epoch 25, thread 1"}


def tinytx_row(model: str, train_path: str, test_path: str, out: Path, threads: int, extra: dict | None = None):
    t0 = time.perf_counter()
    result = train("classify", out, given={"data": train_path, "model": model, "train.progress": False,
                                           "train.threads": threads, **(extra or {})})
    seconds = time.perf_counter() - t0
    run = tinytx.load_run(out)
    m = get("classify").evaluate(run, data=test_path)
    o, cfg = run.options, run.options.train
    resolved = f"{cfg.max_steps} steps max, bs {cfg.batch_size}, warm-up {cfg.warmup_steps}, patience {cfg.patience}"
    if model != "bow":
        resolved += f", max_len {o.max_len}"
    resolved += f"; stopped at {result['step']}, best {result.get('best_step')}"
    return (m["accuracy"], m["macro_f1"]), seconds, f"{resolved}; {result['params']:,} params"


def parse_given(text: str) -> dict:
    """'train.lr=0.2,ngrams=2' -> {"train.lr": 0.2, "ngrams": 2} (numbers as numbers)."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, value = item.split("=", 1)
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def write_csv(path: Path, texts, labels) -> str:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels))
    return str(path)


def cross_validate(set_name, train_xy, k: int, rows, args, extra: dict, tmp: Path) -> None:
    """K seeded folds of the train rows: each row is predicted once, by a model that never saw it."""
    import random

    order = list(range(len(train_xy[0])))
    random.Random(0).shuffle(order)
    folds = [order[i::k] for i in range(k)]
    print(f"| model | flags | {k}-fold CV accuracy (pooled) | errors | per fold |")
    print("|---|---|---:|---:|---|")
    for name in rows:
        accs, errors = [], 0
        for i, held in enumerate(folds):
            held_set = set(held)
            tr = ([train_xy[0][j] for j in order if j not in held_set], [train_xy[1][j] for j in order if j not in held_set])
            te = ([train_xy[0][j] for j in held], [train_xy[1][j] for j in held])
            if name in TINYTX:
                trp, tep = write_csv(tmp / f"cv{i}-train.csv", *tr), write_csv(tmp / f"cv{i}-test.csv", *te)
                (acc, _), _, _ = tinytx_row(name, trp, tep, tmp / f"{set_name}-{name}-cv{i}", args.threads, extra)
            elif name.startswith("sk-"):
                (acc, _), _ = sklearn_row(name, tr, te)
            else:
                (acc, _), _ = fasttext_row(name, tr, te, tmp)
            accs.append(acc)
            errors += round((1 - acc) * len(held))
        flags = PEER_FLAGS.get(name) or f"`--model {name}` " + (" ".join(f"{k}={v}" for k, v in extra.items())
                                                                or "(defaults)")
        print(f"| {name} | {flags} | {1 - errors / len(order):.4f} | {errors} | "
              f"{' '.join(f'{a:.3f}' for a in accs)} |", flush=True)


def sets(names: list[str], args) -> list[tuple[str, str, str]]:
    if args.train:
        return [("custom", args.train, args.test)]
    out = []
    for name in names:
        if name == "spam":
            spam = ROOT / "data" / "spamassassin"
            out.append((name, str(spam / "train.csv.gz"), str(spam / "test.csv.gz")))
        else:
            import make_classify_sets as mk

            folder = getattr(mk, name)(Path(args.sets_dir))
            out.append((name, str(folder / "train.csv.gz"), str(folder / "test.csv.gz")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="spam", help="comma-separated: spam, spam10, books3")
    ap.add_argument("--sets-dir", default="/tmp/tinytx_classify_sets", help="where spam10/books3 are written")
    ap.add_argument("--train", help="a train CSV of your own (with --test): benches that instead of --sets")
    ap.add_argument("--test")
    ap.add_argument("--only", default="", help=f"comma-separated rows: {', '.join(TINYTX + PEERS)}")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on the shared 2-core box)")
    ap.add_argument("--cv", type=int, default=0, help="K-fold cross-validation on the train file instead of the test")
    ap.add_argument("--given", default="", help="options for the tinytx rows, e.g. 'train.lr=0.2,ngrams=2'")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    tmp = Path(tempfile.mkdtemp(prefix="bench_classify_"))
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU, load average {load:.1f}\n")
    for set_name, train_path, test_path in sets([s.strip() for s in args.sets.split(",") if s.strip()], args):
        train_xy = read_labelled(train_path, "text", "label")
        if args.cv:
            print(f"### {set_name}: {len(train_xy[0]):,} train rows, {args.cv}-fold CV (the test file unread)\n")
            rows = [n for n in PEERS + TINYTX if not only or n in only]
            cross_validate(set_name, train_xy, args.cv, rows, args, parse_given(args.given), tmp)
            print()
            continue
        test_xy = read_labelled(test_path, "text", "label")
        print(f"### {set_name}: {len(train_xy[0]):,} train / {len(test_xy[0]):,} test, "
              f"{len(set(train_xy[1]))} classes ({train_path})\n")
        print("| model | flags | test accuracy | test macro-F1 | train s | resolved / notes |")
        print("|---|---|---:|---:|---:|---|")
        for name in PEERS + TINYTX:
            if only and name not in only:
                continue
            if name in TINYTX:
                extra = parse_given(args.given)
                (acc, f1), s, notes = tinytx_row(name, train_path, test_path, tmp / f"{set_name}-{name}", args.threads,
                                                 extra)
                flags = f"`--model {name}` " + (" ".join(f"{k}={v}" for k, v in extra.items()) or "(defaults)")
            elif name.startswith("sk-"):
                (acc, f1), s = sklearn_row(name, train_xy, test_xy)
                flags, notes = PEER_FLAGS[name], "scikit-learn"
            else:
                (acc, f1), s = fasttext_row(name, train_xy, test_xy, tmp)
                flags, notes = PEER_FLAGS[name], "fasttext-wheel 0.9.2"
            print(f"| {name} | {flags} | {acc:.4f} | {f1:.4f} | {s:.1f} | {notes} |", flush=True)
        print(f"\n(load average after this set: {os.getloadavg()[0]:.1f})\n", flush=True)


if __name__ == "__main__":
    main()
