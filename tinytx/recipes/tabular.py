"""Tabular learning: CSV -> numeric features (standardised) + encoded target -> linear/logistic/softmax regression,
the perceptron or an MLP -> the one Trainer.

    import tinytx
    from tinytx.recipes.tabular import RECIPE
    tinytx.train("tabular", "runs/line", given={"data": "data/tabular/line.csv", "target": "y", "model": "linear"})
    RECIPE.evaluate(tinytx.load_run("runs/line"), data="data/tabular/line.csv")   # {"mse": ..., "mae": ..., "rows": 40}

The columns, the kind of task, the feature statistics (mean, std) and the label list are saved in the run's
config.json under "info", so evaluation, plotting and --resume apply exactly the same transformation. They are a pure
function of the table and the options (both checked on --resume), so `prepare` computes them the same way on every
rank and on resume; nothing is written besides config.json.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.sources import load_table
from ..engine import BinaryClassification, Callback, Classification, Perceptron, Regression, Task, TrainConfig
from ..errors import TinytxError
from ..io import write_json
from ..models import build
from ..options import ACTIVATIONS, TABULAR_MODELS, TABULAR_TASKS, TabularOptions, parse_names
from ..rundir import CONFUSION, METRICS, STDIN_CSV, Run, RunDir, load_run
from .base import Prepared, default_summary


# --- reading and encoding the table -----------------------------------------------------------------------

def read_table(path: str | os.PathLike) -> tuple[list[str], list[list[str]]]:
    """Header and rows (cells as text) of a table file, read through the data layer (tinytx.data.sources:
    csv / tsv / jsonl, optionally .gz); every problem is reported as one line."""
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
            raise TinytxError(f"{path}: {what} column '{column}' is not numeric (row {i + 1} has {shown}); "
                              f"{hint}") from None
        if not math.isfinite(out[i]):
            raise TinytxError(f"{path}: {what} column '{column}' has a non-finite value at row {i + 1} ({v})")
    return out


def _is_numeric(values: list[str]) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except ValueError:
        return False


def choose_columns(path, header: list[str], target: str, features: list[str] | None) -> tuple[list[str], list[str]]:
    """(feature columns, target columns): the targets named by --target, the features by --features or all others."""
    targets = parse_names(target)
    if isinstance(features, str):  # "a,b" from Python, as on the command line
        features = parse_names(features)
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
    return list(features), targets


def decide_kind(model: str, task: str, targets: list[str], target_values: list[list[str]]) -> str:
    """The Task to train with: regression | binary | perceptron | classification."""
    if task not in TABULAR_TASKS:
        raise TinytxError(f"--task must be one of {', '.join(TABULAR_TASKS)}, got {task!r}")
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


def apply_stats(x: np.ndarray, info: dict) -> torch.Tensor:
    return torch.from_numpy((x - np.asarray(info["mean"])) / np.asarray(info["std"])).float()


def encode(path, header: list[str], rows: list[list[str]], info: dict, need_target: bool = True) -> dict[str, torch.Tensor]:
    """Rows -> {"x": standardised float features, "y": encoded target} with a run's saved transformation."""
    cols = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    for col in info["features"] + (info["targets"] if need_target else []):
        if col not in cols:
            raise TinytxError(f"{path}: no column '{col}' (the run was trained on {', '.join(info['features'])} -> "
                              f"{', '.join(info['targets'])})")
    x = np.stack([_numbers(path, c, cols[c]) for c in info["features"]], axis=1)
    batch = {"x": apply_stats(x, info)}
    if need_target:
        if info["kind"] == "regression":
            y = np.stack([_numbers(path, c, cols[c], "target") for c in info["targets"]], axis=1)
            batch["y"] = torch.from_numpy(y if y.shape[1] > 1 else y[:, 0]).float()
        else:
            index = {label: i for i, label in enumerate(info["labels"])}
            values = cols[info["targets"][0]]
            unknown = sorted(set(values) - set(index))
            if unknown:
                raise TinytxError(f"{path}: target has label(s) the run never saw: {', '.join(unknown[:5])} "
                                  f"(known: {', '.join(info['labels'])})")
            batch["y"] = torch.tensor([index[v] for v in values], dtype=torch.long)
    return batch


