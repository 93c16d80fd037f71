"""Build the extra text-classification sets of scripts/bench_classify.py from files the project already has.

    python scripts/make_classify_sets.py --out /tmp/tinytx_sets     # writes <set>/train.csv.gz, <set>/test.csv.gz

- books3: passages of 20 consecutive non-empty lines from the three English books in ../shared/data/english (King
  James Bible, World English Bible, Shakespeare's plays), labelled by book: a 3-class set of long documents
  (~200-600 words), 700 passages per book drawn with a fixed seed, 80% train / 20% test.
- spam10: a seeded 10% of data/spamassassin/train.csv.gz (the small-data regime), tested on the full test file.

Everything is a pure function of the seed, so the sets are the same on every machine that has the same files.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOKS = {"kjv": "kjv.txt", "web": "web_bible.txt", "shakespeare": "shakespeare_plays.txt"}
SHARED = ROOT.parent / "shared" / "data" / "english"


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "text"])
        w.writerows(rows)


def read_csv(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return [(r["label"], r["text"]) for r in csv.DictReader(f)]


def books3(out: Path, english: Path = SHARED, lines: int = 20, per_book: int = 700, seed: int = 0) -> Path:
    rng = random.Random(seed)
    train, test = [], []
    for label, name in BOOKS.items():
        text = [s.strip() for s in (english / name).read_text(encoding="utf-8").splitlines() if s.strip()]
        passages = [" ".join(text[i:i + lines]) for i in range(0, len(text) - lines + 1, lines)]
        picked = rng.sample(passages, min(per_book, len(passages)))
        cut = int(0.8 * len(picked))
        train += [(label, p) for p in picked[:cut]]
        test += [(label, p) for p in picked[cut:]]
    rng.shuffle(train)
    rng.shuffle(test)
    write_csv(out / "books3" / "train.csv.gz", train)
    write_csv(out / "books3" / "test.csv.gz", test)
    return out / "books3"


def spam10(out: Path, fraction: float = 0.1, seed: int = 0) -> Path:
    rows = read_csv(ROOT / "data" / "spamassassin" / "train.csv.gz")
    picked = random.Random(seed).sample(rows, round(fraction * len(rows)))
    write_csv(out / "spam10" / "train.csv.gz", picked)
    write_csv(out / "spam10" / "test.csv.gz", read_csv(ROOT / "data" / "spamassassin" / "test.csv.gz"))
    return out / "spam10"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/tinytx_classify_sets")
    ap.add_argument("--english", default=str(SHARED), help="folder with the three books")
    args = ap.parse_args()
    for path in (books3(Path(args.out), Path(args.english)), spam10(Path(args.out))):
        print(path, *(f"{f.name}: {len(read_csv(f))} rows" for f in sorted(path.glob("*.csv.gz"))))


if __name__ == "__main__":
    main()
