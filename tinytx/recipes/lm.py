"""Language modelling: text file -> tokenizer -> token memmaps in the run -> GPT / RNN / baselines -> next-token loss.

    from tinytx.recipes import train
    from tinytx.options import LMOptions
    train("lm", "runs/shakespeare", LMOptions(data="data/tinyshakespeare/input.txt"))
    tinytx.load_run("runs/shakespeare").generate("ROMEO:", max_new_tokens=100)

The text is tokenized once into RUN/data/{train,val}.bin, so `tinytx eval RUN` and `--resume` need nothing but
the run. `demo()` is the quick start's job: a small char GPT on Shakespeare, sized to a time budget.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data.encode import load_tokens
from ..data.lm import LMWindows, encode_text_file
from ..engine import LanguageModeling, TrainConfig, pick_device
from ..errors import TinytxError
from ..generate import generate_text
from ..models import build
from ..options import LM_MODELS, LMOptions
from ..rundir import (
    CONFIG, TOKENIZER, TRAIN_TOKENS, VAL_TOKENS, WEIGHTS, Run, RunDir, RunMeta, load_model, load_run, require,
)
from ..specials import UNK_ID
from ..tokenizers import load_tokenizer, train_tokenizer
from ..tokenizers.base import check_text_bytes
from .base import Prepared, default_summary, train

TRAINED_KINDS = ("char", "bpe")  # --tokenizer values that train a new tokenizer on the data


def text_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise TinytxError(f"{path}: no such text file")
    if path.stat().st_size == 0:
        raise TinytxError(f"{path}: the file is empty")
    return path


def warn(message: str) -> None:
    print(f"tinytx: warning: {message}", file=sys.stderr)


def unknown_share(tokens: np.ndarray, what: str, unk: int | None = UNK_ID) -> None:
    """A tokenizer that does not cover the text turns it into [UNK]: say how much, never silently. `unk` is the
    tokenizer's own unknown id (an imported byte-level BPE has none: it covers every text)."""
    if len(tokens) and unk is not None:
        share = float(np.count_nonzero(np.asarray(tokens) == unk)) / len(tokens)
        if share > 0:
            warn(f"{share:.1%} of the {what} tokens are [UNK]: the tokenizer does not cover this text")


