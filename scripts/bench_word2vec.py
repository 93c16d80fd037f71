"""word2vec: tinytx against gensim 4.x on the same corpus, the same token stream and the same settings, one thread each.

    pip install -e '.[bench]'       # gensim
    flock /tmp/tinytx-heavy.lock python scripts/bench_word2vec.py          # 3 corpora x 3 rounds, ~10 min
    python scripts/bench_word2vec.py --corpus ../shared/data/english/kjv.txt --rounds 1 --tinytx-flags "--share-negatives 1"

Both see exactly the same words: tinytx's word tokenizer splits the text (lowercased words and punctuation), gensim
gets each line's tokens as a sentence (a line past gensim's 10,000-token limit in pieces), and windows stay inside a
line in both, as word2vec.c's stay inside a sentence. Same epochs, vector size, window, noise words, min_count, sub-sampling, lr 0.025 -> 0.0001, skip-gram
unless --mode cbow. Each run is its own process with OMP/MKL/torch threads = 1 and gensim workers=1; the two
systems take turns (A B, B A, A B, ...) so that a busy machine slows both alike, and the load average is printed
beside every run. Round i uses seed --seed + i for both (gensim is deterministic for a seed, so rounds also
show how much the seed alone moves the accuracy). Times: gensim = build_vocab + train on the already-split tokens
(the split is free for it); tinytx = the whole `train("word2vec", ...)` call (reading and splitting the file, the
vocabulary, the Trainer with its per-epoch evaluation and checkpoint). Imports are outside both clocks (torch,
torch._dynamo, which torch.optim loads on first use, and gensim); "process s" is each process's whole wall time,
imports included. Peak RSS is the process's.

Quality: top-1 accuracy on analogy questions a:b :: c:? (b - a + c, the three query words left out, cosine over
the whole vocabulary, as gensim's evaluate_word_analogies) built from word pairs in three groups (gender, plural,
past tense): every ordered pair of two pairs of a group whose four words both vocabularies hold (the Google analogy
set's construction on words these old texts use). Plus nearest neighbours of a few words, for the eye.
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

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
ENGLISH = ROOT.parent / "shared" / "data" / "english"

GENDER = [("he", "she"), ("his", "her"), ("man", "woman"), ("men", "women"), ("king", "queen"), ("kings", "queens"),
          ("father", "mother"), ("fathers", "mothers"), ("son", "daughter"), ("sons", "daughters"),
          ("brother", "sister"), ("brothers", "sisters"), ("husband", "wife"), ("husbands", "wives"), ("boy", "girl"),
          ("lord", "lady"), ("prince", "princess"), ("uncle", "aunt"), ("male", "female"), ("master", "mistress"),
          ("duke", "duchess"), ("god", "goddess"), ("himself", "herself"), ("nephew", "niece"), ("sir", "madam"),
          ("bridegroom", "bride"), ("grandfather", "grandmother")]
PLURAL = [("king", "kings"), ("son", "sons"), ("day", "days"), ("year", "years"), ("city", "cities"),
          ("hand", "hands"), ("eye", "eyes"), ("word", "words"), ("house", "houses"), ("servant", "servants"),
          ("horse", "horses"), ("tree", "trees"), ("child", "children"), ("man", "men"), ("woman", "women"),
          ("brother", "brothers"), ("daughter", "daughters"), ("friend", "friends"), ("enemy", "enemies"),
          ("heart", "hearts"), ("priest", "priests"), ("prophet", "prophets"), ("nation", "nations"),
          ("thing", "things"), ("night", "nights"), ("soldier", "soldiers"), ("lord", "lords"),
          ("knight", "knights")]
PAST = [("go", "went"), ("come", "came"), ("say", "said"), ("give", "gave"), ("take", "took"), ("see", "saw"),
        ("know", "knew"), ("speak", "spoke"), ("eat", "ate"), ("make", "made"), ("hear", "heard"),
        ("bring", "brought"), ("find", "found"), ("tell", "told"), ("stand", "stood"), ("rise", "rose"),
        ("fall", "fell"), ("sit", "sat"), ("write", "wrote"), ("begin", "began"), ("build", "built"),
        ("send", "sent"), ("keep", "kept"), ("lose", "lost"), ("die", "died"), ("love", "loved"), ("call", "called"),
        ("answer", "answered"), ("run", "ran"), ("think", "thought"), ("buy", "bought"), ("sell", "sold"),
        ("fight", "fought"), ("drink", "drank"), ("sleep", "slept")]
GROUPS = {"gender": GENDER, "plural": PLURAL, "past": PAST}
NEIGHBOURS = ("king", "father", "city", "went", "sword", "love")


def questions(vocab: set[str]) -> list[tuple[str, str, str, str, str]]:
    """(group, a, b, c, d): b - a + c should be d; every ordered pair of two pairs of a group, all words known."""
    out = []
    for group, pairs in GROUPS.items():
        known = [p for p in pairs if p[0] in vocab and p[1] in vocab]
        out += [(group, a, b, c, d) for a, b in known for c, d in known if len({a, b, c, d}) == 4]
    return out


def analogy_accuracy(words: list[str], vectors, qs) -> dict[str, list[int]]:
    """{group: [right, asked]} for the top-1 answer of each question (the three query words left out)."""
    import numpy as np

    index = {w: i for i, w in enumerate(words)}
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    ids = np.array([[index[w] for w in q[1:]] for q in qs])
    sims = (unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]) @ unit.T
    for j in range(3):
        sims[np.arange(len(ids)), ids[:, j]] = -np.inf
    right = sims.argmax(1) == ids[:, 3]
    result = {g: [int(right[[q[0] == g for q in qs]].sum()), sum(q[0] == g for q in qs)] for g in GROUPS}
    result["all"] = [int(right.sum()), len(qs)]
    return result


def neighbours(words: list[str], vectors, k: int = 5) -> dict[str, list[str]]:
    import numpy as np

    index = {w: i for i, w in enumerate(words)}
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    out = {}
    for w in NEIGHBOURS:
        if w in index:
            sims = unit @ unit[index[w]]
            sims[index[w]] = -np.inf
            out[w] = [words[i] for i in np.argsort(-sims)[:k]]
    return out


# --- one run, in its own process ---------------------------------------------------------------------------------

def child(system: str, corpus: str, args, out: Path) -> None:
    import numpy as np

    if system == "gensim":
        from gensim.models import Word2Vec

        from tinytx.tokenizers.word import WordTokenizer

        splitter = WordTokenizer([], lowercase=True)
        with open(corpus, encoding="utf-8") as f:
            lines = [splitter.split(line) for line in f]
        chunks = [line[i:i + 10_000] for line in lines for i in range(0, len(line), 10_000)]
        t0 = time.perf_counter()
        model = Word2Vec(chunks, vector_size=args.dim, window=args.window, negative=args.negatives,
                         min_count=args.min_count, sample=args.subsample, sg=int(args.mode == "skipgram"),
                         epochs=args.epochs, workers=1, alpha=0.025, min_alpha=0.0001, seed=args.seed)
        seconds = time.perf_counter() - t0
        words, vectors = list(model.wv.index_to_key), model.wv.vectors
    else:
        import torch
        import torch._dynamo  # noqa: F401  (an import: torch.optim loads it on first use)

        from tinytx.recipes import train
        from tinytx.recipes.word2vec import N_SPECIAL, WordVectors

        torch.set_num_threads(1)
        given = {"data": corpus, "mode": args.mode, "n_embd": args.dim, "window": args.window,
                 "negatives": args.negatives, "min_count": args.min_count, "subsample": args.subsample,
                 "train.epochs": args.epochs, "train.threads": 1, "train.seed": args.seed,
                 "train.progress": False, "train.device": "cpu", **flag_values(args.tinytx_flags)}
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train("word2vec", Path(tmp) / "run", given=given)
            seconds = time.perf_counter() - t0
            wv = WordVectors.load(Path(tmp) / "run")
        tok = wv.tokenizer
        words = [tok.id_to_token(i) for i in range(N_SPECIAL, tok.vocab_size)]
        vectors = wv.unit[N_SPECIAL:].numpy()
        print(result["summary"], file=sys.stderr)
    import resource

    np.save(out / "vectors.npy", np.asarray(vectors, dtype=np.float32))
    (out / "run.json").write_text(json.dumps({
        "seconds": seconds, "words": words, "process_s": time.time() - args.started,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def flag_values(text: str) -> dict:
    """tinytx's own command-line flags (e.g. '--batch-size 8192 --share-negatives 1') as option values."""
    if not text.strip():
        return {}
    from tinytx.cli import build_parser

    args = build_parser()[0].parse_args(["train", "word2vec", "-o", "unused", *shlex.split(text)])
    return {k: v for k, v in vars(args).items() if k not in ("out", "resume", "func", "task", "command", "kind")}


