"""`tinytx train lm` against nanoGPT's own train.py, both as subprocesses on this machine (issue 11, goals 1-2).

    python scripts/bench_nanogpt.py /work/shared/anchors/nanoGPT                  # both configs, full length
    python scripts/bench_nanogpt.py ../shared/anchors/nanoGPT --configs cpu --scale 0.25
    python scripts/bench_nanogpt.py NANOGPT --configs cpu --tinytx-extra "--bias"  # another tinytx variant

What it does:
  1. copies the nanoGPT checkout to a temp dir and prepares data/shakespeare_char there with nanoGPT's own
     prepare.py, offline: the repo's data/tinyshakespeare/input.txt is put where prepare.py looks first, so it
     never downloads (the code of nanoGPT is run, never copied into tinytx);
  2. speed: interleaved rounds A (nanoGPT train.py), B (tinytx train lm), A, B, ... of --round-iters iterations
     each, each round a fresh process; a round's rate = tokens of its steady iterations (the first --warmup left
     out) / their time; reported: the median of the per-round rates and the median of the per-round-pair ratios;
  3. quality and end to end: one full run of each (--iters iterations, the tool's own evaluations included),
     timed from process start to exit (imports, tinytx's tokenization and any compile included), then the final
     weights of both scored on the same text: nanoGPT's val split (the last 10% of the characters),
     consecutive non-overlapping windows of the block size, every character scored once (nanoGPT's estimate_loss
     averages eval_iters random batches, which is too noisy to compare at 0.02). nanoGPT's checkpoint is read
     with nanoGPT's own model.py in a subprocess; tinytx's with `tinytx eval RUN --data VALTEXT`.

Configs: "cpu" = nanoGPT README's CPU command (4 layers, 4 heads, 128 dims, block 64, batch 12, 2000 iters, no
dropout, nanoGPT's default bias=False); "big" = config/train_shakespeare_char.py as is (6/6/384, block 256,
batch 64, dropout 0.2) at fewer iterations. nanoGPT on CPU runs fp32 (its autocast context is CUDA-only);
tinytx runs its defaults: no biases (as nanoGPT), `--dtype auto` (bf16 autocast for transformers from 128 wide
on an AVX512-BF16/AMX CPU), `--compile` auto (the full run tries it and keeps it if faster; see --round-extra).
Not a test: nothing asserts. Run heavy benches under `flock /tmp/tinytx-heavy.lock` on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from benchtable import table  # noqa: E402

PY = sys.executable
TINYTX = [PY, "-m", "tinytx"]

# shape + schedule of each config; nanoGPT flags follow its README / config file, tinytx flags mirror them
CONFIGS = {
    "cpu": dict(n_layer=4, n_head=4, n_embd=128, block=64, batch=12, dropout=0.0, iters=2000, round_iters=150,
                warmup=20, log=10, eval_iters=20),
    "big": dict(n_layer=6, n_head=6, n_embd=384, block=256, batch=64, dropout=0.2, iters=200, round_iters=12,
                warmup=2, log=1, eval_iters=20),
}
EVAL_BATCHES = 20  # tinytx's --eval-batches; main() sets it from --eval-iters
LR, MIN_LR, WARMUP, BETAS, WD, CLIP, EVAL_INTERVAL = 1e-3, 1e-4, 100, "0.9,0.99", 0.1, 1.0, 250


def load() -> str:
    return "%.2f %.2f %.2f" % os.getloadavg()


def prepare_nanogpt(src: Path, tmp: Path) -> Path:
    dst = tmp / "nanoGPT"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".git", "out*", "*.bin", "*.pkl"))
    data = dst / "data" / "shakespeare_char"
    shutil.copy(ROOT / "data/tinyshakespeare/input.txt", data / "input.txt")  # prepare.py reads it, no download
    subprocess.run([PY, "prepare.py"], cwd=data, check=True, capture_output=True)
    return dst


def nano_cmd(c: dict, iters: int, out: str, eval_interval: int, eval_iters: int | None = None) -> list[str]:
    """eval_iters: nanoGPT's batches per split per evaluation (the timing rounds pass 1: their only evaluation
    is the one before iteration 0, which is not timed anyway)."""
    return [PY, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
            "--log_interval=1", f"--block_size={c['block']}", f"--batch_size={c['batch']}",
            f"--n_layer={c['n_layer']}", f"--n_head={c['n_head']}", f"--n_embd={c['n_embd']}",
            f"--max_iters={iters}", f"--lr_decay_iters={iters}", f"--dropout={c['dropout']}",
            f"--warmup_iters={min(WARMUP, iters // 5)}", f"--eval_interval={eval_interval}",
            "--always_save_checkpoint=True", f"--out_dir={out}", f"--eval_iters={eval_iters or c['eval_iters']}"]


def tinytx_cmd(c: dict, iters: int, out: str, eval_interval: int, extra: list[str]) -> list[str]:
    return [*TINYTX, "train", "lm", "--out", out, "--data", str(ROOT / "data/tinyshakespeare/input.txt"),
            "--tokenizer", "char", "--block-size", str(c["block"]), "--batch-size", str(c["batch"]),
            "--n-layer", str(c["n_layer"]), "--n-head", str(c["n_head"]), "--n-embd", str(c["n_embd"]),
            "--dropout", str(c["dropout"]), "--max-steps", str(iters), "--lr", str(LR),
            "--min-lr", str(MIN_LR), "--warmup-steps", str(min(WARMUP, iters // 5)), "--schedule", "cosine",
            "--betas", BETAS, "--weight-decay", str(WD), "--grad-clip", str(CLIP), "--eval-interval",
            str(eval_interval), "--eval-batches", str(EVAL_BATCHES), "--log-interval", str(c["log"]),
            "--device", "cpu", "--no-progress", *extra]  # no bias, dtype auto, compile auto: tinytx's defaults


STDERR = {"last": ""}  # the last command's standard error (tinytx says there what its auto compile decided)


def run(cmd: list[str], cwd: Path | None = None) -> tuple[str, float]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {shlex.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    STDERR["last"] = p.stderr
    return p.stdout, wall


ITER = re.compile(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms", re.M)


def nano_rate(stdout: str, tokens_per_iter: int, warmup: int) -> float:
    times = [float(ms) for i, ms in ITER.findall(stdout) if int(i) >= warmup]
    return tokens_per_iter * len(times) / (sum(times) / 1000)


def tinytx_rate(run_dir: Path, warmup: int) -> float:
    tokens = seconds = 0.0
    prev = 0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "train_targets_per_s" not in row:
            continue
        step, n = row["step"], row["step"] - prev
        if prev >= warmup:  # a window wholly after the warm-up
            window = n * TOKENS_PER_ITER
            tokens, seconds = tokens + window, seconds + window / row["train_targets_per_s"]
        prev = step
    return tokens / seconds


NANO_EVAL = r"""
import sys, numpy as np, torch
from model import GPTConfig, GPT
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
m = GPT(GPTConfig(**ck["model_args"])); m.load_state_dict(ck["model"]); m.eval()
ids = torch.from_numpy(np.fromfile("data/shakespeare_char/val.bin", dtype=np.uint16).astype(np.int64))
B = ck["model_args"]["block_size"]; n = (len(ids) - 1) // B
x, y = ids[: n * B].view(n, B), ids[1 : n * B + 1].view(n, B)
tot = 0.0
with torch.no_grad():
    for i in range(0, n, 64):
        _, loss = m(x[i:i+64], y[i:i+64]); tot += loss.item() * y[i:i+64].numel()