class LMRecipe:
    task = "lm"
    options = LMOptions

    def __init__(self, demo: bool = False):
        self.demo = demo

    def prepare(self, opts: LMOptions, run: RunDir, fitted: bool) -> Prepared:
        if opts.init_from and not (fitted and run.meta().model):  # a new run (or a torchrun follower of one)
            adopt_shape(opts)
        if opts.model not in LM_MODELS:
            raise TinytxError(f"unknown language model {opts.model!r}; choose one of {', '.join(LM_MODELS)}")
        for name in ("block_size", "n_layer", "n_head", "n_embd", "hidden_size"):
            if getattr(opts, name) < 1:
                raise TinytxError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(opts, name)}")
        if not 0 <= opts.dropout < 1:  # NaN too
            raise TinytxError(f"--dropout must be in [0, 1), got {opts.dropout}")
        if not isinstance(opts.train.batch_size, int):
            raise TinytxError(f"--batch-size must be a number of windows for a language model, got "
                              f"{opts.train.batch_size!r}")
        if opts.train.epochs is not None:
            raise TinytxError("--epochs: a language model trains on random windows, which have no epochs; "
                              "give --max-steps or --minutes")
        if opts.model == "gpt" and opts.n_embd % opts.n_head:
            raise TinytxError(f"--n-embd {opts.n_embd} must be divisible by --n-head {opts.n_head}")
        if not 0 < opts.val_fraction < 1:
            raise TinytxError(f"--val-fraction must be between 0 and 1, got {opts.val_fraction}")
        if fitted:  # the run's own tokenizer and token files
            tokenizer = run.load_tokenizer()
            saved = run.meta().model.get("config", {}).get("block_size")  # none yet for a torchrun follower
            if saved is not None and saved != self.context(opts):  # options and model disagree: an edited file
                raise TinytxError(f"{run / CONFIG}: corrupt run configuration (its options give a context of "
                                  f"{self.context(opts)} tokens, its model {saved})")
        else:
            data = text_file(opts.data)
            if opts.init_from:  # the ids the pretrained weights index
                tokenizer = RunDir(opts.init_from).load_tokenizer()
            elif opts.tokenizer in TRAINED_KINDS:
                # a char LM's vocabulary is the text's own characters: 256 byte-fallback rows it never sees in
                # training would only be probability to unlearn (val loss 3.62 vs 2.78 after 30 steps on the test text)
                extra = {"unknown": "unk"} if opts.tokenizer == "char" else {}
                tokenizer = train_tokenizer(opts.tokenizer, [str(data)], vocab_size=opts.vocab_size, **extra)
            elif Path(opts.tokenizer).is_file():
                tokenizer = load_tokenizer(opts.tokenizer)
            else:
                raise TinytxError(f"--tokenizer must be char, bpe or a tokenizer.json file; {opts.tokenizer!r} is "
                                  "none of these")
            run.save_tokenizer(tokenizer)
            encode_text_file(tokenizer, data, run / TRAIN_TOKENS, run / VAL_TOKENS, val_fraction=opts.val_fraction)
            unknown_share(load_tokens(run / TRAIN_TOKENS), "training", tokenizer.unk_id)
        V, cfg = tokenizer.vocab_size, opts.train
        block = self.context(opts)
        train_data = LMWindows(run / TRAIN_TOKENS, block, cfg.batch_size, cfg.seed, V)
        val_data = LMWindows(run / VAL_TOKENS, block, cfg.batch_size, cfg.seed + 1, V)
        info = {"train_tokens": len(train_data.tokens), "val_tokens": len(val_data.tokens), "demo": self.demo}
        return Prepared(train_data, val_data, info, state={"vocab_size": V})

    @staticmethod
    def context(opts: LMOptions) -> int:
        return min(opts.block_size, 8) if opts.model == "mlp_lm" else opts.block_size

    def build_model(self, opts: LMOptions, prep: Prepared) -> torch.nn.Module:
        """The shared flags mapped onto the chosen model's config fields."""
        V = prep.state["vocab_size"]
        if opts.init_from:
            return pretrained(opts, V)
        if opts.model == "gpt":
            config = dict(vocab_size=V, block_size=opts.block_size, n_layer=opts.n_layer, n_head=opts.n_head,
                          n_embd=opts.n_embd, dropout=opts.dropout, bias=opts.bias, positions=opts.positions)
        elif opts.model in ("rnn", "gru", "lstm"):
            config = dict(vocab_size=V, n_embd=opts.n_embd, hidden_size=opts.hidden_size, n_layer=opts.n_layer,
                          dropout=opts.dropout, block_size=opts.block_size)
        elif opts.model == "mlp_lm":
            config = dict(vocab_size=V, block_size=self.context(opts), n_embd=min(opts.n_embd, 32),
                          hidden_size=opts.hidden_size, dropout=opts.dropout)
        else:
            config = dict(vocab_size=V)
        return build(opts.model, config)

    def objective(self, opts: LMOptions, prep: Prepared) -> LanguageModeling:
        return LanguageModeling()

    def summary(self, opts: LMOptions, result: dict[str, Any], prep: Prepared) -> str:
        line = default_summary(opts, result, shown=("loss",))
        loss = (result.get("val") or {}).get("loss")
        return line + (f"; val perplexity {math.exp(loss):.2f}" if isinstance(loss, float) else "")

    @torch.no_grad()
    def evaluate(self, run: Run, data: str | None = None, batch_size: int = 64, device: str = "auto",
                 max_windows: int | None = None, **_) -> dict[str, Any]:
        """Mean next-token loss and perplexity over consecutive, non-overlapping windows of the run's val split
        (or of `data`, tokenized with the run's tokenizer). Every token of the text is scored once."""
        block = getattr(run.model, "context_size", None) or run.options.block_size
        if data is None:
            if not (run.path / VAL_TOKENS).exists():
                raise TinytxError(f"{run.path}: has no validation split of its own (an imported model); give "
                                  "--data FILE")
            ids = torch.from_numpy(load_tokens(run.path / VAL_TOKENS).astype("int64"))
        else:
            if run.tokenizer is None:
                raise TinytxError(f"{run.path}: has no tokenizer.json, so --data cannot be tokenized")
            raw = text_file(data).read_bytes()
            check_text_bytes(raw, data)
            tokens = run.tokenizer.encode(raw.decode("utf-8"))
            unknown_share(np.asarray(tokens), "evaluation", run.tokenizer.unk_id)
            ids = torch.tensor(tokens, dtype=torch.long)
        if len(ids) < 2:
            raise TinytxError("not enough text to evaluate (need at least 2 tokens)")
        n = (len(ids) - 1) // block
        if n == 0:  # shorter than a window: one short window
            x, y = ids[None, :-1], ids[None, 1:]
        else:
            x, y = ids[: n * block].view(n, block), ids[1 : n * block + 1].view(n, block)
        if max_windows:
            x, y = x[:max_windows], y[:max_windows]
        dev = next(run.model.parameters()).device
        batches = ({"idx": x[i : i + batch_size].to(dev), "targets": y[i : i + batch_size].to(dev)}
                   for i in range(0, len(x), batch_size))
        m = LanguageModeling().evaluate(run.model, batches)
        return {"loss": m["loss"], "perplexity": math.exp(m["loss"]), "tokens": int(y.numel())}


RECIPE = LMRecipe()


# --- --init-from: fine-tuning a run's model -------------------------------------------------------------------

SHAPE = ("model", "block_size", "n_layer", "n_head", "n_embd", "hidden_size", "positions", "bias")


def source_run(path: str) -> RunMeta:
    """The --init-from run: a language-model run with weights."""
    meta = require(path, "lm")
    if not (Path(path) / WEIGHTS).exists() or not meta.model:
        raise TinytxError(f"{path}: has no model yet (the run never reached its first checkpoint); --init-from "
                          "needs a trained or imported run")
    return meta


