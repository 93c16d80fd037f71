"""Tokenizer benchmarks: tinytx next to the raw `tokenizers` / `sentencepiece` libraries; prints markdown tables.

    flock /tmp/tinytx-heavy.lock python scripts/bench_tokenizers.py            # speed + memory (~5 min, 2 cores)
    python scripts/bench_tokenizers.py --skip-memory --corpus-mb 4             # quicker

Corpus: the three ../shared/data/english/*.txt files concatenated (~14 MB). Encode speed is measured on the
corpus as a list of lines (encode_batch: what a data pipeline does), and end to end as a streaming file encode
(`tinytx.data.encode.encode_file`, text file -> .bin). Peak memory: `tinytx tokenize encode` on a 200 MB file
(the corpus repeated, built in /tmp), measured with GNU time (/usr/bin/time -f %M). Results: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sentencepiece as spm  # noqa: E402
from tokenizers import Tokenizer as HFTokenizer  # noqa: E402
from tokenizers import decoders, models, pre_tokenizers, trainers  # noqa: E402

from tinytx.data.encode import encode_file  # noqa: E402
from tinytx.tokenizers import SPECIAL_TOKENS, train_tokenizer  # noqa: E402
from tinytx.tokenizers.unigram import MAX_SENTENCE  # noqa: E402
from benchtable import table  # noqa: E402

VOCAB = {"char": None, "word": 30000, "bpe": 8192, "unigram": 8000}


def best_of(fn, repeat=3):
    """Fastest of `repeat` runs (the machine is shared: the minimum is the least disturbed)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


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


def interleaved(fn_a, fn_b, repeat):
    """Fastest of `repeat` runs of each, alternating a, b, a, b...: a change in the machine's load hits both."""
    ta, tb = [], []
    for _ in range(repeat):
        for fn, ts in ((fn_a, ta), (fn_b, tb)):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return min(ta), min(tb)


def speed(corpus: Path, repeat: int) -> dict:
    text = corpus.read_text(encoding="utf-8")
    mb = len(text.encode("utf-8")) / 1e6
    lines = text.splitlines(keepends=True)
    rows, toks = [], {}
    for kind, vocab in VOCAB.items():
        t = time.perf_counter()
        tok = toks[kind] = train_tokenizer(kind, [str(corpus)], vocab_size=vocab)
        train_s = time.perf_counter() - t
        enc_s, _ = best_of(lambda: tok.encode_batch(lines), repeat)
        with tempfile.TemporaryDirectory() as d:
            file_s, _ = best_of(lambda: encode_file(tok, corpus, Path(d) / "ids.bin", progress=False), repeat)
        rows.append([f"tinytx {kind}", tok.vocab_size, f"{train_s:.2f}", f"{mb / enc_s:.1f}", f"{mb / file_s:.1f}"])
        print(f"  {kind}: done", file=sys.stderr, flush=True)
        if kind == "bpe":
            t = time.perf_counter()
            raw = raw_bpe_train(corpus, vocab)
            raw_train = time.perf_counter() - t
            enc_s, raw_s = interleaved(lambda: tok.encode_batch(lines),
                                       lambda: [e.ids for e in raw.encode_batch_fast(lines, add_special_tokens=False)],
                                       repeat)
            rows[-1][3] = f"{mb / enc_s:.1f}"
            rows.append(["raw tokenizers (Rust) BPE", raw.get_vocab_size(), f"{raw_train:.2f}", f"{mb / raw_s:.1f}", "-"])
            rows.append(["ratio tinytx / raw (time)", "", f"{train_s / raw_train:.2f}x", f"{enc_s / raw_s:.2f}x", ""])
        if kind == "unigram":
            t = time.perf_counter()
            raw = raw_unigram_train(text.splitlines(), vocab)
            raw_train = time.perf_counter() - t
            enc_s, raw_s = interleaved(lambda: tok.encode_batch(lines), lambda: raw.encode(lines, num_threads=0), repeat)
            rows[-1][3] = f"{mb / enc_s:.1f}"
            rows.append(["raw sentencepiece unigram", raw.get_piece_size(), f"{raw_train:.2f}", f"{mb / raw_s:.1f}", "-"])
            rows.append(["ratio tinytx / raw (time)", "", f"{train_s / raw_train:.2f}x", f"{enc_s / raw_s:.2f}x", ""])
        if kind == "char":  # what plain Python costs for the same output (one id list per line), for scale
            stoi = {c: i for i, c in enumerate(sorted(set(text)))}
            naive_s, _ = best_of(lambda: [[stoi[c] for c in line] for line in lines], 1)
            rows.append(["plain Python: dict lookup per char", len(stoi), "-", f"{mb / naive_s:.1f}", "-"])
    print(f"Corpus: {corpus.name}, {mb:.1f} MB, {len(lines):,} lines; {os.cpu_count()} CPU cores; best of {repeat}; "
          f"load average before: {os.getloadavg()[0]:.1f}.\n")
    table(["tokenizer", "vocab", "train s", "encode_batch(lines) MB/s", "encode_file MB/s"], rows)
    return toks


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
    ap.add_argument("--repeat", type=int, default=3)
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
    toks = speed(corpus, args.repeat)
    if not args.skip_memory:
        memory(corpus, args.big_mb, toks)


if __name__ == "__main__":
    main()