def split_rows(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle of row indices; the first round(n * val_fraction) are validation."""
    if not 0 <= val_fraction < 1:
        raise TinytxError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0:
        raise TinytxError(f"--val-fraction {val_fraction} of {n} rows leaves no validation row; use a larger "
                          "fraction or 0")
    if n - n_val < 1:
        raise TinytxError(f"--val-fraction {val_fraction} of {n} rows leaves no training row")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def make_task(kind: str, num_classes: int | None = None) -> Task:
    if kind == "regression":
        return Regression()
    if kind == "binary":
        return BinaryClassification()
    if kind == "perceptron":
        return Perceptron()
    return Classification(num_classes)


def model_config(opts: TabularOptions, info: dict) -> dict[str, Any]:
    n_in = len(info["features"])
    n_out = len(info["targets"]) if info["kind"] == "regression" else len(info["labels"])
    if opts.model == "linear":
        return dict(in_features=n_in, out_features=n_out)
    if opts.model in ("logistic", "perceptron"):
        return dict(in_features=n_in)
    if opts.model == "softmax":
        return dict(in_features=n_in, num_classes=n_out)
    return dict(in_features=n_in, out_features=n_out, hidden_sizes=list(opts.hidden_sizes),
                activation=opts.activation, dropout=opts.dropout)


def sized_config(cfg: TrainConfig, n_train: int) -> TrainConfig:
    """The training settings with the intervals the user left out sized to the table: about 200 log lines per run
    (a smooth loss curve and descent path) and an evaluation (with a checkpoint) every epoch but at most ~50 per run,
    since on a tiny table the checkpoints would cost more than the steps. With a time budget alone (no step count to
    size by) a log line every 10 steps and an evaluation every epoch or 200 steps, whichever is longer."""
    bs = n_train if cfg.batch_size == "full" else cfg.batch_size
    per_epoch = max(1, math.ceil(n_train / bs) // cfg.grad_accum)
    if cfg.max_steps or cfg.epochs:
        steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * math.ceil(n_train / bs) / cfg.grad_accum))
        log_interval, eval_interval = max(1, steps // 200), max(per_epoch, steps // 50)
    else:
        log_interval, eval_interval = 10, max(per_epoch, 200)
    return cfg.replace(log_interval=cfg.log_interval or log_interval, eval_interval=cfg.eval_interval or eval_interval)


def is_line(model: dict[str, Any]) -> bool:
    """A one-feature, one-output linear model ({"name", "config"} as in config.json): two parameters, a line."""
    config = model.get("config", {})
    return model.get("name") == "linear" and config.get("in_features") == 1 and config.get("out_features", 1) == 1


class RecordLine(Callback):
    """For a one-feature, one-output linear model: add (w, b) to each logged record (metrics.jsonl gets
    train_w / train_b), which is the descent path `tinytx plot --cost-surface` draws."""

    def on_step_end(self, trainer, logs):
        if "loss" in logs:
            lin = trainer.raw_model.linear
            logs["w"], logs["b"] = float(lin.weight.detach().reshape(())), float(lin.bias.detach().reshape(()))


@torch.no_grad()
def predict_index(model: torch.nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """Class indices for classification runs (one logit: > 0 means class 1)."""
    out = model(x=x)
    return out.argmax(-1) if kind == "classification" else (out > 0).long()


def confusion(model, info: dict, batch: dict[str, torch.Tensor]) -> list[list[int]]:
    """Counts of (truth, prediction) pairs: rows are the true labels, columns the predicted ones."""
    k = len(info["labels"])
    was = model.training
    model.eval()
    pred = predict_index(model, info["kind"], batch["x"]).cpu()
    model.train(was)
    return torch.bincount(batch["y"].cpu() * k + pred, minlength=k * k).view(k, k).tolist()


# --- the recipe ----------------------------------------------------------------------------------------------

class TabularRecipe:
    task = "tabular"
    options = TabularOptions
    stdin_copy = STDIN_CSV  # `--data -` is a CSV table

    def prepare(self, opts: TabularOptions, run: RunDir, fitted: bool) -> Prepared:
        """Read, check and encode the table. Its transformation is recomputed from the table and the options even
        when `fitted` (the same bytes and options give the same numbers), so there is nothing to load."""
        if opts.model not in TABULAR_MODELS:
            raise TinytxError(f"unknown tabular model {opts.model!r}; choose one of {', '.join(TABULAR_MODELS)}")
        if opts.restarts < 1:
            raise TinytxError(f"--restarts must be >= 1, got {opts.restarts}")
        if isinstance(opts.train.batch_size, str) and opts.train.batch_size != "full":
            raise TinytxError(f"--batch-size {opts.train.batch_size} is for token recipes (seq2seq); give a number "
                              "of rows per step or 'full'")
        if not 0 <= opts.dropout < 1:
            raise TinytxError(f"--dropout must be in [0, 1), got {opts.dropout}")
        if opts.model == "mlp" and (not opts.hidden_sizes or any(h < 1 for h in opts.hidden_sizes)):
            raise TinytxError(f"--hidden-sizes must list positive layer sizes, got {opts.hidden_sizes}")
        if opts.activation not in ACTIVATIONS:
            raise TinytxError(f"--activation must be one of {', '.join(ACTIVATIONS)}, got {opts.activation!r}")

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
        else:
            labels = label_list(cols[targets[0]])
            if len(labels) < 2:
                raise TinytxError(f"{path}: target '{targets[0]}' has one value only ({labels[0]}); "
                                  "nothing to classify")
            if kind in ("binary", "perceptron") and len(labels) != 2:
                raise TinytxError(f"{opts.model} needs exactly 2 classes, target '{targets[0]}' has {len(labels)} "
                                  f"({', '.join(labels[:6])}); use softmax or mlp")

        train_idx, val_idx = split_rows(len(rows), opts.val_fraction, opts.train.seed)
        if opts.restarts > 1 and len(val_idx) == 0:
            raise TinytxError("--restarts needs validation rows to pick the best run; set --val-fraction > 0")
        mean, std = standardise_stats(x_all[train_idx], opts.standardize)
        info = {"features": features, "targets": targets, "kind": kind, "labels": labels, "mean": mean, "std": std,
                "train_rows": len(train_idx), "val_rows": len(val_idx)}
        batch = encode(path, header, rows, info)
        train = {k: v[torch.from_numpy(train_idx)] for k, v in batch.items()}
        val = {k: v[torch.from_numpy(val_idx)] for k, v in batch.items()} if len(val_idx) else None
        model = {"name": opts.model, "config": model_config(opts, info)}
        line = is_line(model)
        return Prepared(train, val, info, config=sized_config(opts.train, len(train_idx)),
                        state={"described": model, "line": line},
                        callbacks=[RecordLine()] if line else [])  # the descent path, for plot --cost-surface

    def build_model(self, opts: TabularOptions, prep: Prepared) -> torch.nn.Module:
        """The chosen model, sized to the table. A line's first initial weights go into `info` ("init"): where the
        descent path starts."""
        try:
            model = build(opts.model, prep.state["described"]["config"])
        except ValueError as e:
            raise TinytxError(f"cannot build {opts.model}: {e}") from None
        if prep.state["line"] and "init" not in prep.info:
            prep.info["init"] = [float(model.weight.detach().reshape(())), float(model.bias.detach().reshape(()))]
        return model

    def objective(self, opts: TabularOptions, prep: Prepared) -> Task:
        labels = prep.info["labels"]
        return make_task(prep.info["kind"], len(labels) if labels else None)

    def finish(self, run: RunDir, model: torch.nn.Module, prep: Prepared) -> None:
        """A classifier's confusion matrix on the validation rows (the training rows without validation); a line's
        fit in the table's units, for the summary."""
        model = prep.state.get("model", model)  # random restarts: the kept one (base._restarts)
        if prep.state["line"]:
            prep.state["fit"] = line_in_original_units(model, prep.info)
        if prep.info["kind"] == "regression":
            return
        split, data = ("val", prep.val) if prep.val is not None else ("train", prep.train)
        device = next(model.parameters()).device
        matrix = confusion(model, prep.info, {k: v.to(device) for k, v in data.items()})
        write_json(run / CONFUSION, {"labels": prep.info["labels"], "matrix": matrix, "split": split,
                                     "rows": "truth", "columns": "prediction"})

    def summary(self, opts: TabularOptions, result: dict[str, Any], prep: Prepared) -> str:
        """The report line; for a line also its equation in the table's units (y = w * x + b)."""
        shown = ("loss", "mse", "accuracy", "macro_f1")
        if result.get("restarts"):
            line = f"trained {len(result['restarts'])} restarts of {opts.model}, kept the best"
            val = {k: v for k, v in (result.get("val") or {}).items() if k in shown and isinstance(v, float)}
            if val:
                line += " (val " + ", ".join(f"{k} {v:.4f}" for k, v in val.items()) + ")"
        else:
            line = default_summary(opts, result, shown=shown)
        if "fit" in prep.state:
            w, b = prep.state["fit"]
            line += f"\n{prep.info['targets'][0]} = {w:.4f} * {prep.info['features'][0]} + {b:.4f}"
        return line

    @torch.no_grad()
    def evaluate(self, run: Run, data: str | None = None, batch_size: int = 64, device: str = "auto",
                 **_) -> dict[str, Any]:
        """mse/mae for regression runs; accuracy, loss (and macro_f1 for softmax/mlp) for classifiers; on a table
        with the run's columns."""
        if not data:
            raise TinytxError("--data is required to evaluate a tabular run (a table with the run's columns)")
        if batch_size < 1:
            raise TinytxError(f"--batch-size must be >= 1, got {batch_size}")
        info = run.info
        header, rows = read_table(data)
        batch = encode(data, header, rows, info)
        dev = next(run.model.parameters()).device
        n = len(batch["x"])
        batches = ({k: v[i : i + batch_size].to(dev) for k, v in batch.items()} for i in range(0, n, batch_size))
        labels = info.get("labels")
        m = make_task(info["kind"], len(labels) if labels else None).evaluate(run.model.eval(), batches)
        if info["kind"] == "regression":
            return {"mse": m["mse"], "mae": m["mae"], "rows": n}
        out = {"accuracy": m["accuracy"], "loss": m["loss"], "rows": n}
        if "macro_f1" in m:
            out["macro_f1"] = m["macro_f1"]
        return out


RECIPE = TabularRecipe()


# --- using a trained line ----------------------------------------------------------------------------------------

def line_in_original_units(model, info: dict) -> tuple[float, float]:
    """For one-feature linear regression: (slope, intercept) of y = slope * x + intercept in the table's units."""
    w, b = float(model.weight.detach().reshape(())), float(model.bias.detach().reshape(()))
    (mean,), (std,) = info["mean"], info["std"]
    return w / std, b - w * mean / std


def cost_surface(run_dir: str | os.PathLike, data: str | os.PathLike | None = None, grid: int = 80):
    """The MSE over a grid of (w, b) around the descent path of a one-feature linear run.

    Returns (W, B, Z, path) with path an (n, 2) array of (w, b) from the initial weights to the last logged step,
    all in the model's own (standardised-feature) coordinates, which is where gradient descent moved. `data`
    defaults to the run's training table.
    """
    run = load_run(run_dir, task="tabular")
    if not is_line(run.meta.model):
        raise TinytxError("--cost-surface needs a linear run with one feature and one target (2 parameters)")
    info = run.info
    points = [info["init"]] if "init" in info else []
    metrics = Path(run_dir) / METRICS
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            rec = json.loads(line) if line.strip() else {}
            if "train_w" in rec:
                points.append([rec["train_w"], rec["train_b"]])
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    data = data or run.options.data
    header, rows = read_table(data)
    batch = encode(data, header, rows, info)
    x, y = batch["x"][:, 0].double().numpy(), batch["y"].double().numpy()
    w_end, b_end = line_in_original_units(run.model, {"mean": [0.0], "std": [1.0]})
    pts = np.vstack([points, [[w_end, b_end]]])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = np.maximum((hi - lo) * 0.25, 1.0)
    W, B = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid),
                       np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid))
    # mean over rows of (w x + b - y)^2, for every grid point at once
    Z = ((W[..., None] * x + B[..., None] - y) ** 2).mean(axis=-1)
    return W, B, Z, points
