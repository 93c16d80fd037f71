"""Tabular learning end to end: CSV -> numeric features (standardised) + encoded target -> model -> the one Trainer.

    from tinytx.tabular import TabularOptions, train_tabular, evaluate_tabular
    train_tabular(TabularOptions(data="data/tabular/line.csv", target="y", model="linear", out="runs/line"))
    evaluate_tabular("runs/line", "data/tabular/line.csv")   # {"mse": ..., "mae": ..., "rows": 40}

Feature statistics (mean, std), the label list and the split are saved in the run's config.json under "extra",
so evaluation, prediction, plotting and --resume apply exactly the same transformation. Everything is checked
before the run directory is created: a bad table or flag leaves nothing behind.
The CLI (`tinytx train tabular`, `tinytx eval`, `tinytx plot`) calls these functions and nothing more.
"""
from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .engine import TrainConfig, Trainer, best_of_restarts, seed_everything
from .engine import checkpoint as ckpt
from .engine.callbacks import Callback
from .engine.tasks import BinaryClassification, Classification, Perceptron, Regression, Task
from .engine.trainer import pick_device
from .errors import TinytxError
from .io import write_json
from .models import build, registry

MODELS = ("linear", "logistic", "softmax", "perceptron", "mlp")
CONFUSION = "confusion_matrix.json"

# per-model defaults for the recipe flags the user leaves out (the classic course's choices)
DEFAULTS: dict[str, dict[str, Any]] = {
    "linear": dict(optimizer="sgd", lr=0.1, batch_size=32, epochs=100),
    "logistic": dict(optimizer="sgd", lr=0.1, batch_size=32, epochs=200),
    "softmax": dict(optimizer="sgd", lr=0.1, batch_size=32, epochs=100),
    "perceptron": dict(optimizer="sgd", lr=1.0, batch_size=1, epochs=20),  # Rosenblatt's rule
    "mlp": dict(optimizer="adam", lr=0.01, batch_size=32, epochs=200),
}


@dataclass
class TabularOptions:
    """Everything `tinytx train tabular` accepts. None means "the model's default" (see DEFAULTS)."""

    data: str
    target: str  # one column, or several comma-separated (multi-output linear regression / mlp regression)
    out: str | None = None
    model: str = "linear"
    features: list[str] | None = None  # default: every column but the target(s)
    task: str = "auto"  # auto | regression | classification
    standardize: bool = True
    val_split: float = 0.2
    # model shape (mlp)
    hidden_sizes: list[int] = field(default_factory=lambda: [32])
    activation: str = "relu"
    dropout: float = 0.0
    # recipe
    batch_size: int | str | None = None  # "full" = batch GD, 1 = SGD, n = mini-batch
    grad_accum: int = 1
    epochs: float | None = None
    max_steps: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    decay_rate: float = 0.5
    decay_steps: int = 1000
    warmup_steps: int = 0
    min_lr: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    grad_clip: float = 0.0
    patience: int | None = None  # early stopping, in evaluations
    eval_interval: int | None = None  # default: once per epoch
    log_interval: int | None = None  # default: about 200 log lines per run
    checkpoint_interval: int | None = None
    restarts: int = 1  # > 1: random restart, keep the seed with the best validation loss
    seed: int = 1337
    device: str = "auto"
    progress: bool = True
    resume: bool = False


# --- reading and encoding the table -----------------------------------------------------------------------

def read_table(path: str | os.PathLike) -> tuple[list[str], list[list[str]]]:
    """Header and rows (cells as text) of a table file, read through the data layer (tinytx.data.sources:
    csv / tsv / jsonl, optionally .gz); every problem is reported as one line."""
    from .data.sources import load_table

    if not Path(path).is_file():
        raise TinytxError(f"{path}: no such file")
    logging.disable(logging.ERROR)  # a parse error is our one-line message, not also a library log line
    try:
        columns = load_table(path)
    except TinytxError as e:
        raise TinytxError(_ragged_line(path) or str(e)) from None
    finally:
        logging.disable(logging.NOTSET)
    header = list(columns)
    n = len(next(iter(columns.values()), []))
    if n == 0:
        raise TinytxError(f"{path}: has a header but no rows")
    cell = lambda v: "" if v is None else (repr(v) if isinstance(v, float) else str(v)).strip()
    return header, [[cell(columns[h][i]) for h in header] for i in range(n)]


