"""`tinytx plot RUN -o loss.png`: loss curves, the cost surface of a 2-parameter linear run, or a confusion matrix.

matplotlib is an optional extra (`pip install 'tinytx[plot]'`); without it the command says so in one line.
The drawing functions are importable: plot_losses, plot_cost_surface, plot_confusion (each returns the Figure).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import TinytxError

FORMATS = ("png", "pdf", "svg", "jpg", "jpeg")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no window
        import matplotlib.pyplot as plt
    except ImportError:
        raise TinytxError("plotting needs matplotlib: pip install 'tinytx[plot]'") from None
    return plt


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not Path(run_dir).is_dir():
        raise TinytxError(f"{run_dir}: no such run directory")
    if not path.exists():
        raise TinytxError(f"{path}: not found; the run logged no metrics (runs trained with --restarts do not)")
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise TinytxError(f"{path}: line {i} is not JSON") from None
    return records


def plot_losses(run_dir: str | Path):
    """Train loss (per log interval) and validation loss (per evaluation) against the step."""
    records = read_metrics(run_dir)
    train = [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    if not train and not val:
        raise TinytxError(f"{run_dir}/metrics.jsonl: has no loss values to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for points, label in ((train, "train"), (val, "validation")):
        if points:
            ax.plot(*zip(*points), label=label, marker="." if len(points) < 30 else None)
    positive = all(v > 0 for _, v in train + val)
    if positive and max(v for _, v in train + val) / min(v for _, v in train + val) > 100:
        ax.set_yscale("log")  # losses that fall by orders of magnitude read better on a log axis
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{Path(run_dir).name}: loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_cost_surface(run_dir: str | Path, data: str | None = None):
    """Contours of the MSE over (w, b) with the path gradient descent took (standardised-feature coordinates)."""
    from ..recipes.tabular import cost_surface

    W, B, Z, path = cost_surface(run_dir, data)
    plt = _pyplot()
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.5, 5))
    levels = np.quantile(Z, np.linspace(0, 1, 25) ** 2)  # denser contours near the minimum
    cs = ax.contour(W, B, Z, levels=np.unique(levels), cmap="viridis", linewidths=0.8)
    fig.colorbar(cs, ax=ax, label="MSE")
    if len(path):
        ax.plot(path[:, 0], path[:, 1], "o-", color="crimson", markersize=3, linewidth=1, label="descent path")
        ax.plot(path[0, 0], path[0, 1], "s", color="black", label="start")
        ax.plot(path[-1, 0], path[-1, 1], "*", color="gold", markersize=12, markeredgecolor="black", label="end")
        ax.legend()
    ax.set_xlabel("w (per standard deviation of the feature)")
    ax.set_ylabel("b")
    ax.set_title(f"{Path(run_dir).name}: cost surface")
    fig.tight_layout()
    return fig


def read_confusion(run_dir: str | Path) -> tuple[list[str], list[list[int]]]:
    """RUN/confusion_matrix.json: {"labels": [...], "matrix": [[...]]} (rows = truth); a bare matrix works too."""
    path = Path(run_dir) / "confusion_matrix.json"
    if not path.exists():
        raise TinytxError(f"{path}: not found (classification runs write it after training)")
    from ..io import read_json

    obj = read_json(path)
    matrix = obj if isinstance(obj, list) else obj.get("matrix", obj.get("confusion_matrix"))
    if not isinstance(matrix, list) or not matrix or any(len(row) != len(matrix) for row in matrix):
        raise TinytxError(f"{path}: no square 'matrix' in it")
    labels = obj.get("labels") if isinstance(obj, dict) else None
    return [str(l) for l in (labels or range(len(matrix)))], matrix


def plot_confusion(run_dir: str | Path):
    labels, matrix = read_confusion(run_dir)
    plt = _pyplot()
    k = len(matrix)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * k, 1.0 + 0.6 * k) if k > 6 else (5, 4.5))
    im = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    top = max(max(row) for row in matrix) or 1
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, matrix[i][j], ha="center", va="center",
                        color="white" if matrix[i][j] > top / 2 else "black", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{Path(run_dir).name}: confusion matrix")
    fig.tight_layout()
    return fig


def save_figure(fig, out: str | Path) -> None:
    from ..io import atomic_path

    fmt = Path(out).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise TinytxError(f"-o {out}: use a .png, .pdf, .svg or .jpg file name")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)


def register(cli) -> None:
    p = cli.top.add_parser("plot", help="plot a run: loss curves, cost surface (linear) or confusion matrix")
    p.add_argument("run", help="run directory")
    p.add_argument("-o", "--out", default="loss.png", help="image file (.png, .pdf, .svg, .jpg)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--cost-surface", action="store_true",
                      help="MSE contours over (w, b) with the descent path (one-feature linear runs)")
    what.add_argument("--confusion", action="store_true", help="draw RUN/confusion_matrix.json")
    p.add_argument("--data", help="CSV for --cost-surface (default: the run's training table)")
    p.set_defaults(func=plot_command)


def plot_command(args) -> None:
    if Path(args.out).suffix.lstrip(".").lower() not in FORMATS:
        raise TinytxError(f"-o {args.out}: use a .png, .pdf, .svg or .jpg file name")
    if args.cost_surface:
        fig = plot_cost_surface(args.run, args.data)
    elif args.confusion:
        fig = plot_confusion(args.run)
    else:
        fig = plot_losses(args.run)
    save_figure(fig, args.out)
    print(f"wrote {args.out}")
