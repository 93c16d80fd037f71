"""How a GPT training step's cost grows with block size and width, fp32 vs what `--dtype auto` picks (issue 11).

    python scripts/bench_scaling.py                      # default grid, torch's threads
    python scripts/bench_scaling.py --threads 1 --steps 6

For each shape: the tinytx GPT (no biases, as `train lm`), batch --batch, one Trainer step = forward, loss,
backward, AdamW (the engine's own `_train_step`), fp32 and bf16 autocast timed alternately (fp32, bf16, fp32, ...)
after two warm-up steps; median ms/step. The last column is what `--dtype auto` resolves to on this machine.
Eager mode (no torch.compile): compile is decided per run by measurement, see tinytx/engine/autocompile.py.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchtable import table  # noqa: E402

from tinytx.engine import LanguageModeling, TrainConfig, Trainer  # noqa: E402
from tinytx.engine.trainer import resolve_dtype  # noqa: E402
from tinytx.models import build  # noqa: E402


def trainer_for(n_embd: int, block: int, batch: int, dtype: str) -> Trainer:
    torch.manual_seed(0)
    heads = max(1, n_embd // 64)
    model = build("gpt", {"vocab_size": 65, "block_size": block, "n_layer": 4, "n_head": heads, "n_embd": n_embd,
                          "bias": False})
    x = torch.randint(0, 65, (batch * 4, block + 1))
    cfg = TrainConfig(max_steps=10**6, batch_size=batch, lr=1e-3, device="cpu", dtype=dtype, compile=False,
                      progress=False)
    return Trainer(model, LanguageModeling(), {"idx": x[:, :-1], "targets": x[:, 1:]}, None, cfg)


def ms_per_step(trainer: Trainer, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer._train_step()
        trainer.step += 1
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="128,256,384")
    ap.add_argument("--blocks", default="64,128,256")
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--steps", type=int, default=5, help="steps per timing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"GPT step cost, 4 layers, batch {args.batch}, heads = width/64; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.machine()}\n")
    rows = []
    for width in map(int, args.widths.split(",")):
        for block in map(int, args.blocks.split(",")):
            trainers = {d: trainer_for(width, block, args.batch, d) for d in ("fp32", "bf16")}
            times: dict[str, list[float]] = {"fp32": [], "bf16": []}
            for t in trainers.values():
                ms_per_step(t, 2)  # warm-up
            for _ in range(args.repeats):
                for d, t in trainers.items():
                    times[d].append(ms_per_step(t, args.steps))
            fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
            auto = resolve_dtype("auto", torch.device("cpu"), trainers["fp32"].raw_model)
            tokens = args.batch * block
            rows.append([width, block, f"{fp32:.1f}", f"{bf16:.1f}", f"{fp32 / bf16:.2f}",
                         f"{tokens / (min(fp32, bf16) / 1e3):,.0f}", auto])
            print(rows[-1], flush=True)
    print()
    table(["width", "block", "fp32 ms/step", "bf16 ms/step", "bf16 speed-up", "best tok/s", "--dtype auto"], rows)


if __name__ == "__main__":
    main()
