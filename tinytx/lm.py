"""Language modelling end to end: text file -> tokenizer -> token memmaps -> model -> the one Trainer -> run dir.

    from tinytx.lm import LMOptions, train_lm
    train_lm(LMOptions(data="data/tinyshakespeare/input.txt", out="runs/shakespeare", max_steps=2000))
    run = tinytx.load_run("runs/shakespeare"); print(run.generate("ROMEO:", max_new_tokens=100))

The CLI (`tinytx train lm`, `tinytx eval`, `tinytx demo`) calls these functions and nothing more.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .engine import TrainConfig, Trainer
from .engine import checkpoint as ckpt
from .engine.callbacks import Callback
from .engine.tasks import LanguageModeling
from .errors import TinytxError
from .models import build, registry

LM_MODELS = ("gpt", "rnn", "gru", "lstm", "bigram", "mlp_lm")
TOKENIZER = "tokenizer.json"
DATA_DIR = "data"  # token memmaps live inside the run: RUN/data/{train,val}.bin


@dataclass
class LMOptions:
    """Everything `tinytx train lm` accepts (model shape + training recipe)."""

    data: str
    out: str
    model: str = "gpt"
    tokenizer: str = "char"  # char | bpe | path to a tokenizer.json
    vocab_size: int = 1024  # bpe only
    val_fraction: float = 0.1  # the last part of the file is validation
    # model shape (each model takes the fields it has)
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    hidden_size: int = 256  # rnn/gru/lstm/mlp_lm
    dropout: float = 0.0
    positions: str = "learned"
    bias: bool = True
    # training recipe
    max_steps: int = 2000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr: float | None = None  # cosine floor; None = lr / 10
    warmup: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_batches: int = 50
    seed: int = 1337
    device: str = "auto"
    dtype: str = "fp32"
    compile: bool = False
    progress: bool = True
    resume: bool = False


def model_config(opts: LMOptions, vocab_size: int) -> dict[str, Any]:
    """Map the shared flags onto the chosen model's config fields."""
    name = opts.model
    if name not in LM_MODELS:
        raise TinytxError(f"unknown language model {name!r}; choose one of {', '.join(LM_MODELS)}")
    if name == "gpt":
        if opts.n_embd % opts.n_head:
            raise TinytxError(f"--n-embd {opts.n_embd} must be divisible by --n-head {opts.n_head}")
        return dict(vocab_size=vocab_size, block_size=opts.block_size, n_layer=opts.n_layer, n_head=opts.n_head,
                    n_embd=opts.n_embd, dropout=opts.dropout, bias=opts.bias, positions=opts.positions)
    if name in ("rnn", "gru", "lstm"):
        return dict(vocab_size=vocab_size, n_embd=opts.n_embd, hidden_size=opts.hidden_size, n_layer=opts.n_layer,
                    dropout=opts.dropout, block_size=opts.block_size)
    if name == "mlp_lm":
        return dict(vocab_size=vocab_size, block_size=min(opts.block_size, 8), n_embd=min(opts.n_embd, 32),
                    hidden_size=opts.hidden_size, dropout=opts.dropout)
    return dict(vocab_size=vocab_size)


def train_config(opts: LMOptions) -> TrainConfig:
    return TrainConfig(
        max_steps=opts.max_steps, batch_size=opts.batch_size, grad_accum=opts.grad_accum, optimizer="adamw",
        lr=opts.lr, betas=(0.9, 0.99), weight_decay=opts.weight_decay, schedule="cosine",
        warmup_steps=min(opts.warmup, max(0, opts.max_steps - 1)),
        min_lr=opts.lr / 10 if opts.min_lr is None else opts.min_lr, grad_clip=opts.grad_clip,
        eval_interval=opts.eval_interval, eval_batches=opts.eval_batches, device=opts.device, dtype=opts.dtype,
        compile=opts.compile, seed=opts.seed, progress=opts.progress,
    )


# --- tokenizer and data ------------------------------------------------------------------------------------

def _check_text_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise TinytxError(f"{path}: no such text file")
    if path.stat().st_size == 0:
        raise TinytxError(f"{path}: the file is empty")
    return path


def make_tokenizer(spec: str, data: Path, vocab_size: int):
    """'char' / 'bpe' train a tokenizer on the data; anything else is a path to a saved tokenizer.json."""
    from .tokenizers import load_tokenizer, train_tokenizer

    if spec in ("char", "bpe"):
        return train_tokenizer(spec, [str(data)], vocab_size=vocab_size)
    if not Path(spec).is_file():
        raise TinytxError(f"--tokenizer must be char, bpe or a tokenizer.json file; {spec!r} is none of these")
    return load_tokenizer(spec)