def _ragged_line(path) -> str | None:
    """For a plain CSV that failed to parse: name the first line whose field count differs from the header's."""
    if Path(path).suffix.lower() != ".csv":
        return None
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            for i, row in enumerate(reader, start=2):
                if row and len(row) != len(header):
                    return f"{path}: line {i} has {len(row)} fields, the header has {len(header)}"
    except (UnicodeDecodeError, csv.Error):
        return None
    return None


def _numbers(path, column: str, values: list[str], what: str = "feature") -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except ValueError:
            shown = f"'{v}'" if v else "an empty cell"
            hint = ("tabular features must be numbers (choose columns with --features)" if what == "feature" else
                    "a regression target must be numbers (to classify, use logistic, softmax or mlp)")
            raise TinytxError(f"{path}: {what} column '{column}' is not numeric (row {i + 1} has {shown}); {hint}") from None
        if not math.isfinite(out[i]):
            raise TinytxError(f"{path}: {what} column '{column}' has a non-finite value at row {i + 1} ({v})")
    return out


def _is_numeric(values: list[str]) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except ValueError:
        return False


def choose_columns(path, header: list[str], target: str, features: list[str] | None) -> tuple[list[str], list[str]]:
    targets = [t.strip() for t in target.split(",") if t.strip()]
    if not targets:
        raise TinytxError("--target names no column")
    for col in targets + list(features or []):
        if col not in header:
            raise TinytxError(f"{path}: no column '{col}'; the columns are {', '.join(header)}")
    if features is None:
        features = [h for h in header if h not in targets]
    overlap = set(features) & set(targets)
    if overlap:
        raise TinytxError(f"column(s) {', '.join(sorted(overlap))} cannot be both feature and target")
    if not features:
        raise TinytxError(f"{path}: no feature columns left besides the target")
    return features, targets


def decide_kind(model: str, task: str, targets: list[str], target_values: list[list[str]]) -> str:
    """The Task to train with: regression | binary | perceptron | classification."""
    if task not in ("auto", "regression", "classification"):
        raise TinytxError(f"--task must be auto, regression or classification, got {task!r}")
    if model == "linear":
        if task == "classification":
            raise TinytxError("linear regression predicts numbers; use logistic, softmax or mlp to classify")
        return "regression"
    if model in ("logistic", "perceptron", "softmax"):
        if task == "regression":
            raise TinytxError(f"{model} is a classifier; use linear or mlp for regression")
        if len(targets) > 1:
            raise TinytxError(f"{model} takes one target column, got {len(targets)}")
        return {"logistic": "binary", "perceptron": "perceptron", "softmax": "classification"}[model]
    # mlp: regression for numbers, classification for labels, unless told
    if task == "auto":
        vals = target_values[0]
        numeric = all(_is_numeric(v) for v in target_values)
        few_ints = numeric and len(targets) == 1 and all(float(v).is_integer() for v in vals) and len(set(vals)) <= 10
        task = "regression" if numeric and not few_ints else "classification"
    if task == "classification" and len(targets) > 1:
        raise TinytxError(f"classification takes one target column, got {len(targets)}")
    return "regression" if task == "regression" else "classification"


def label_list(values: list[str]) -> list[str]:
    """Sorted distinct labels (numerically when they are numbers): index i <-> labels[i]."""
    distinct = set(values)
    if _is_numeric(list(distinct)):
        return sorted(distinct, key=float)
    return sorted(distinct)


def standardise_stats(x: np.ndarray, on: bool) -> tuple[list[float], list[float]]:
    """Per-column mean and std of the training rows (std 0 -> 1, so a constant column stays 0)."""
    if not on:
        return [0.0] * x.shape[1], [1.0] * x.shape[1]
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    return [float(m) for m in mean], [float(s) for s in std]


def apply_stats(x: np.ndarray, extra: dict) -> torch.Tensor:
    return torch.from_numpy((x - np.asarray(extra["mean"])) / np.asarray(extra["std"])).float()


