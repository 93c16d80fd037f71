"""Callbacks: four hooks, no more. Each may keep state that goes into the checkpoint (state_dict)."""
from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from ..errors import TinytxError

if TYPE_CHECKING:
    from .trainer import Trainer


class Callback:
    def on_train_start(self, trainer: "Trainer") -> None: ...

    def on_step_end(self, trainer: "Trainer", logs: dict[str, float]) -> None: ...

    def on_eval_end(self, trainer: "Trainer", metrics: dict[str, float]) -> None: ...

    def on_train_end(self, trainer: "Trainer") -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class EarlyStopping(Callback):
    """Stop after `patience` evaluations without improvement; always end on the best weights.

    The best weights are kept in memory (and in best.safetensors when the run has a directory), and restored at
    the end of training whether it stopped early or ran out of steps.
    """

    def __init__(self, metric: str = "loss", mode: str = "min", patience: int | None = None, restore_best: bool = True):
        self.metric, self.mode, self.patience, self.restore_best = metric, mode, patience, restore_best
        self.best: float | None = None
        self.best_step = -1
        self.bad_evals = 0
        self._best_weights = None

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_eval_end(self, trainer, metrics):
        if self.metric not in metrics:
            raise TinytxError(f"early stopping watches '{self.metric}', but evaluation gives {', '.join(metrics)}")
        value = float(metrics[self.metric])
        if math.isfinite(value) and self.improved(value):
            self.best, self.best_step, self.bad_evals = value, trainer.step, 0
            self._best_weights = copy.deepcopy({k: v.detach().cpu() for k, v in trainer.raw_model.state_dict().items()})
            trainer.save_best()
        else:
            self.bad_evals += 1
            if self.patience is not None and self.bad_evals >= self.patience:
                trainer.stop(f"early stopping: no improvement in {self.metric} for {self.patience} evaluations")

    def on_train_end(self, trainer):
        if trainer.interrupted:
            return  # keep the last weights so that --resume continues exactly
        if self.restore_best and self._best_weights is not None:
            trainer.raw_model.load_state_dict(self._best_weights)
        elif self.restore_best:
            trainer.load_best()  # resumed after the best was found: it is on disk, not in memory

    def state_dict(self):
        return {"best": self.best, "best_step": self.best_step, "bad_evals": self.bad_evals}

    def load_state_dict(self, state):
        self.best, self.best_step, self.bad_evals = state["best"], state["best_step"], state["bad_evals"]


def _step(line: str) -> int | None:
    """The step of a metrics.jsonl line; None for a line cut short by a kill (or not ours)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    step = record.get("step", 0) if isinstance(record, dict) else None
    return step if isinstance(step, int) else None


class JSONLLogger(Callback):
    """Append one JSON object per log or evaluation to metrics.jsonl (rank 0 only)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def on_train_start(self, trainer):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a run killed between checkpoints logged steps it will redo; drop those lines
        if self.path.exists():
            keep = [line for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if _step(line) is not None and _step(line) <= trainer.step]
            self._guard(trainer, lambda: self.path.write_text("".join(line + "\n" for line in keep), encoding="utf-8"))

    def _write(self, trainer, record):
        def append():
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        self._guard(trainer, append)

    def _guard(self, trainer, write) -> None:
        """A full disk or a read-only directory: one line that says so, and which checkpoint there is."""
        try:
            write()
        except OSError as e:
            step = getattr(trainer, "checkpoint_step", None)
            kept = ("no checkpoint was written" if step is None else
                    f"the checkpoint of step {step} is whole: continue with --resume once the file can be written")
            raise TinytxError(f"{self.path}: cannot write ({e.strerror or e}); {kept}") from None

    def on_step_end(self, trainer, logs):
        if "loss" in logs:
            self._write(trainer, {"step": trainer.step, **{f"train_{k}" if k != "lr" else k: v for k, v in logs.items()}})

    def on_eval_end(self, trainer, metrics):
        self._write(trainer, {"step": trainer.step, **{f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}})