def prepare_data(tokenizer, data: Path, run_dir: Path, val_fraction: float) -> tuple[Path, Path]:
    """Tokenize the text file once into RUN/data/{train,val}.bin (the last val_fraction is validation)."""
    from .data.lm import encode_text_file

    if not 0 < val_fraction < 1:
        raise TinytxError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    out = run_dir / DATA_DIR
    train_bin, val_bin = encode_text_file(tokenizer, data, out, val_fraction=val_fraction)
    return Path(train_bin), Path(val_bin)


def windows(path: Path, block_size: int, batch_size: int, seed: int, vocab_size: int):
    from .data.lm import LMWindows

    return LMWindows(path, block_size=block_size, batch_size=batch_size, seed=seed, vocab_size=vocab_size)


# --- training ----------------------------------------------------------------------------------------------

class TimeLimit(Callback):
    """Stop (with a checkpoint, resumable) once `seconds` of training have passed."""

    def __init__(self, seconds: float):
        self.seconds, self.t0 = seconds, None

    def on_train_start(self, trainer):
        self.t0 = time.perf_counter()

    def on_step_end(self, trainer, logs):
        if time.perf_counter() - self.t0 > self.seconds:
            trainer.stop(f"time limit of {self.seconds:.0f} s reached")


def train_lm(opts: LMOptions, callbacks=()) -> dict[str, Any]:
    """Train (or, with opts.resume, continue) a language model into opts.out; returns the Trainer's result."""
    run_dir = Path(opts.out)
    if opts.resume:
        return _resume(opts, run_dir, callbacks)
    if (run_dir / ckpt.CONFIG).exists():
        raise TinytxError(f"{run_dir}: already holds a run; continue it with --resume or choose another --out")
    data = _check_text_file(opts.data)
    tokenizer = make_tokenizer(opts.tokenizer, data, opts.vocab_size)
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(run_dir / TOKENIZER)
    train_bin, val_bin = prepare_data(tokenizer, data, run_dir, opts.val_fraction)
    torch.manual_seed(opts.seed)
    model = build(opts.model, model_config(opts, tokenizer.vocab_size))
    cfg = train_config(opts)
    extra = {"data": str(data), "tokenizer": opts.tokenizer, "block_size": opts.block_size,
             "train_bin": str(train_bin.relative_to(run_dir)), "val_bin": str(val_bin.relative_to(run_dir)),
             "val_fraction": opts.val_fraction}
    run_info = {"task": "lm", "model": registry.describe(model), "extra": extra}
    return _fit(model, cfg, run_dir, run_info, tokenizer.vocab_size, opts.block_size, callbacks, resume=False)


def _resume(opts: LMOptions, run_dir: Path, callbacks) -> dict[str, Any]:
    config = ckpt.load_config(run_dir)
    if config.get("task") != "lm":
        raise TinytxError(f"{run_dir}: not a language-model run (task {config.get('task')!r})")
    model = build(config["model"]["name"], config["model"]["config"])
    cfg = TrainConfig.from_dict(config["train"])
    if opts.max_steps and opts.max_steps != cfg.max_steps:
        cfg = cfg.replace(max_steps=opts.max_steps)  # train further (the cosine schedule stretches)
    cfg = cfg.replace(progress=opts.progress, device=opts.device if opts.device != "auto" else cfg.device)
    extra = config.get("extra", {})
    run_info = {k: v for k, v in config.items() if k != "train"}
    return _fit(model, cfg, run_dir, run_info, model.config.vocab_size, extra.get("block_size", 128), callbacks,
                resume=True)


def _fit(model, cfg, run_dir, run_info, vocab_size, block_size, callbacks, resume):
    extra = run_info["extra"]
    train = windows(run_dir / extra["train_bin"], block_size, cfg.batch_size, cfg.seed, vocab_size)
    val = windows(run_dir / extra["val_bin"], block_size, cfg.batch_size, cfg.seed + 1, vocab_size)
    trainer = Trainer(model, LanguageModeling(), train, val, cfg, out_dir=run_dir, run_info=run_info,
                      callbacks=callbacks, resume=resume)
    result = trainer.fit()
    result["params"] = sum(p.numel() for p in model.parameters())
    return result


