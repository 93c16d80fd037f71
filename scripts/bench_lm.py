"""Language-model benchmarks; each section prints a markdown table (results go into docs/benchmarks.md).

    python scripts/bench_lm.py shakespeare   # nanoGPT's CPU config: tinytx vs a plain PyTorch GPT + loop
    python scripts/bench_lm.py names         # test loss of bigram, MLP, RNN, GRU, LSTM, GPT on names.txt
    python scripts/bench_lm.py kvcache       # cached vs uncached generation speed
    python scripts/bench_lm.py all

Run heavy sections under `flock /tmp/tinytx-heavy.lock` on a shared machine. Not a test: nothing asserts.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinytx.engine import TrainConfig, Trainer  # noqa: E402
from tinytx.engine.tasks import LanguageModeling  # noqa: E402
from tinytx.generate import generate  # noqa: E402
from tinytx.models import build  # noqa: E402
from benchtable import table  # noqa: E402


# --- names.txt: one model per row -------------------------------------------------------------------------

def names_data(path: Path, split: str, test_size: int = 1000, seed: int = 3407):
    """Per-name sequences, makemore style: token 0 marks both start and end ('.'), targets after the end are
    ignored (-100). x = [0, c1..cn, 0...], y = [c1..cn, 0, -100...]."""
    words = [w.strip() for w in path.read_text().splitlines() if w.strip()]
    chars = sorted(set("".join(words)))
    stoi = {c: i + 1 for i, c in enumerate(chars)}
    block = max(len(w) for w in words) + 1
    if split == "shuffled":  # makemore's split: a seeded permutation, 1000 held out
        order = torch.randperm(len(words), generator=torch.Generator().manual_seed(seed)).tolist()
        words = [words[i] for i in order]
    x = torch.zeros(len(words), block, dtype=torch.long)
    y = torch.full((len(words), block), -100, dtype=torch.long)
    for i, w in enumerate(words):
        ids = [stoi[c] for c in w]
        x[i, 1 : len(ids) + 1] = torch.tensor(ids)
        y[i, : len(ids)] = torch.tensor(ids)
        y[i, len(ids)] = 0
    train = {"idx": x[:-test_size], "targets": y[:-test_size]}
    test = {"idx": x[-test_size:], "targets": y[-test_size:]}
    return train, test, len(chars) + 1, block


NAMES_MODELS = {
    # name: (config overrides, steps, lr, recipe overrides: batch size (default --batch-size), weight decay)
    "bigram": ({}, 2000, 1e-1, {}),
    "mlp_lm": ({"block_size": 3, "n_embd": 24, "hidden_size": 256}, 8000, 3e-3, {}),
    "rnn": ({"n_embd": 32, "hidden_size": 128}, 8000, 3e-3, {}),
    "gru": ({"n_embd": 32, "hidden_size": 128}, 8000, 3e-3, {}),
    "lstm": ({"n_embd": 32, "hidden_size": 128}, 8000, 3e-3, {}),
    "gpt": ({"n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.2}, 10000, 2e-3, {"batch": 128, "weight_decay": 0.1}),
}


def bench_names(args):
    path = ROOT / "data/names/names.txt"
    print(f"## names.txt, split = {args.split} (1,000 test names), per-name loss with start/end token\n")
    rows = []
    for split in [args.split]:
        train, test, vocab, block = names_data(path, split)
        for name, (cfg, steps, lr, recipe) in NAMES_MODELS.items():
            if args.models and name not in args.models:
                continue
            steps = int(steps * args.scale)
            batch_size, weight_decay = recipe.get("batch", args.batch_size), recipe.get("weight_decay", 0.01)
            cfg = {"vocab_size": vocab, **cfg}
            if name == "gpt":
                cfg["block_size"] = block
            torch.manual_seed(0)
            model = build(name, cfg)
            config = TrainConfig(
                max_steps=steps, batch_size=batch_size, lr=lr, schedule="cosine", min_lr=lr / 10,
                warmup_steps=min(100, steps // 10), weight_decay=weight_decay, eval_interval=steps, progress=False,
                device="cpu", seed=0,
            )
            t0 = time.perf_counter()
            trainer = Trainer(model, LanguageModeling(), train, None, config)
            trainer.fit()
            dt = time.perf_counter() - t0
            test_loss = trainer.evaluate(Trainer_batches(test))["loss"]
            train_loss = trainer.evaluate(Trainer_batches(train, limit=5000))["loss"]
            n_params = sum(p.numel() for p in model.parameters())
            rows.append([name, f"{n_params:,}", f"{steps} ({batch_size})", f"{train_loss:.4f}", f"**{test_loss:.4f}**",
                         f"{dt:.0f}"])
            print(rows[-1], flush=True)
    table(["model", "params", "steps (batch)", "train loss", "test loss", "time (s)"], rows)


def Trainer_batches(data, limit=None):
    from tinytx.data.batches import TensorBatches

    if limit:
        data = {k: v[:limit] for k, v in data.items()}
    return TensorBatches(data, batch_size=1000, shuffle=False)


# --- tinyshakespeare: nanoGPT's CPU config, tinytx vs a plain PyTorch GPT and loop ------------------------

class RefBlock(nn.Module):
    """A straightforward GPT block (nanoGPT-like), written independently of tinytx for the comparison."""

    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.qkv, self.out = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.fc, self.proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, 2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.out(y)
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class RefGPT(nn.Module):
    def __init__(self, vocab, block, n_layer, n_head, d):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.Sequential(*[RefBlock(d, n_head) for _ in range(n_layer)])
        self.ln = nn.LayerNorm(d, bias=False)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("out.weight", "proj.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.size(1)))
        return self.head(self.ln(self.blocks(x)))


def shakespeare_ids():
    text = (ROOT / "data/tinyshakespeare/input.txt").read_text()
    chars = sorted(set(text))
    lut = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([lut[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(ids))
    return ids[:n], ids[n:], len(chars)


@torch.no_grad()
def val_loss(model, val_ids, block, n_windows=2000, batch=100):
    """Mean loss over the same fixed random val windows for every model compared."""
    model.eval()
    g = torch.Generator().manual_seed(1234)
    starts = torch.randint(len(val_ids) - block - 1, (n_windows,), generator=g)
    total = 0.0
    for i in range(0, n_windows, batch):
        s = starts[i : i + batch]
        x = torch.stack([val_ids[j : j + block] for j in s.tolist()])
        y = torch.stack([val_ids[j + 1 : j + 1 + block] for j in s.tolist()])
        total += float(F.cross_entropy(model(x).flatten(0, 1), y.flatten())) * len(s)
    model.train()
    return total / n_windows


NANO_CPU = dict(n_layer=4, n_head=4, n_embd=128, block=64, batch=12, iters=2000, lr=1e-3, min_lr=1e-4,
                warmup=100, wd=0.1, betas=(0.9, 0.99), clip=1.0)


def plain_loop(train_ids, vocab, c):
    """The reference: nanoGPT's loop, spelled out (random windows, cosine lr, AdamW, clip)."""
    torch.manual_seed(0)
    model = RefGPT(vocab, c["block"], c["n_layer"], c["n_head"], c["n_embd"])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": c["wd"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=c["lr"], betas=c["betas"])
    t0 = time.perf_counter()
    for it in range(c["iters"]):
        if it < c["warmup"]:
            lr = c["lr"] * (it + 1) / c["warmup"]
        else:
            progress = (it - c["warmup"]) / (c["iters"] - c["warmup"])
            lr = c["min_lr"] + 0.5 * (c["lr"] - c["min_lr"]) * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = lr
        ix = torch.randint(len(train_ids) - c["block"] - 1, (c["batch"],))
        x = torch.stack([train_ids[i : i + c["block"]] for i in ix.tolist()])
        y = torch.stack([train_ids[i + 1 : i + 1 + c["block"]] for i in ix.tolist()])
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c["clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, time.perf_counter() - t0


def tinytx_run(train_ids, vocab, c, workdir, lr=None):
    """The same recipe through tinytx: GPT from the registry, the memmap window source, the one Trainer."""
    import numpy as np

    from tinytx.data.lm import LMWindows

    path = Path(workdir) / "train.bin"
    np.asarray(train_ids.numpy(), dtype=np.uint16).tofile(path)
    data = LMWindows(np.memmap(path, dtype=np.uint16, mode="r"), block_size=c["block"], batch_size=c["batch"], seed=0)
    torch.manual_seed(0)
    model = build("gpt", {"vocab_size": vocab, "block_size": c["block"], "n_layer": c["n_layer"],
                          "n_head": c["n_head"], "n_embd": c["n_embd"], "dropout": 0.0, "bias": False})
    config = TrainConfig(max_steps=c["iters"], batch_size=c["batch"], lr=lr or c["lr"], schedule="cosine",
                         min_lr=c["min_lr"], warmup_steps=c["warmup"], weight_decay=c["wd"], betas=c["betas"],
                         grad_clip=c["clip"], progress=False, device="cpu", seed=0, log_interval=100)
    t0 = time.perf_counter()
    Trainer(model, LanguageModeling(), data, None, config).fit()
    return model, time.perf_counter() - t0


def bench_shakespeare(args):
    import tempfile

    c = dict(NANO_CPU)
    c["iters"] = int(c["iters"] * args.scale)
    train_ids, val_ids, vocab = shakespeare_ids()
    tokens = c["iters"] * c["batch"] * c["block"]
    print(f"## tinyshakespeare, nanoGPT CPU config: {c}\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("plain PyTorch GPT + loop", lambda: plain_loop(train_ids, vocab, c)),
                ("tinytx (GPT + LMWindows memmap + Trainer)", lambda: tinytx_run(train_ids, vocab, c, tmp)),
                ("tinytx, lr 2e-3 (cosine to 2e-4)", lambda: tinytx_run(train_ids, vocab, {**c, "min_lr": 2e-4}, tmp, lr=2e-3))]
        for i, (name, fn) in enumerate(runs):
            if args.runs and str(i) not in args.runs.split(","):
                continue
            model, dt = fn()
            vl = val_loss(model, val_ids, c["block"])
            rows.append([name, c["iters"], f"{tokens / dt:,.0f}", f"{dt:.1f}", f"{vl:.4f}"])
            print(rows[-1], flush=True)
        speed = interleaved_speed(train_ids, vocab, c, tmp, args.rounds, args.round_steps)
    table(["implementation", "iters", "train tokens/s", "train time (s)", "val loss (2,000 windows)"], rows)
    print(f"Throughput measured interleaved (rounds of {args.round_steps} steps, plain and tinytx alternating, so machine drift "
          "hits both alike):\n")
    table(["implementation", "median tokens/s", "rounds (tokens/s)"],
          [[k, f"**{sorted(v)[len(v) // 2]:,.0f}**", ", ".join(f"{x:,.0f}" for x in v)] for k, v in speed.items()])


def interleaved_speed(train_ids, vocab, c, workdir, rounds=5, steps=100):
    c = {**c, "iters": steps, "warmup": 10}
    tokens = steps * c["batch"] * c["block"]
    speed = {"plain PyTorch GPT + loop": [], "tinytx": []}
    for _ in range(rounds):
        speed["plain PyTorch GPT + loop"].append(tokens / plain_loop(train_ids, vocab, c)[1])
        speed["tinytx"].append(tokens / tinytx_run(train_ids, vocab, c, workdir)[1])
    return speed


# --- KV cache: generation speed --------------------------------------------------------------------------

def bench_kvcache(args):
    """512 new tokens from a 16-token prompt with a GPT whose window holds them all (no sliding)."""
    print("## KV-cache generation, 512 new tokens, batch 1, greedy\n")
    rows = []
    shapes = [dict(n_layer=4, n_head=4, n_embd=128), dict(n_layer=6, n_head=6, n_embd=384)]
    for shape in shapes[: 1 if args.kv_small else None]:
        torch.manual_seed(0)
        model = build("gpt", {"vocab_size": 65, "block_size": 1024, **shape}).eval()
        prompt = torch.randint(0, 65, (1, 16))
        times = {}
        for use_cache in (True, False):
            generate(model, prompt, 8, temperature=0.0, use_cache=use_cache)  # warm up
            t0 = time.perf_counter()
            out = generate(model, prompt, 512, temperature=0.0, use_cache=use_cache)
            times[use_cache] = time.perf_counter() - t0
            times[(use_cache, "out")] = out
        same = torch.equal(times[(True, "out")], times[(False, "out")])
        n = sum(p.numel() for p in model.parameters())
        rows.append([f"{shape['n_layer']}L/{shape['n_head']}H/{shape['n_embd']}d ({n / 1e6:.2f}M)",
                     f"{512 / times[False]:,.0f}", f"{512 / times[True]:,.0f}",
                     f"**{times[False] / times[True]:.1f}x**", "yes" if same else "no"])
        print(rows[-1], flush=True)
    table(["GPT", "uncached tokens/s", "KV-cached tokens/s", "speed-up", "same tokens"], rows)


# --- main ----------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("section", choices=["shakespeare", "names", "kvcache", "all"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", default="last", choices=["last", "shuffled"])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply training steps (quick checks)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--models", nargs="*")
    ap.add_argument("--runs", help="shakespeare: which full runs, e.g. 0,1,2 (plain, tinytx, tinytx lr 2e-3)")
    ap.add_argument("--kv-small", action="store_true", help="kvcache: only the small model (a short run)")
    ap.add_argument("--rounds", type=int, default=5, help="shakespeare: interleaved throughput rounds")
    ap.add_argument("--round-steps", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs\n")
    if args.section in ("shakespeare", "all"):
        bench_shakespeare(args)
    if args.section in ("kvcache", "all"):
        bench_kvcache(args)
    if args.section in ("names", "all"):
        bench_names(args)


if __name__ == "__main__":
    main()
