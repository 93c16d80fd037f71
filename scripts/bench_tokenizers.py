"""Tokenizer benchmarks: tinytx next to the raw `tokenizers` / `sentencepiece` libraries and tiktoken; markdown tables.

    flock /tmp/tinytx-heavy.lock python scripts/bench_tokenizers.py            # everything (~10 min, 2 cores)
    python scripts/bench_tokenizers.py --skip-memory --corpus-mb 4 --rounds 3  # quicker

Corpus: the three ../shared/data/english/*.txt files concatenated (~14 MB). Encode speed is measured on the corpus
as a list of lines (encode_batch: what a data pipeline does), as one text, and end to end as a streaming file
encode (`tinytx.data.encode.encode_file`, text file -> .bin). Contenders run in interleaved rounds (each round
runs every contender once, the order rotating), so a change in the machine's load hits all of them; the table
gives each one's median MB/s and the median of the per-round speed ratios. BPE: "raw tokenizers" is the Rust
library on tinytx's own trained file (`Tokenizer.encode_batch_fast`), "tiktoken" is tiktoken's public API
(`Encoding.encode_ordinary_batch`) on an Encoding built from the same merges; the ids of all three are checked
to be identical. Word: "regex" is the word tokenizer's previous encoder (re.findall + dict lookups), checked
identical. Scaling: encode_file on the first 1, 4 and 16 MB. Peak memory: `tinytx tokenize encode` on a 200 MB
file (the corpus repeated, built in /tmp), measured with GNU time (/usr/bin/time -f %M). Results:
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sentencepiece as spm  # noqa: E402
import tiktoken  # noqa: E402
from tokenizers import Tokenizer as HFTokenizer  # noqa: E402
from tokenizers import decoders, models, pre_tokenizers, trainers  # noqa: E402

from tinytx.data.encode import encode_file, load_tokens  # noqa: E402
from tinytx.tokenizers import SPECIAL_TOKENS, BPETokenizer, train_tokenizer  # noqa: E402
from tinytx.tokenizers.bpe import BYTE_LEVEL_PATTERN, byte_decoder  # noqa: E402
from tinytx.tokenizers.unigram import MAX_SENTENCE  # noqa: E402
from benchtable import table  # noqa: E402

VOCAB = {"char": None, "word": 30000, "bpe": 8192, "unigram": 8000}


# --- the raw libraries, configured as tinytx configures them -------------------------------------------------

def raw_bpe_train(path: Path, vocab_size: int) -> HFTokenizer:
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    hf.train([str(path)], trainer)
    return hf


def raw_unigram_train(lines: list[str], vocab_size: int) -> spm.SentencePieceProcessor:
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([s[:MAX_SENTENCE] for s in lines]), model_writer=out, vocab_size=vocab_size,
        model_type="unigram", character_coverage=0.9995, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=False, allow_whitespace_only_pieces=True, hard_vocab_limit=False,
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[BOS]",
        eos_piece="[EOS]", control_symbols=["[MASK]"], input_sentence_size=2_000_000, shuffle_input_sentence=True,
        num_threads=4, minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=out.getvalue())


def tiktoken_of(tok: BPETokenizer) -> tiktoken.Encoding:
    """tiktoken's public Encoding on the merges of a trained tinytx BPE (each token's bytes ranked by its id)."""
    chars, vocab = byte_decoder(), tok.hf.get_vocab()
    ranks = {bytes(chars[c] for c in t): i for t, i in vocab.items() if t not in SPECIAL_TOKENS}
    return tiktoken.Encoding("bench", pat_str=BYTE_LEVEL_PATTERN, mergeable_ranks=ranks,
                             special_tokens={t: i for i, t in enumerate(SPECIAL_TOKENS)})


def rounds(fns: dict, n: int) -> dict[str, list[float]]:
    """Seconds of each function in n interleaved rounds (every function once per round, the order rotating)."""
    names, times = list(fns), {k: [] for k in fns}
    for r in range(n):
        for k in names[r % len(names):] + names[: r % len(names)]:
            t = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t)
    return times


def speedup(times: dict[str, list[float]], a: str, b: str) -> str:
    """Median over rounds of time(b) / time(a): how many times faster a is than b."""
    return f"{statistics.median(tb / ta for ta, tb in zip(times[a], times[b])):.2f}x"


def mbps(mb: float, ts: list[float]) -> str:
    return f"{mb / statistics.median(ts):.1f}"


def speed(corpus: Path, n_rounds: int) -> dict:
    text = corpus.read_text(encoding="utf-8")
    mb = len(text.encode("utf-8")) / 1e6
    lines = text.splitlines(keepends=True)
    toks, train_rows, rows = {}, [], []
    work = Path(tempfile.mkdtemp(prefix="tinytx_bench_"))
    load = [os.getloadavg()[0]]
    for kind, vocab in VOCAB.items():
        t = time.perf_counter()
        tok = toks[kind] = train_tokenizer(kind, [str(corpus)], vocab_size=vocab)
        train_s = time.perf_counter() - t
        train_rows.append([f"tinytx {kind}", tok.vocab_size, f"{train_s:.2f}"])
        out = work / "ids.bin"
        if kind == "bpe":
            t = time.perf_counter()
            raw = raw_bpe_train(corpus, vocab)
            train_rows.append(["raw tokenizers BPE (same call)", raw.get_vocab_size(), f"{time.perf_counter() - t:.2f}"])
            raw = HFTokenizer.from_str(tok.hf.to_str())  # the raw library on tinytx's own file: same merges, same ids
            raw.encode_special_tokens = True
            enc = tiktoken_of(tok)
            slow = BPETokenizer(HFTokenizer.from_str(tok.hf.to_str()))
            slow._tt = "bench: the tokenizers engine"  # tinytx's encode_file as it was, on the Rust library
            ours = tok.encode_batch(lines)
            assert ours == [e.ids for e in raw.encode_batch_fast(lines, add_special_tokens=False)]
            assert ours == enc.encode_ordinary_batch(lines, num_threads=os.cpu_count())
            n_ids = sum(map(len, ours))
            del ours
            tl = rounds({"tinytx": lambda: tok.encode_batch(lines),
                         "raw": lambda: [e.ids for e in raw.encode_batch_fast(lines, add_special_tokens=False)],
                         "tiktoken": lambda: enc.encode_ordinary_batch(lines, num_threads=os.cpu_count())}, n_rounds)
            rows.append(["bpe", "lines (encode_batch)", mbps(mb, tl["tinytx"]), mbps(mb, tl["raw"]), mbps(mb, tl["tiktoken"]),
                         speedup(tl, "tinytx", "raw"), speedup(tl, "tinytx", "tiktoken")])
            tt = rounds({"tinytx": lambda: tok.encode(text),
                         "raw": lambda: raw.encode(text, add_special_tokens=False).ids,
                         "tiktoken": lambda: enc.encode_ordinary(text)}, n_rounds)
            rows.append(["bpe", "one text (encode)", mbps(mb, tt["tinytx"]), mbps(mb, tt["raw"]), mbps(mb, tt["tiktoken"]),
                         speedup(tt, "tinytx", "raw"), speedup(tt, "tinytx", "tiktoken")])
            tf = rounds({"tinytx": lambda: encode_file(tok, corpus, out, progress=False),
                         "raw": lambda: encode_file(slow, corpus, out, progress=False)}, n_rounds)
            encode_file(slow, corpus, work / "slow.bin", progress=False)
            encode_file(tok, corpus, out, progress=False)
            assert np.array_equal(load_tokens(out), load_tokens(work / "slow.bin"))
            rows.append(["bpe", "file -> .bin (encode_file)", mbps(mb, tf["tinytx"]), mbps(mb, tf["raw"]), "-",
                         speedup(tf, "tinytx", "raw"), "-"])
            print(f"  bpe: identical ids from all three on {n_ids:,} tokens", file=sys.stderr, flush=True)
        elif kind == "word":
            assert np.array_equal(tok.encode_array(text), tok._regex_ids(text))
            tw = rounds({"tinytx": lambda: tok.encode_array(text), "regex": lambda: tok._regex_ids(text),
                         "lines": lambda: tok.encode_batch(lines),
                         "file": lambda: encode_file(tok, corpus, out, progress=False)}, n_rounds)
            rows.append(["word", "one text (encode_array)", mbps(mb, tw["tinytx"]), "-", "-",
                         f"{speedup(tw, 'tinytx', 'regex')} vs regex ({mbps(mb, tw['regex'])} MB/s)", "-"])
            rows.append(["word", "lines (encode_batch)", mbps(mb, tw["lines"]), "-", "-", "-", "-"])
            rows.append(["word", "file -> .bin (encode_file)", mbps(mb, tw["file"]), "-", "-", "-", "-"])
        elif kind == "unigram":
            t = time.perf_counter()
            raw = raw_unigram_train(text.splitlines(), vocab)
            train_rows.append(["raw sentencepiece unigram", raw.get_piece_size(), f"{time.perf_counter() - t:.2f}"])
            raw = spm.SentencePieceProcessor(model_proto=tok.proto)
            tu = rounds({"tinytx": lambda: tok.encode_batch(lines), "raw": lambda: raw.encode(lines, num_threads=0),
                         "file": lambda: encode_file(tok, corpus, out, progress=False)}, n_rounds)
            rows.append(["unigram", "lines (encode_batch)", mbps(mb, tu["tinytx"]), f"{mbps(mb, tu['raw'])} (sentencepiece)",
                         "-", speedup(tu, "tinytx", "raw"), "-"])
            rows.append(["unigram", "file -> .bin (encode_file)", mbps(mb, tu["file"]), "-", "-", "-", "-"])
        else:  # char
            tc = rounds({"tinytx": lambda: tok.encode_array(text), "lines": lambda: tok.encode_batch(lines),
                         "file": lambda: encode_file(tok, corpus, out, progress=False)}, n_rounds)
            rows.append(["char", "one text (encode_array)", mbps(mb, tc["tinytx"]), "-", "-", "-", "-"])
            rows.append(["char", "lines (encode_batch)", mbps(mb, tc["lines"]), "-", "-", "-", "-"])
            rows.append(["char", "file -> .bin (encode_file)", mbps(mb, tc["file"]), "-", "-", "-", "-"])
        load.append(os.getloadavg()[0])
        print(f"  {kind}: done", file=sys.stderr, flush=True)
    print(f"Corpus: {corpus.name}, {mb:.1f} MB, {len(lines):,} lines; {os.cpu_count()} CPU cores; {n_rounds} interleaved "
          f"rounds; load average (1 min) {min(load):.1f}-{max(load):.1f} during the run.\n")
    table(["tokenizer", "vocab", "train s"], train_rows)
    table(["kind", "input", "tinytx MB/s", "raw tokenizers MB/s", "tiktoken MB/s", "tinytx speed / raw",
           "tinytx speed / tiktoken"], rows)
    scaling(corpus, toks, n_rounds, work)
    shutil.rmtree(work, ignore_errors=True)
    return toks


def scaling(corpus: Path, toks: dict, n_rounds: int, work: Path) -> None:
    """encode_file seconds on the first 1, 4 and 16 MB of the corpus (repeated if shorter): linear means the
    per-MB time stays flat."""
    data = corpus.read_bytes()
    rows, sizes = [], (1, 4, 16)
    files = {}
    for size in sizes:
        want = size * 1_000_000
        blob = (data * (want // len(data) + 1))[:want]
        files[size] = work / f"c{size}.txt"
        files[size].write_bytes(blob[: blob.rfind(b"\n") + 1])
    for kind, tok in toks.items():
        ts = rounds({size: (lambda f=files[size]: encode_file(tok, f, work / "s.bin", progress=False)) for size in sizes},
                    n_rounds)
        per_mb = [statistics.median(ts[size]) / (files[size].stat().st_size / 1e6) for size in sizes]
        rows.append([kind, *(f"{statistics.median(ts[size]):.3f}" for size in sizes),
                     *(f"{p * 1000:.0f}" for p in per_mb), f"{per_mb[-1] / per_mb[0]:.2f}"])
    table(["encode_file", *(f"{s} MB: s" for s in sizes), *(f"{s} MB: ms/MB" for s in sizes), "ms/MB 16 MB / 1 MB"], rows)


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of a command, measured by GNU time (a child forked from this big process
    would report this process's memory as its own)."""
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    secs = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return int(proc.stderr.strip().splitlines()[-1]) / 1024, secs