def summary_writer():
    """torch's TensorBoard SummaryWriter class; TensorBoard is an optional extra, imported only when asked for."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise TinytxError("--log tensorboard needs TensorBoard: pip install 'tinytx[tensorboard]'") from None
    return SummaryWriter


class TensorBoardLogger(Callback):
    """The same numbers as metrics.jsonl, as TensorBoard scalars in `log_dir` (rank 0 only): `train/loss`,
    `train/lr`, `train/targets_per_s` at each log step, `val/<metric>` at each evaluation.

    Resumable: each session writes a new event file, and a resumed one starts it with `purge_step` = the checkpoint's
    step + 1, so TensorBoard drops whatever an earlier session logged past that checkpoint (a kill between
    checkpoints), as JSONLLogger drops those lines; the steps trained again are then logged once."""

    def __init__(self, log_dir: str | os.PathLike):
        self.log_dir, self.writer_class, self.writer = Path(log_dir), summary_writer(), None

    def on_train_start(self, trainer):
        try:
            self.writer = self.writer_class(str(self.log_dir), purge_step=trainer.step + 1 if trainer.step else None)
        except OSError as e:
            raise TinytxError(f"{self.log_dir}: cannot write ({e.strerror or e})") from None

    def _add(self, trainer, prefix: str, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}/{key}", value, trainer.step)
        self.writer.flush()  # what a later kill -9 cannot take back, as metrics.jsonl's lines

    def on_step_end(self, trainer, logs):
        if "loss" in logs:
            self._add(trainer, "train", logs)

    def on_eval_end(self, trainer, metrics):
        self._add(trainer, "val", metrics)

    def on_train_end(self, trainer):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class ProgressBar(Callback):
    """A tqdm bar with loss, learning rate and targets per second (tokens or examples, as the Task counts them)."""

    def __init__(self, unit: str = "step"):
        self.unit = unit
        self.bar = None

    def _total(self, trainer):
        return None if trainer.sizing else trainer.max_steps  # unknown while a time budget is being measured

    def on_train_start(self, trainer):
        self.bar = tqdm(total=self._total(trainer), initial=trainer.step, unit=self.unit, dynamic_ncols=True,
                        leave=True)

    def on_step_end(self, trainer, logs):
        if self.bar.total != self._total(trainer):
            self.bar.total = self._total(trainer)
        self.bar.update(trainer.step - self.bar.n)
        if "loss" in logs:
            post = {"loss": f"{logs['loss']:.4f}", "lr": f"{logs['lr']:.2e}"}
            if logs.get("targets_per_s"):
                post[f"{trainer.task.unit}/s"] = f"{logs['targets_per_s']:,.0f}"
            if trainer.last_eval:
                post["val"] = f"{trainer.last_eval.get('loss', float('nan')):.4f}"
            self.bar.set_postfix(post, refresh=False)

    def on_train_end(self, trainer):
        if self.bar is not None:
            self.bar.close()


class TimeLimit(Callback):
    """Stop (with a checkpoint, resumable) once `seconds` of training have passed in this session.

    `TrainConfig.minutes` does this too, and sizes the schedule to the budget; this callback only stops."""

    def __init__(self, seconds: float):
        self.seconds, self.t0 = seconds, 0.0

    def on_train_start(self, trainer):
        self.t0 = time.perf_counter()

    def on_step_end(self, trainer, logs):
        if time.perf_counter() - self.t0 > self.seconds:
            trainer.stop(f"time limit of {self.seconds:.0f} s reached")


class CheckpointAverage(Callback):
    """End training on the mean of the weights at the last `last` of evenly spaced points in the run's final
    `share` of steps (checkpoint averaging, as in Vaswani et al. 2017: the average of nearby points of a decaying
    schedule sits nearer the middle of the basin than any one of them).

    The points are steps max_steps - i·every, i = 0 .. last-1, every = max(1, round(share · max_steps / last)); the
    running sum (float32, one copy of the weights) is part of the callback's state, so a resumed run averages the
    same points. Steps are counted against the final max_steps: while a time budget is being measured
    (trainer.sizing) nothing is taken, and a sum taken for another max_steps (a resume with a larger --max-steps) is
    dropped. At the end, with 2 or more points, the averaged weights replace the model's (after EarlyStopping's
    restore, so they win over the best-validation weights) and validation is run again on them; an interrupted run
    keeps its last weights (resume continues exactly). The trainer's resumable state always holds the last weights,
    not the average."""

    def __init__(self, last: int = 5, share: float = 0.1):
        if last < 1 or not 0 < share <= 1:
            raise ValueError("CheckpointAverage needs last >= 1 and 0 < share <= 1")
        self.last, self.share = last, share
        self.total: dict[str, Any] | None = None
        self.steps: list[int] = []
        self.max_steps: int | None = None

    def points(self, max_steps: int) -> list[int]:
        every = max(1, round(self.share * max_steps / self.last))
        return [s for s in (max_steps - i * every for i in range(self.last)) if s >= 1]

    def on_step_end(self, trainer, logs):
        if trainer.sizing or trainer.step not in self.points(trainer.max_steps):
            return
        if self.max_steps != trainer.max_steps:  # a sum for another schedule (or none yet)
            self.total, self.steps, self.max_steps = None, [], trainer.max_steps
        weights = {k: v.detach().float() for k, v in trainer.raw_model.state_dict().items()
                   if v.is_floating_point()}
        if self.total is None:
            self.total = {k: v.cpu().clone() for k, v in weights.items()}
        else:
            for k, v in weights.items():
                self.total[k] += v.cpu()
        self.steps.append(trainer.step)

    def on_train_end(self, trainer):
        if trainer.interrupted or self.total is None or len(self.steps) < 2:
            return
        state = trainer.raw_model.state_dict()
        n = len(self.steps)
        for k, v in self.total.items():
            state[k].copy_((v / n).to(state[k].dtype))  # tied weights share one tensor: set once per name, same value
        if trainer.val_data is not None:
            trainer.last_eval = {**trainer.evaluate(max_batches=trainer.config.eval_batches), "averaged": n}

    def state_dict(self):
        return {"total": self.total, "steps": list(self.steps), "max_steps": self.max_steps}

    def load_state_dict(self, state):
        self.total, self.steps, self.max_steps = state["total"], list(state["steps"]), state["max_steps"]