def run_once(system: str, corpus: str, argv: list[str], seed: int) -> dict:
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, __file__, "--child", system, "--corpus", corpus, "--child-out", tmp,
                               "--started", str(time.time()), *argv, "--seed", str(seed)],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{system} failed:\n{proc.stderr[-3000:]}")
        info = json.loads((Path(tmp) / "run.json").read_text())
        info["vectors"] = np.load(Path(tmp) / "vectors.npy")
        info["load"] = load
    return info


# --- the table -----------------------------------------------------------------------------------------------------

def main() -> None:
    from benchtable import table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="append", help="text file(s) (default: the World English Bible, the King "
                                                      "James Bible and the Shakespeare plays in ../shared/data/english)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--mode", default="skipgram", choices=("skipgram", "cbow"))
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negatives", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--subsample", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tinytx-flags", default="", help="more `tinytx train word2vec` flags for the tinytx runs")
    ap.add_argument("--systems", default="gensim,tinytx")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.corpus[0], args, Path(args.child_out))

    corpora = args.corpus or [str(ENGLISH / n) for n in ("web_bible.txt", "kjv.txt", "shakespeare_plays.txt")]
    shared = ["--epochs", str(args.epochs), "--mode", args.mode, "--dim", str(args.dim), "--window",
              str(args.window), "--negatives", str(args.negatives), "--min-count", str(args.min_count),
              "--subsample", str(args.subsample), "--tinytx-flags", args.tinytx_flags]
    systems = args.systems.split(",")
    print(f"# word2vec {args.mode}: {args.epochs} epochs, dim {args.dim}, window {args.window}, "
          f"{args.negatives} noise words, min_count {args.min_count}, sample {args.subsample}, one thread each; "
          f"tinytx flags: {args.tinytx_flags or '(defaults)'}; {os.cpu_count()} CPUs", flush=True)
    summary = []
    for corpus in corpora:
        runs = {s: [] for s in systems}
        rows = []
        for r in range(args.rounds):
            for system in (systems if r % 2 == 0 else systems[::-1]):
                info = run_once(system, corpus, shared, args.seed + r)
                runs[system].append(info)
                rows.append([Path(corpus).name, args.seed + r, system, f"{info['seconds']:.1f}",
                             f"{info['process_s']:.1f}", f"{info['load']:.1f}", f"{info['rss_mb']:.0f}",
                             len(info["words"])])
                print(f"  {Path(corpus).name} round {r + 1} {system}: {info['seconds']:.1f} s "
                      f"(load {info['load']:.1f})", file=sys.stderr, flush=True)
        vocab = set.intersection(*(set(i["words"]) for s in systems for i in runs[s]))
        qs = questions(vocab)
        for row, (system, info) in zip(rows, ((s, i) for r in range(args.rounds)
                                               for s in (systems if r % 2 == 0 else systems[::-1])
                                               for i in [runs[s][r]])):
            acc = analogy_accuracy(info["words"], info["vectors"], qs)
            info["acc"] = acc
            row += [f"{acc[g][0]}/{acc[g][1]}" for g in GROUPS] + [f"{acc['all'][0] / acc['all'][1]:.3f}"]
        table(["corpus", "seed", "system", "train s", "process s", "load avg", "peak RSS MB", "vocab", *GROUPS,
               "top-1"], rows)
        for system in systems:
            nn = neighbours(runs[system][-1]["words"], runs[system][-1]["vectors"])
            print(f"{system} nearest: " + "; ".join(f"{w}: {', '.join(v)}" for w, v in nn.items()))
        print()
        if len(systems) == 2:
            a, b = systems
            ratios = [x["seconds"] / y["seconds"] for x, y in zip(runs[b], runs[a])]
            summary.append([Path(corpus).name, len(qs),
                            f"{statistics.median(i['seconds'] for i in runs[a]):.1f}",
                            f"{statistics.median(i['seconds'] for i in runs[b]):.1f}",
                            f"{statistics.median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)})",
                            f"{statistics.median(i['acc']['all'][0] / len(qs) for i in runs[a]):.3f}",
                            f"{statistics.median(i['acc']['all'][0] / len(qs) for i in runs[b]):.3f}"])
    if summary:
        a, b = systems
        table(["corpus", "questions", f"{a} s (median)", f"{b} s (median)", f"time {b}/{a}: median (rounds)",
               f"{a} top-1", f"{b} top-1"], summary)


if __name__ == "__main__":
    main()