def memory(corpus: Path, target_mb: int, toks: dict) -> None:
    """Peak RSS of `tinytx tokenize encode` on a big file, in a fresh child process."""
    work = Path(tempfile.gettempdir()) / "tinytx_bench"
    work.mkdir(exist_ok=True)
    big = work / f"big_{target_mb}mb.txt"
    data = corpus.read_bytes()
    if not big.exists() or big.stat().st_size < target_mb * 1e6:
        with open(big, "wb") as f:
            for _ in range(int(target_mb * 1e6 // len(data)) + 1):
                f.write(data)
    size_mb = big.stat().st_size / 1e6
    rows = [["(baseline: `tinytx --help`, imports only)", "-", "-", "-", f"{peak_rss_mb([sys.executable, '-m', 'tinytx', '--help'])[0]:.0f}"]]
    for kind, vocab in (("char", None), ("word", 30000), ("bpe", 8192), ("unigram", 8000)):
        tok_path = work / f"{kind}.json"
        (toks.get(kind) or train_tokenizer(kind, [str(corpus)], vocab_size=vocab)).save(tok_path)
        cmd = [sys.executable, "-m", "tinytx", "tokenize", "encode", "--tokenizer", str(tok_path), str(big),
               "-o", str(work / "big.bin"), "--quiet"]
        rss_mb, secs = peak_rss_mb(cmd)
        rows.append([kind, f"{size_mb:.0f}", f"{secs:.1f}", f"{size_mb / secs:.1f}", f"{rss_mb:.0f}"])
        print(f"  memory {kind}: done", file=sys.stderr, flush=True)
    (work / "big.bin").unlink(missing_ok=True)
    Path(f"{work / 'big.bin'}.json").unlink(missing_ok=True)
    table(["streaming encode (CLI)", "file MB", "wall s", "MB/s", "peak RSS MB"], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "english"), help="folder of .txt files")
    ap.add_argument("--corpus-mb", type=float, default=None, help="use only the first N MB of the corpus")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per comparison")
    ap.add_argument("--big-mb", type=int, default=200, help="size of the file for the memory test")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    files = sorted(Path(args.data).glob("*.txt"))
    if not files:
        raise SystemExit(f"no .txt files in {args.data}")
    corpus = Path(tempfile.gettempdir()) / "tinytx_bench" / "corpus.txt"
    corpus.parent.mkdir(exist_ok=True)
    data = b"".join(f.read_bytes().rstrip(b"\n") + b"\n" for f in files)
    if args.corpus_mb:
        data = data[: int(args.corpus_mb * 1e6)]
        data = data[: data.rfind(b"\n") + 1]
    corpus.write_bytes(data)
    toks = speed(corpus, args.rounds)
    if not args.skip_memory:
        memory(corpus, args.big_mb, toks)


if __name__ == "__main__":
    main()