# --- evaluation --------------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate_lm(run_dir: str | Path, data: str | Path | None = None, batch_size: int = 64, device: str = "auto",
                max_windows: int | None = None) -> dict[str, float]:
    """Mean next-token loss and perplexity over consecutive, non-overlapping windows of the run's val split
    (or of `data`, tokenized with the run's tokenizer). Every token of the text is scored once."""
    from .engine.trainer import pick_device
    from .run import load_run

    run = load_run(run_dir, device=device)
    if run.task != "lm":
        raise TinytxError(f"{run_dir}: not a language-model run")
    block = run.extra.get("block_size") or getattr(run.model, "context_size", None) or 128
    if data is None:
        from .data.encode import load_tokens

        ids = torch.from_numpy(load_tokens(Path(run_dir) / run.extra["val_bin"]).astype("int64"))
    else:
        text = _check_text_file(data).read_text(encoding="utf-8", errors="replace")
        ids = torch.tensor(run.tokenizer.encode(text), dtype=torch.long)
    if len(ids) < 2:
        raise TinytxError("not enough text to evaluate (need at least 2 tokens)")
    n = (len(ids) - 1) // block
    if n == 0:  # shorter than a window: one short window
        x, y = ids[None, :-1], ids[None, 1:]
    else:
        x = ids[: n * block].view(n, block)
        y = ids[1 : n * block + 1].view(n, block)
    if max_windows:
        x, y = x[:max_windows], y[:max_windows]
    dev = pick_device(device)
    task = LanguageModeling()
    batches = ({"idx": x[i : i + batch_size].to(dev), "targets": y[i : i + batch_size].to(dev)}
               for i in range(0, len(x), batch_size))
    m = task.evaluate(run.model, batches)
    return {"val_loss": m["loss"], "val_perplexity": math.exp(m["loss"]), "tokens": int(y.numel())}


# --- the demo ----------------------------------------------------------------------------------------------

def repo_data(rel: str) -> Path:
    """A file in the repository's data/ folder (the package is installed editable from the repo)."""
    path = Path(__file__).resolve().parents[1] / rel
    if not path.exists():
        raise TinytxError(f"{path}: not found; run the demo from a tinytx checkout (pip install -e .) or pass --data")
    return path


DEMO = dict(model="gpt", block_size=64, n_layer=4, n_head=4, n_embd=128, batch_size=16, lr=2e-3, warmup=100,
            weight_decay=0.1, dropout=0.0, eval_batches=20)


def demo(out: str = "runs/demo", minutes: float = 2.0, max_steps: int | None = None, data: str | None = None,
         device: str = "auto", progress: bool = True, prompt: str = "ROMEO:", new_tokens: int = 300,
         seed: int = 1337, print_fn=print) -> dict[str, Any]:
    """Train a small char-level GPT on tinyshakespeare for about `minutes` (or `max_steps`) and print a sample."""
    import shutil

    data_path = Path(data) if data else repo_data("data/tinyshakespeare/input.txt")
    run_dir = Path(out)
    if (run_dir / ckpt.CONFIG).exists():
        shutil.rmtree(run_dir)  # the demo always starts fresh
    if max_steps is None:
        max_steps = _demo_steps(minutes, device)
    opts = LMOptions(data=str(data_path), out=str(run_dir), tokenizer="char", max_steps=max_steps,
                     eval_interval=max(1, max_steps // 4), device=device, progress=progress, seed=seed, **DEMO)
    print_fn(f"tinytx demo: char-level GPT ({opts.n_layer} layers, {opts.n_embd} dims, context {opts.block_size}) "
             f"on {data_path.name}, {max_steps} steps -> {run_dir}")
    limit = [TimeLimit(minutes * 60 * 1.5)] if minutes else []
    result = train_lm(opts, callbacks=limit)
    val = result.get("val", {}).get("loss")
    if val is not None:
        print_fn(f"val loss {val:.4f} (perplexity {math.exp(val):.2f}) after {result['step']} steps")
    from .generate import generate_text
    from .run import load_run

    run = load_run(run_dir)
    print_fn(f"\n--- sample (prompt {prompt!r}, temperature 0.8, top-k 40) ---")
    text = generate_text(run, prompt, max_new_tokens=new_tokens, temperature=0.8, top_k=40, seed=seed)
    print_fn(text)
    return {**result, "sample": text, "run": str(run_dir)}


def _demo_steps(minutes: float, device: str) -> int:
    """Steps that fit in `minutes`: time a few steps of the demo model (through the Trainer) and extrapolate."""
    torch.manual_seed(0)
    cfg = {k: DEMO[k] for k in ("block_size", "n_layer", "n_head", "n_embd")}
    model = build("gpt", {"vocab_size": 65, **cfg})
    x = torch.randint(0, 65, (64, DEMO["block_size"]))
    data = {"idx": x, "targets": x}
    tc = TrainConfig(max_steps=4, batch_size=DEMO["batch_size"], progress=False, device=device)
    Trainer(model, LanguageModeling(), data, None, tc).fit()  # warm up
    t0 = time.perf_counter()
    Trainer(model, LanguageModeling(), data, None, tc.replace(max_steps=8)).fit()
    per_step = (time.perf_counter() - t0) / 8
    per_step *= 1.1  # evaluation and checkpoints
    return max(20, int(minutes * 60 / per_step))