def encode(path, header: list[str], rows: list[list[str]], extra: dict, need_target: bool = True) -> dict[str, torch.Tensor]:
    """Rows -> {"x": standardised float features, "y": encoded target} with a run's saved transformation."""
    cols = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    for col in extra["features"] + (extra["targets"] if need_target else []):
        if col not in cols:
            raise TinytxError(f"{path}: no column '{col}' (the run was trained on {', '.join(extra['features'])} -> "
                              f"{', '.join(extra['targets'])})")
    x = np.stack([_numbers(path, c, cols[c]) for c in extra["features"]], axis=1)
    batch = {"x": apply_stats(x, extra)}
    if need_target:
        if extra["kind"] == "regression":
            y = np.stack([_numbers(path, c, cols[c], "target") for c in extra["targets"]], axis=1)
            batch["y"] = torch.from_numpy(y if y.shape[1] > 1 else y[:, 0]).float()
        else:
            index = {label: i for i, label in enumerate(extra["labels"])}
            values = cols[extra["targets"][0]]
            unknown = sorted(set(values) - set(index))
            if unknown:
                raise TinytxError(f"{path}: target has label(s) the run never saw: {', '.join(unknown[:5])} "
                                  f"(known: {', '.join(extra['labels'])})")
            batch["y"] = torch.tensor([index[v] for v in values], dtype=torch.long)
    return batch