def adopt_shape(opts: LMOptions) -> None:
    """The new run takes the model shape (and, unless given, the dropout) of the --init-from run, so its saved
    options describe its model. A shape flag set to another value than the source's is refused: the weights
    fit only their own shape. (A flag typed with its default value cannot be told from one left out.)"""
    source, defaults = source_run(opts.init_from).options, LMOptions()
    for name in SHAPE:
        mine, theirs = getattr(opts, name), getattr(source, name)
        if mine != theirs and mine != getattr(defaults, name):
            flag = "--" + name.replace("_", "-")
            raise TinytxError(f"{flag} {mine} differs from {opts.init_from}'s {theirs}: --init-from continues that "
                              f"run's model, whose shape it keeps; leave out {flag}")
        setattr(opts, name, theirs)
    own = str(Path(opts.init_from) / TOKENIZER)
    if opts.tokenizer not in (defaults.tokenizer, own):
        raise TinytxError(f"--tokenizer {opts.tokenizer}: --init-from uses {opts.init_from}'s own tokenizer (the ids "
                          "its weights index); leave out --tokenizer")
    opts.tokenizer, opts.vocab_size = own, source.vocab_size
    if opts.dropout == defaults.dropout:
        opts.dropout = source.dropout


def pretrained(opts: LMOptions, vocab_size: int) -> torch.nn.Module:
    """The --init-from run's model with its weights (the best ones it kept), with this run's dropout."""
    meta = source_run(opts.init_from)
    config = dict(meta.model["config"])
    if "dropout" in config:
        config["dropout"] = opts.dropout
    if config.get("vocab_size", vocab_size) != vocab_size:
        raise TinytxError(f"{opts.init_from}: its tokenizer has {vocab_size} tokens but its model "
                          f"{config['vocab_size']}; the run is inconsistent")
    return load_model(opts.init_from, RunMeta(meta.task, {**meta.model, "config": config}, meta.options))


# --- the demo ----------------------------------------------------------------------------------------------------

def repo_data(rel: str) -> Path:
    """A file in the repository's data/ folder (the package is installed editable from the repo)."""
    path = Path(__file__).resolve().parents[2] / rel
    if not path.exists():
        raise TinytxError(f"{path}: not found; run the demo from a tinytx checkout (pip install -e .) or pass --data")
    return path


def demo_options(data: str, minutes: float | None, max_steps: int | None, device: str, progress: bool,
                 seed: int) -> LMOptions:
    """A 4-layer, 128-dim char GPT with a 64-token context: learns Shakespeare's shape in two CPU minutes."""
    return LMOptions(data=data, model="gpt", tokenizer="char", block_size=64, n_layer=4, n_head=4, n_embd=128,
                     train=TrainConfig(max_steps=max_steps, minutes=None if max_steps else minutes, batch_size=16,
                                       lr=2e-3, betas=(0.9, 0.99), weight_decay=0.1, schedule="cosine",
                                       warmup_steps=100 if not max_steps else min(100, max_steps // 5),
                                       grad_clip=1.0, eval_batches=20, device=device, seed=seed, progress=progress))


def demo(out: str = "runs/demo", minutes: float = 2.0, max_steps: int | None = None, data: str | None = None,
         device: str = "auto", progress: bool = True, prompt: str = "ROMEO:", new_tokens: int = 300,
         seed: int = 1337, print_fn: Callable[[str], None] = print) -> dict[str, Any]:
    """Train a small char-level GPT on tinyshakespeare for about `minutes` (or `max_steps`) and print a sample.

    The demo starts fresh each time, but only ever replaces a demo run of its own: any other non-empty
    directory is refused."""
    run_dir = RunDir(out)
    replace = False
    if run_dir.is_ours() and run_dir.has_checkpoint():  # one killed before its first checkpoint holds no work
        meta: RunMeta = require(out)
        if not (meta.task == "lm" and meta.info.get("demo")):
            raise TinytxError(f"{out}: holds a tinytx run that the demo did not make; choose another --out")
        replace = True
    opts = demo_options(str(data or repo_data("data/tinyshakespeare/input.txt")), minutes, max_steps, device,
                        progress, seed)
    budget = f"{max_steps} steps" if max_steps else f"about {minutes:g} min"
    print_fn(f"tinytx demo: char-level GPT ({opts.n_layer} layers, {opts.n_embd} dims, context {opts.block_size}) "
             f"on {Path(opts.data).name}, {budget} -> {out}")
    result = train(LMRecipe(demo=True), out, opts, replace=replace)
    if result.get("interrupted"):
        return result
    print_fn(result["summary"])
    run = load_run(out, device=str(pick_device(device)))
    print_fn(f"\n--- sample (prompt {prompt!r}, temperature 0.8, top-k 40) ---")
    text = generate_text(run, prompt, max_new_tokens=new_tokens, temperature=0.8, top_k=40, seed=seed)
    print_fn(text)
    return {**result, "sample": text, "run": str(out)}