print(ck["iter_num"], tot / y.numel(), y.numel())
"""


def nano_val(nano: Path, out: str) -> tuple[int, float, int]:
    stdout, _ = run([PY, "-c", NANO_EVAL, f"{out}/ckpt.pt"], cwd=nano)
    it, loss, n = stdout.splitlines()[-1].split()
    return int(it), float(loss), int(n)


def tinytx_val(run_dir: Path, valtext: Path) -> tuple[float, int]:
    stdout, _ = run([*TINYTX, "eval", str(run_dir), "--data", str(valtext), "--device", "cpu", "--json"])
    m = json.loads(stdout)
    return m["loss"], m["tokens"]


def bench(name: str, args, nano: Path, tmp: Path) -> None:
    global TOKENS_PER_ITER
    c = CONFIGS[name]
    TOKENS_PER_ITER = c["block"] * c["batch"]
    extra = shlex.split(args.tinytx_extra)
    round_extra = extra + shlex.split(args.round_extra)
    iters = max(10, int((args.iters or c["iters"]) * args.scale))
    round_iters = max(c["warmup"] + 3, int((args.round_iters or c["round_iters"]) * max(args.scale, 0.25)))
    print(f"## config {name}: {c['n_layer']} layers, {c['n_head']} heads, {c['n_embd']} dims, block {c['block']}, "
          f"batch {c['batch']}, dropout {c['dropout']}; tinytx extra flags: {extra or 'none'}\n", flush=True)
    print("nanoGPT:", shlex.join(nano_cmd(c, round_iters, "OUT", 10**9, 1)))
    print("tinytx: ", shlex.join(tinytx_cmd(c, round_iters, "OUT", 10**9, round_extra)), "\n", flush=True)
    rows, nano_rates, tx_rates, ratios = [], [], [], []
    for r in range(0 if args.no_rounds else args.rounds):
        lo = load()
        out, _ = run(nano_cmd(c, round_iters, str(tmp / f"n{name}{r}"), 10**9, 1), cwd=nano)
        a = nano_rate(out, TOKENS_PER_ITER, c["warmup"])
        shutil.rmtree(tmp / f"n{name}{r}", ignore_errors=True)
        run_dir = tmp / f"t{name}{r}"
        run(tinytx_cmd(c, round_iters, str(run_dir), 10**9, round_extra))
        b = tinytx_rate(run_dir, c["warmup"])
        shutil.rmtree(run_dir, ignore_errors=True)
        nano_rates.append(a), tx_rates.append(b), ratios.append(b / a)
        rows.append([r + 1, lo, f"{a:,.0f}", f"{b:,.0f}", f"{b / a:.2f}"])
        print(rows[-1], flush=True)
    if args.no_rounds:
        return full_runs(name, c, args, nano, tmp, iters, extra)
    rows.append(["median", load(), f"**{statistics.median(nano_rates):,.0f}**",
                 f"**{statistics.median(tx_rates):,.0f}**", f"**{statistics.median(ratios):.2f}**"])
    print(f"\n### {name}: steady-state tokens/s, {args.rounds} interleaved rounds of {round_iters} iterations "
          f"(first {c['warmup']} left out)\n")
    table(["round", "load (1/5/15 min)", "nanoGPT tok/s", "tinytx tok/s", "tinytx / nanoGPT"], rows)
    if not args.no_full:
        full_runs(name, c, args, nano, tmp, iters, extra)


def full_runs(name: str, c: dict, args, nano: Path, tmp: Path, iters: int, extra: list[str]) -> None:
    """One full run of each, end to end, and the val loss of the final weights on the same text."""
    valtext = tmp / "val.txt"
    text = (ROOT / "data/tinyshakespeare/input.txt").read_text()
    valtext.write_text(text[int(len(text) * 0.9):])
    lo = load()
    nout = str(tmp / f"nfull{name}")
    every = EVAL_INTERVAL if iters % EVAL_INTERVAL == 0 else iters  # nanoGPT saves only at an evaluation
    run_dir = tmp / f"tfull{name}"
    # a cold compile cache, as on a user's first run (torch.compile caches compiled kernels across runs)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(tmp / f"inductor-{name}")
    if args.parallel_full:  # quality only: both at once, so their wall times mean nothing
        procs = [subprocess.Popen(nano_cmd(c, iters, nout, every, args.eval_iters), cwd=nano,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
                 subprocess.Popen(tinytx_cmd(c, iters, str(run_dir), every, extra), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)]
        errs = [p.communicate()[1] for p in procs]
        if any(p.returncode for p in procs):
            sys.exit(f"a full run failed:\n{errs[0][-2000:]}\n{errs[1][-2000:]}")
        STDERR["last"], nano_wall, tx_wall = errs[1], float("nan"), float("nan")
    else:
        _, nano_wall = run(nano_cmd(c, iters, nout, every, args.eval_iters), cwd=nano)
        _, tx_wall = run(tinytx_cmd(c, iters, str(run_dir), every, extra))
    del os.environ["TORCHINDUCTOR_CACHE_DIR"]
    it, nano_loss, n_nano = nano_val(nano, nout)
    decided = [ln for ln in STDERR["last"].splitlines() if "torch.compile" in ln]
    print(f"tinytx full run: {decided[0] if decided else 'no compile trial (run too short for one)'}", flush=True)
    tx_loss, n_tx = tinytx_val(run_dir, valtext)
    print(f"\n### {name}: one full run each, {iters} iterations, evaluations every {every} (20 batches), "
          f"load at start {lo}, at end {load()}\n")
    table(["", "nanoGPT train.py", "tinytx train lm", "tinytx / nanoGPT"], [
        ["wall time, process start to exit (s)", f"{nano_wall:.1f}", f"{tx_wall:.1f}", f"{nano_wall / tx_wall:.2f}× faster"],
        [f"val loss after {iters} iters (full val split, {n_nano:,} / {n_tx:,} targets)", f"{nano_loss:.4f} (iter {it})",
         f"{tx_loss:.4f}", f"{tx_loss - nano_loss:+.4f}"],
    ])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("nanogpt", type=Path, help="a nanoGPT checkout (run from a temp copy)")
    ap.add_argument("--configs", default="cpu,big")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved A/B rounds per config")
    ap.add_argument("--round-iters", type=int, default=None, help="iterations per timing round (config default)")
    ap.add_argument("--iters", type=int, default=None, help="iterations of the full runs (config default)")
    ap.add_argument("--scale", type=float, default=1.0, help="shorten the full runs (and rounds, down to 1/4)")
    ap.add_argument("--eval-iters", type=int, default=None, help="batches per evaluation in the full runs, both "
                    "tools (default 20, the README command's)")
    ap.add_argument("--no-full", action="store_true", help="only the timing rounds")
    ap.add_argument("--no-rounds", action="store_true", help="only the full runs")
    ap.add_argument("--parallel-full", action="store_true", help="run the two full runs at the same time (for the "
                    "val loss at equal steps only: their wall times are then not reported)")
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for both tools (default: torch's "
                    "choice); on a shared box 1 thread each is far less hurt by other load than 2")
    ap.add_argument("--tinytx-extra", default="", help="extra flags for tinytx train lm, e.g. '--bias --compile'")
    ap.add_argument("--round-extra", default="", help="extra tinytx flags for the timing rounds only: '--compile' "
                    "measures the compiled steady state that the full run's auto compile reaches (a round is too "
                    "short for auto mode to try compiling); the full run prints what auto decided")
    args = ap.parse_args(argv)
    global EVAL_BATCHES
    EVAL_BATCHES = args.eval_iters or 20
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by both subprocesses
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load {load()}; python {platform.python_version()}\n")
    with tempfile.TemporaryDirectory(prefix="bench_nanogpt_") as t:
        tmp = Path(t)
        nano = prepare_nanogpt(args.nanogpt.resolve(), tmp)
        for name in args.configs.split(","):
            bench(name, args, nano, tmp)


if __name__ == "__main__":
    main()