def split_rows(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle of row indices; the first round(n * val_split) are validation."""
    if not 0 <= val_split < 1:
        raise TinytxError(f"--val-split must be in [0, 1), got {val_split}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_split))
    if val_split > 0 and n_val == 0:
        raise TinytxError(f"--val-split {val_split} of {n} rows leaves no validation row; use a larger split or 0")
    if n - n_val < 1:
        raise TinytxError(f"--val-split {val_split} of {n} rows leaves no training row")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def make_task(kind: str, num_classes: int | None = None) -> Task:
    if kind == "regression":
        return Regression()
    if kind == "binary":
        return BinaryClassification()
    if kind == "perceptron":
        return Perceptron()
    return Classification(num_classes)


def model_config(opts: TabularOptions, n_in: int, n_out: int, kind: str) -> dict[str, Any]:
    if opts.model == "linear":
        return dict(in_features=n_in, out_features=n_out)
    if opts.model in ("logistic", "perceptron"):
        return dict(in_features=n_in)
    if opts.model == "softmax":
        return dict(in_features=n_in, num_classes=n_out)
    return dict(in_features=n_in, out_features=n_out, hidden_sizes=list(opts.hidden_sizes),
                activation=opts.activation, dropout=opts.dropout)


# --- preparing a run (all checks happen here, before anything is written) ----------------------------------

@dataclass
class Prepared:
    train: dict[str, torch.Tensor]
    val: dict[str, torch.Tensor] | None
    model_name: str
    model_config: dict[str, Any]
    task: Task
    config: TrainConfig
    extra: dict[str, Any]


def _train_config(opts: TabularOptions, n_train: int) -> TrainConfig:
    d = DEFAULTS[opts.model]
    batch_size = d["batch_size"] if opts.batch_size is None else opts.batch_size
    epochs = opts.epochs if opts.epochs is not None or opts.max_steps is not None else d["epochs"]
    cfg = TrainConfig(
        max_steps=opts.max_steps, epochs=epochs, batch_size=batch_size, grad_accum=opts.grad_accum,
        optimizer=opts.optimizer or d["optimizer"], lr=d["lr"] if opts.lr is None else opts.lr,
        momentum=opts.momentum, nesterov=opts.nesterov, weight_decay=opts.weight_decay, schedule=opts.schedule,
        warmup_steps=opts.warmup_steps, decay_rate=opts.decay_rate, decay_steps=opts.decay_steps,
        min_lr=opts.min_lr, l1=opts.l1, l2=opts.l2, grad_clip=opts.grad_clip, eval_interval=opts.eval_interval,
        early_stopping_patience=opts.patience, checkpoint_interval=opts.checkpoint_interval,
        device=opts.device, seed=opts.seed, progress=opts.progress, log_interval=1,
    )
    # about 200 log lines per run (a smooth loss curve and descent path) and, by default, an evaluation (with
    # a checkpoint) every epoch but at most ~50 per run: on a tiny table the checkpoints would cost more than the steps
    bs = n_train if cfg.batch_size == "full" else cfg.batch_size
    per_epoch = max(1, math.ceil(n_train / bs) // cfg.grad_accum)
    steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * math.ceil(n_train / bs) / cfg.grad_accum))
    eval_interval = opts.eval_interval or max(per_epoch, steps // 50)
    return cfg.replace(log_interval=opts.log_interval or max(1, steps // 200), eval_interval=eval_interval)


def prepare(opts: TabularOptions) -> Prepared:
    """Read, check and encode the table and build every object training needs; writes nothing."""
    if opts.model not in MODELS:
        raise TinytxError(f"unknown tabular model {opts.model!r}; choose one of {', '.join(MODELS)}")
    if opts.restarts < 1:
        raise TinytxError(f"--restarts must be >= 1, got {opts.restarts}")
    if not 0 <= opts.dropout < 1:
        raise TinytxError(f"--dropout must be in [0, 1), got {opts.dropout}")
    if opts.model == "mlp" and (not opts.hidden_sizes or any(h < 1 for h in opts.hidden_sizes)):
        raise TinytxError(f"--hidden must list positive layer sizes, got {opts.hidden_sizes}")
    from .models.mlp import ACTIVATIONS

    if opts.activation not in ACTIVATIONS:
        raise TinytxError(f"--activation must be one of {', '.join(ACTIVATIONS)}, got {opts.activation!r}")
    pick_device(opts.device)  # unknown or missing device: fail now

    path = opts.data
    header, rows = read_table(path)
    features, targets = choose_columns(path, header, opts.target, opts.features)
    cols = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    kind = decide_kind(opts.model, opts.task, targets, [cols[t] for t in targets])
    x_all = np.stack([_numbers(path, c, cols[c]) for c in features], axis=1)

    labels = None
    if kind == "regression":
        for t in targets:
            _numbers(path, t, cols[t], "target")
        n_out = len(targets)
    else:
        labels = label_list(cols[targets[0]])
        if len(labels) < 2:
            raise TinytxError(f"{path}: target '{targets[0]}' has one value only ({labels[0]}); nothing to classify")
        if kind in ("binary", "perceptron") and len(labels) != 2:
            raise TinytxError(f"{opts.model} needs exactly 2 classes, target '{targets[0]}' has {len(labels)} "
                              f"({', '.join(labels[:6])}); use softmax or mlp")
        n_out = 1 if kind in ("binary", "perceptron") else len(labels)

    train_idx, val_idx = split_rows(len(rows), opts.val_split, opts.seed)
    if opts.restarts > 1 and len(val_idx) == 0:
        raise TinytxError("--restarts needs validation rows to pick the best run; set --val-split > 0")
    mean, std = standardise_stats(x_all[train_idx], opts.standardize)
    extra = {
        "data": str(path), "features": features, "targets": targets, "kind": kind, "labels": labels,
        "mean": mean, "std": std, "standardize": opts.standardize, "val_split": opts.val_split,
        "split_seed": opts.seed, "train_rows": len(train_idx), "val_rows": len(val_idx),
    }
    train, val = _split_tensors(path, header, rows, extra, train_idx, val_idx)
    config = _train_config(opts, len(train_idx))
    mcfg = model_config(opts, len(features), n_out, kind)
    try:
        build(opts.model, mcfg)  # a model that cannot be built fails here, not after the run dir exists
    except ValueError as e:
        raise TinytxError(f"cannot build {opts.model}: {e}") from None
    return Prepared(train, val, opts.model, mcfg, make_task(kind, len(labels) if labels else None), config, extra)


def _split_tensors(path, header, rows, extra, train_idx, val_idx):
    batch = encode(path, header, rows, extra)
    train = {k: v[torch.from_numpy(train_idx)] for k, v in batch.items()}
    val = {k: v[torch.from_numpy(val_idx)] for k, v in batch.items()} if len(val_idx) else None
    return train, val


# --- training ----------------------------------------------------------------------------------------------

class RecordLine(Callback):
    """For a one-feature, one-output linear model: add (w, b) to each logged record (metrics.jsonl gets
    train_w / train_b), which is the descent path `tinytx plot --cost-surface` draws."""

    def on_step_end(self, trainer, logs):
        if "loss" in logs:
            lin = trainer.raw_model.linear
            logs["w"], logs["b"] = float(lin.weight.detach().reshape(())), float(lin.bias.detach().reshape(()))


def _is_line(model_name: str, model_config: dict) -> bool:
    return model_name == "linear" and model_config["in_features"] == 1 and model_config["out_features"] == 1


def train_tabular(opts: TabularOptions, callbacks=()) -> dict[str, Any]:
    """Train (or with opts.resume continue) a tabular model into opts.out; returns the Trainer's result."""
    if not opts.out:
        raise TinytxError("give a run directory (--out)")
    run_dir = Path(opts.out)
    if opts.resume:
        return _resume(opts, run_dir, callbacks)
    if run_dir.exists() and not run_dir.is_dir():
        raise TinytxError(f"{run_dir}: exists and is not a directory")
    if (run_dir / ckpt.CONFIG).exists():
        raise TinytxError(f"{run_dir}: already holds a run; continue it with --resume or choose another --out")
    p = prepare(opts)
    seed_everything(p.config.seed)  # the initial weights come from the seed
    model = build(p.model_name, p.model_config)
    if _is_line(p.model_name, p.model_config):
        p.extra["init"] = [float(model.weight.detach().reshape(())), float(model.bias.detach().reshape(()))]
        callbacks = [RecordLine(), *callbacks]
    run_info = {"task": "tabular", "model": registry.describe(model), "extra": p.extra}
    if opts.restarts > 1:
        return _restarts(p, run_dir, run_info, opts.restarts)
    return _fit(model, p, run_dir, run_info, callbacks, resume=False)


def _resume(opts: TabularOptions, run_dir: Path, callbacks) -> dict[str, Any]:
    config = ckpt.load_config(run_dir)
    if config.get("task") != "tabular":
        raise TinytxError(f"{run_dir}: not a tabular run (task {config.get('task')!r})")
    extra = config["extra"]
    path = opts.data or extra["data"]
    header, rows = read_table(path)
    train_idx, val_idx = split_rows(len(rows), extra["val_split"], extra["split_seed"])
    if len(train_idx) != extra["train_rows"]:
        raise TinytxError(f"{path}: has {len(rows)} rows, not the table this run was trained on")
    train, val = _split_tensors(path, header, rows, extra, train_idx, val_idx)
    cfg = TrainConfig.from_dict(config["train"])
    more = {k: v for k, v in (("max_steps", opts.max_steps), ("epochs", opts.epochs)) if v is not None}
    cfg = cfg.replace(progress=opts.progress, device=opts.device if opts.device != "auto" else cfg.device, **more)
    model = build(config["model"]["name"], config["model"]["config"])
    if _is_line(config["model"]["name"], config["model"]["config"]):
        callbacks = [RecordLine(), *callbacks]
    labels = extra.get("labels")
    p = Prepared(train, val, config["model"]["name"], config["model"]["config"],
                 make_task(extra["kind"], len(labels) if labels else None), cfg, extra)
    run_info = {k: v for k, v in config.items() if k != "train"}
    return _fit(model, p, run_dir, run_info, callbacks, resume=True)


def _fit(model, p: Prepared, run_dir: Path, run_info, callbacks, resume: bool) -> dict[str, Any]:
    trainer = Trainer(model, p.task, p.train, p.val, p.config, out_dir=run_dir, run_info=run_info,
                      callbacks=callbacks, resume=resume)
    result = trainer.fit()
    result["interrupted"] = trainer.interrupted
    if trainer.dist.is_main and not trainer.interrupted:
        _write_confusion(trainer.raw_model, p, run_dir, trainer.device)
    return result


def _restarts(p: Prepared, run_dir: Path, run_info, restarts: int) -> dict[str, Any]:
    """Random restart through the engine: k seeds, keep the best on validation loss; save it as the run."""
    model, results = best_of_restarts(lambda: build(p.model_name, p.model_config), p.task, p.train, p.val,
                                      p.config, restarts)
    best = min(results, key=lambda r: r["loss"])
    if int(os.environ.get("RANK", "0")) == 0:
        run_info["extra"]["restarts"] = results
        ckpt.save_config(run_dir, {**run_info, "train": p.config.replace(seed=best["seed"]).to_dict()})
        ckpt.save_weights(model, run_dir / ckpt.WEIGHTS)
        _write_confusion(model, p, run_dir, next(model.parameters()).device)
    return {"step": None, "stopped": None, "val": {k: v for k, v in best.items() if k != "seed"},
            "restarts": results, "interrupted": False}


@torch.no_grad()
def predict_index(model: torch.nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """Class indices for classification runs (one logit: > 0 means class 1)."""
    out = model(x=x)
    return out.argmax(-1) if kind == "classification" else (out > 0).long()


def confusion(model, extra: dict, batch: dict[str, torch.Tensor]) -> list[list[int]]:
    k = len(extra["labels"])
    was = model.training
    model.eval()
    pred = predict_index(model, extra["kind"], batch["x"]).cpu()
    model.train(was)
    return torch.bincount(batch["y"].cpu() * k + pred, minlength=k * k).view(k, k).tolist()


def _write_confusion(model, p: Prepared, run_dir: Path, device) -> None:
    if p.extra["kind"] == "regression":
        return
    split, data = ("val", p.val) if p.val is not None else ("train", p.train)
    batch = {k: v.to(device) for k, v in data.items()}
    write_json(run_dir / CONFUSION, {"labels": p.extra["labels"], "matrix": confusion(model, p.extra, batch),
                                     "split": split, "rows": "truth", "columns": "prediction"})


# --- using a trained run -----------------------------------------------------------------------------------

def load_tabular(run_dir: str | os.PathLike, device: str = "cpu"):
    from .run import load_run

    run = load_run(run_dir, device=device)
    if run.task != "tabular":
        raise TinytxError(f"{run_dir}: not a tabular run (task {run.task!r})")
    return run


@torch.no_grad()
def evaluate_tabular(run_dir: str | os.PathLike, data: str | os.PathLike, device: str = "auto",
                     batch_size: int = 1024) -> dict[str, Any]:
    """mse/mae for regression runs, accuracy (+ loss) for classifiers, on a CSV with the run's columns."""
    if batch_size < 1:
        raise TinytxError(f"--batch-size must be >= 1, got {batch_size}")
    run = load_tabular(run_dir, device)
    extra = run.extra
    header, rows = read_table(data)
    batch = encode(data, header, rows, extra)
    dev = pick_device(device)
    labels = extra.get("labels")
    task = make_task(extra["kind"], len(labels) if labels else None)
    n = len(batch["x"])
    batches = ({k: v[i : i + batch_size].to(dev) for k, v in batch.items()} for i in range(0, n, batch_size))
    m = task.evaluate(run.model, batches)
    if extra["kind"] == "regression":
        return {"mse": m["mse"], "mae": m["mae"], "rows": n}
    out = {"accuracy": m["accuracy"], "loss": m["loss"], "rows": n}
    if "macro_f1" in m:
        out["macro_f1"] = m["macro_f1"]
    return out


def line_in_original_units(model, extra: dict) -> tuple[float, float]:
    """For one-feature linear regression: (slope, intercept) of y = slope * x + intercept in the table's units."""
    w, b = float(model.weight.detach().reshape(())), float(model.bias.detach().reshape(()))
    (mean,), (std,) = extra["mean"], extra["std"]
    return w / std, b - w * mean / std


def cost_surface(run_dir: str | os.PathLike, data: str | os.PathLike | None = None, grid: int = 80):
    """The MSE over a grid of (w, b) around the descent path of a one-feature linear run.

    Returns (W, B, Z, path) with path an (n, 2) array of (w, b) from the initial weights to the last logged step,
    all in the model's own (standardised-feature) coordinates, which is where gradient descent moved.
    """
    import json

    run = load_tabular(run_dir)
    cfg = run.config["model"]
    if not _is_line(cfg["name"], cfg["config"]):
        raise TinytxError("--cost-surface needs a linear run with one feature and one target (2 parameters)")
    extra = run.extra
    path = Path(run_dir) / ckpt.METRICS
    points = [extra["init"]] if "init" in extra else []
    if path.exists():
        for line in path.read_text().splitlines():
            rec = json.loads(line) if line.strip() else {}
            if "train_w" in rec:
                points.append([rec["train_w"], rec["train_b"]])
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    header, rows = read_table(data or extra["data"])
    batch = encode(data or extra["data"], header, rows, extra)
    x, y = batch["x"][:, 0].double().numpy(), batch["y"].double().numpy()
    w_end, b_end = line_in_original_units(run.model, {"mean": [0.0], "std": [1.0]})
    pts = np.vstack([points, [[w_end, b_end]]])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = np.maximum((hi - lo) * 0.25, 1.0)
    W, B = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid), np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid))
    # mean over rows of (w x + b - y)^2, for every grid point at once
    Z = ((W[..., None] * x + B[..., None] - y) ** 2).mean(axis=-1)
    return W, B, Z, points
