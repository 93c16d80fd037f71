"""Engine overhead per optimizer step: tinytx's Trainer vs a bare PyTorch loop, same MLP, data, batch, optimizer.

    flock /tmp/tinytx-heavy.lock python scripts/bench_engine.py            # markdown table on stdout
    python scripts/bench_engine.py --batch-sizes 1,32 --steps 200 --repeats 3 --threads 1

Both loops see the same mini-batches (TensorBatches' seeded permutation), run the same forward/loss/backward/
AdamW step, and are timed over the same number of steps after a warm-up; runs alternate (bare, engine, bare, ...)
so that a busy machine slows both alike, and the median of the per-pair ratios is reported. --clock cpu (the
default) times with the process's CPU time: with one torch thread that is the work done, which another process
on the same cores cannot inflate by taking the CPU away (it can still slow caches); --clock wall for wall time.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

CLOCK = time.process_time  # main() sets it from --clock

from tinytx.data.batches import TensorBatches
from tinytx.engine import Classification, TrainConfig, Trainer
from tinytx.models import build

MODEL = {"in_features": 64, "out_features": 10, "hidden_sizes": [256, 256], "activation": "relu"}


def make_data(n: int = 8192):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, MODEL["in_features"], generator=g)
    return {"x": x, "y": (x[:, :10].argmax(-1))}


def fresh_model():
    torch.manual_seed(0)
    return build("mlp", MODEL)


def bare_loop(data, batch_size, steps: int) -> float:
    """The loop one would write by hand. Returns seconds per step."""
    model = fresh_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)  # the engine decays nothing here either
    batches = TensorBatches(data, batch_size, shuffle=True, seed=0)
    model.train()
    t0 = CLOCK()
    for step in range(steps):
        b = batches.get(step)
        loss = F.cross_entropy(model(b["x"]), b["y"])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    loss.item()  # the engine syncs at log intervals; end on a sync too
    return (CLOCK() - t0) / steps


def engine_loop(data, batch_size, steps: int) -> float:
    cfg = TrainConfig(max_steps=steps, batch_size=batch_size, optimizer="adamw", lr=1e-3, weight_decay=0.0,
                      progress=False, device="cpu", seed=0)
    trainer = Trainer(fresh_model(), Classification(10), data, None, cfg)
    t0 = CLOCK()
    trainer.fit()
    return (CLOCK() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", default="1,32,256,2048")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    data = make_data()
    sizes = [int(s) for s in args.batch_sizes.split(",")]

    print(f"Engine overhead vs a bare PyTorch loop: MLP 64-256-256-10 (relu), AdamW, {args.steps} steps, "
          f"median of {args.repeats}, {args.clock} time; torch {torch.__version__}, {args.threads} thread(s), "
          f"{platform.processor() or platform.machine()}\n")
    print("| batch | bare loop (ms/step) | tinytx Trainer (ms/step) | overhead |")
    print("|---:|---:|---:|---:|")
    for bs in sizes:
        steps = max(20, args.steps if bs <= 256 else args.steps // 3)
        bare_loop(data, bs, 20), engine_loop(data, bs, 20)  # warm-up (allocator, first-call costs)
        bare, eng = [], []
        for _ in range(args.repeats):
            bare.append(bare_loop(data, bs, steps))
            eng.append(engine_loop(data, bs, steps))
        b, e = statistics.median(bare), statistics.median(eng)
        ratio = statistics.median(x / y for x, y in zip(eng, bare))  # pairs ran back to back
        print(f"| {bs} | {b * 1e3:.3f} | {e * 1e3:.3f} | {100 * (ratio - 1):+.1f}% |", flush=True)


if __name__ == "__main__":
    main()
