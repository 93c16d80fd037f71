"""The one training loop. Every model family trains here, through a Task.

Read it top to bottom: set-up (device, seed, DDP, optimizer, resume), then `fit`, whose loop is
lr → micro-batches → loss → backward → clip → step → log → evaluate → checkpoint.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from ..data.batches import Batches, TensorBatches
from ..errors import TinytxError, TrainingDiverged
from . import checkpoint as ckpt
from .autocompile import AutoCompile
from .callbacks import Callback, EarlyStopping, JSONLLogger, ProgressBar, TensorBoardLogger
from .config import TrainConfig
from .distributed import setup as setup_dist
from .optim import lr_at, make_optimizer, penalty
from .tasks import Task


BF16_MIN_WIDTH = 384  # median Linear input width from which bf16 autocast pays on a CPU (resolve_dtype)
# a schedule sized to a time budget may end this much past it before it is cut short: cutting it loses the end of
# the learning-rate decay, for a few seconds of sizing error (steps slow down as the machine warms or gets busy)
OVERRUN = 1.1
BUDGET_USED = 0.95  # a sized schedule plans for this share of the time budget (the rest: timing error)
SIZED_WARMUP_MAX = 0.4  # a schedule sized to a time budget warms up for at most this share of its steps
# a sized schedule re-checks its pace (Trainer._recheck_due): freely (steps left x 1/4 to x 8) in the first
# RECHECK_FREE_SHARE of its time budget, then at the RECHECK_AT shares of its steps within RECHECK_LIMIT
RECHECK_FREE_SHARE, RECHECK_FREE = 0.25, (0.25, 8.0)
RECHECK_AT, RECHECK_LIMIT = (0.4, 0.6), (0.8, 1.5)
UNSIZED = 10**12  # max_steps while a time budget is being measured (the cosine schedule is ~flat that far out)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TinytxError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TinytxError("device 'cuda' asked for, but CUDA is not available on this machine")
    return device


def cpu_has_bf16_matmul() -> bool:
    """AMX-BF16 or AVX512-BF16: the CPU multiplies bf16 natively (elsewhere bf16 autocast only adds casts)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_dtype(dtype: str, device: torch.device, model: nn.Module) -> str:
    """'auto' -> bf16 where it pays, else fp32. On a CPU: when the median Linear input width reaches the model's
    `bf16_min_width` (a module attribute; transformer stacks declare 128) or else BF16_MIN_WIDTH. Measured on a
    2-core AVX512-BF16 CPU, GPT training steps, bf16 autocast vs fp32: 384 wide ~2x faster, 128 wide ~1.5x,
    64 wide ~1.2x, 32 wide ~0.8x (casts cost more than they save); small MLPs on small batches gain nothing."""
    if dtype != "auto":
        return dtype
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type != "cpu" or not cpu_has_bf16_matmul():
        return "fp32"
    widths = sorted(m.in_features for m in model.modules() if isinstance(m, nn.Linear))
    # the outermost declaration wins: modules() starts at the model itself, then its parts
    min_width = next((m.bf16_min_width for m in model.modules() if hasattr(m, "bf16_min_width")), BF16_MIN_WIDTH)
    return "bf16" if widths and widths[len(widths) // 2] >= min_width else "fp32"


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Train `model` on `train` through `task`.

    train / val: a batch source (see tinytx.data.batches) or a dict of equal-length tensors, which is wrapped in
    TensorBatches with `config.batch_size`. With `out_dir` the run is checkpointed there (rank 0 only), and
    `config.json` gets `run_info` (model description, task, tokenizer, anything needed to use the run later).
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        train: Batches | dict[str, torch.Tensor],
        val: Batches | dict[str, torch.Tensor] | None = None,
        config: TrainConfig | None = None,
        out_dir: str | Path | None = None,
        run_info: dict[str, Any] | None = None,
        callbacks: Iterable[Callback] = (),
        resume: bool = False,
    ):
        self.config = cfg = config or TrainConfig()
        self.task = task
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.run_info = dict(run_info or {})
        self.device = pick_device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.dist = setup_dist(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        seed_everything(cfg.seed)

        wrap = lambda d, shuffle: TensorBatches(d, cfg.batch_size, shuffle, cfg.seed) if isinstance(d, dict) else d
        self.train_data, self.val_data = wrap(train, True), (wrap(val, False) if val is not None else None)
        self.max_steps = self._resolve_max_steps()

        self.raw_model = model.to(self.device)
        self.model = self.raw_model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.raw_model, device_ids=ids)
        self.eager_model = self.model
        self.autocompile = AutoCompile(False if cfg.compile is None and self.dist.enabled else cfg.compile, self.device)
        if self.autocompile.state == "on":
            self.model = torch.compile(self.eager_model)
        self.optimizer = make_optimizer(self.raw_model, cfg, self.device)
        self.dtype = resolve_dtype(cfg.dtype, self.device, self.raw_model)
        self.autocast = self._autocast_context()
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == "fp16" and self.device.type == "cuda" else None

        self.step = 0
        self.last_eval: dict[str, float] = {}
        self.history: list[dict[str, float]] = []
        self._stop_reason: str | None = None
        self.interrupted = 0  # the signal (SIGINT/SIGTERM) that stopped training, once one has
        self.checkpoint_step: int | None = None  # the step of the last checkpoint written (or resumed from)
        # a time budget alone sizes max_steps after a few timed steps; with steps/epochs given it only limits
        self.budget_s = cfg.minutes * 60 if cfg.minutes else None
        self.sizing = self.budget_s is not None and cfg.max_steps is None and cfg.epochs is None
        self.sized = False  # max_steps was fixed from a time budget (then the schedule may overrun it a little)
        self._warmup_wanted = self.config.warmup_steps  # a sized schedule holds it to a share of its steps
        self._last_fit: tuple[int, float] = (0, 0.0)  # (step, seconds into the run) when the steps were last fitted
        self._shares_left: list[float] = []  # the RECHECK_AT shares still to come
        self.early_stopping = None
        if cfg.patience is not None or (self.val_data is not None and cfg.restore_best):
            self.early_stopping = EarlyStopping(
                cfg.early_stopping_metric, cfg.early_stopping_mode, cfg.patience, cfg.restore_best
            )
        self.callbacks: list[Callback] = [c for c in [self.early_stopping] if c] + list(callbacks)
        if self.dist.is_main:
            if self.out_dir is not None:
                self.callbacks.append(JSONLLogger(self.out_dir / ckpt.METRICS))
                if cfg.log == "tensorboard":
                    self.callbacks.append(TensorBoardLogger(self.out_dir / ckpt.TENSORBOARD))
            if cfg.progress:
                self.callbacks.append(ProgressBar())
        if resume:
            self._resume()

    # --- set-up helpers -------------------------------------------------------------------------------------

    def _resolve_max_steps(self) -> int:
        cfg, spe = self.config, self.train_data.steps_per_epoch
        if cfg.minutes and cfg.max_steps is None and cfg.epochs is None:
            return UNSIZED
        if cfg.max_steps is not None:
            return cfg.max_steps
        if cfg.epochs is not None:
            if spe is None:
                raise TinytxError("this data has no epochs (random windows); give max steps instead")
            return max(1, math.ceil(cfg.epochs * spe / cfg.grad_accum))
        raise TinytxError("give max steps, epochs or minutes")

    @property
    def eval_interval(self) -> int:
        if self.config.eval_interval is not None:
            return self.config.eval_interval
        spe = self.train_data.steps_per_epoch
        return max(1, spe // self.config.grad_accum) if spe else 200

    def _autocast_context(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.dtype)
        if dtype is None:
            return nullcontext
        if self.device.type != "cuda" and dtype == torch.float16:
            raise TinytxError("fp16 needs a CUDA device; use bf16 or fp32 on CPU")
        return lambda: torch.autocast(self.device.type, dtype=dtype)

    def _resume(self) -> None:
        if self.out_dir is None:
            raise TinytxError("resume needs a run directory")
        state = ckpt.load_trainer_state(self.out_dir)
        # the weights of the resumable step live inside trainer_state.pt: one file, renamed in one go, so a kill
        # can never pair the weights of one step with the optimizer state of another
        try:
            self.raw_model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scaler is not None and "scaler" in state:
                self.scaler.load_state_dict(state["scaler"])
            for cb, cb_state in zip(self.callbacks, state.get("callbacks", [])):
                cb.load_state_dict(cb_state)
            ckpt.set_rng_state(state["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:  # a state from another model
            raise TinytxError(f"{self.out_dir / ckpt.STATE}: does not fit the model in config.json "
                              f"({ckpt.first_line(e)})") from None
        self.step = self.checkpoint_step = int(state["step"])
        self.last_eval = state.get("last_eval", {})

    # --- checkpoints ------------------------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        """Weights, optimizer, RNG, callbacks and step, each written atomically; rank 0 only."""
        if self.out_dir is None or not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        ckpt.save_config(self.out_dir, {**self.run_info, "train": self.config.to_dict()})
        ckpt.save_weights(self.raw_model, self.out_dir / ckpt.WEIGHTS)
        state = {
            "step": self.step,
            "model": self.raw_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": ckpt.rng_state(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "last_eval": {k: v for k, v in self.last_eval.items() if isinstance(v, (int, float))},
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        ckpt.save_trainer_state(self.out_dir, state)
        self.checkpoint_step = self.step

    def save_best(self) -> None:
        if self.out_dir is not None and self.dist.is_main:
            ckpt.save_weights(self.raw_model, self.out_dir / ckpt.BEST)

    def load_best(self) -> None:
        if self.out_dir is not None and (self.out_dir / ckpt.BEST).exists():
            ckpt.load_weights(self.raw_model, self.out_dir / ckpt.BEST)

    def stop(self, reason: str) -> None:
        self._stop_reason = reason

    # --- the loop -----------------------------------------------------------------------------------------------

    def _train_step(self) -> tuple[torch.Tensor, int | torch.Tensor]:
        """One optimizer step. Returns the step's mean loss (detached, not synced) and its number of targets."""
        cfg = self.config
        micro = [
            self.train_data.get(self.step * cfg.grad_accum + i, self.dist.rank, self.dist.world)
            for i in range(cfg.grad_accum)
        ]
        if self.device.type != "cpu":
            micro = [{k: v.to(self.device, non_blocking=True) for k, v in b.items()} for b in micro]
        if len(micro) == 1 and not self.dist.enabled:
            # one micro-batch, one process: its weight is exactly 1, so no counting or weighting ops (on a small
            # model each tiny tensor op is a visible share of the step)
            loss = self._backward(micro[0], None, sync=True)
            n = self.task.num_targets(micro[0])
        else:
            # weight each micro-batch by its share of all targets in the global batch: accumulation and DDP then
            # give the same gradient as one big batch (DDP averages over ranks, hence the world factor)
            counts = [torch.as_tensor(self.task.num_targets(b), device=self.device, dtype=torch.float32)
                      for b in micro]
            total = self.dist.all_reduce_sum(torch.stack(counts).sum()).clamp(min=1.0)
            loss_sum = sum(self._backward(b, c * self.dist.world / total, sync=i == len(micro) - 1) * c
                           for i, (b, c) in enumerate(zip(micro, counts)))
            n = torch.stack(counts).sum()
            loss = loss_sum / n.clamp(min=1.0)
        if cfg.grad_clip:
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), cfg.grad_clip)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss, n

    def _backward(self, batch, weight, sync: bool) -> torch.Tensor:
        """Forward and backward of one micro-batch (its loss times `weight`; DDP syncs gradients only when
        `sync`). Returns its mean loss, detached."""
        ctx = self.model.no_sync() if (self.dist.enabled and not sync) else nullcontext()
        with ctx:
            with self.autocast():
                loss, _ = self.task.loss(self.model, batch, with_metrics=False)
            scaled = loss if weight is None else loss * weight
            if sync:
                pen = penalty(self.raw_model, self.config.l1, self.config.l2)
                if pen is not None:
                    scaled = scaled + pen
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        return loss.detach()

    @torch.no_grad()
    def evaluate(self, data: Batches | None = None, max_batches: int | None = None) -> dict[str, float]:
        data = data if data is not None else self.val_data
        if data is None:
            return {}
        was_training = self.raw_model.training
        self.raw_model.eval()
        batches = ({k: v.to(self.device) for k, v in b.items()} for b in data.iter_eval(max_batches))
        with self.autocast():
            metrics = self.task.evaluate(self.raw_model, batches)
        self.raw_model.train(was_training)
        return metrics

    def _check_finite(self, value: float) -> None:
        if not math.isfinite(value):
            where = ""
            if self.out_dir is not None:
                where = (f"; the last good checkpoint (step {self.checkpoint_step}) is kept in {self.out_dir}"
                         if self.checkpoint_step is not None else "; no checkpoint was written")
            raise TrainingDiverged(
                f"loss became {value} at step {self.step}: training stopped (try a lower learning rate){where}"
            )

    @contextmanager
    def _graceful_interrupt(self):
        """First Ctrl-C or SIGTERM (what schedulers send): finish the current step, checkpoint, stop (resumable
        exactly). A second signal aborts."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = signum
            self.stop(f"{signal.Signals(signum).name}: checkpoint saved, continue with --resume")

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, h in previous.items():
                signal.signal(sig, h)

    def _size_to_budget(self, timed_steps: int, timed_s: float, elapsed_s: float) -> None:
        """Fix max_steps so that the run ends within the time budget. The steps measured so far (the first, with
        its warm-up, left out) set the pace; one evaluation + checkpoint is timed now (a real, resumable
        checkpoint) to budget the ones to come; 5% is kept in reserve."""
        per_step = timed_s / timed_steps
        t0 = time.perf_counter()
        if self.val_data is not None:
            self.evaluate(max_batches=self.config.eval_batches)
        self.save_checkpoint()
        event_s = time.perf_counter() - t0
        remaining = max(0.0, BUDGET_USED * self.budget_s - (elapsed_s + event_s) - event_s)  # the last event too
        self._set_max_steps(self.step + max(1, int(remaining / (per_step + event_s / self.eval_interval))))
        self.sizing, self.sized = False, True
        self._last_fit = (self.step, elapsed_s + event_s)
        self._shares_left = list(RECHECK_AT)

    def _set_max_steps(self, steps: int) -> None:
        """Re-fix a sized schedule's length; a warm-up still under way is held to SIZED_WARMUP_MAX of it (it was asked
        for without knowing the budget), so a later re-fit to more steps gives back what an early one cut."""
        self.max_steps = steps
        warmup = self.config.warmup_steps
        if self.step < warmup:
            warmup = max(1, min(self._warmup_wanted, int(steps * SIZED_WARMUP_MAX)))
        self.config = self.config.replace(max_steps=steps, warmup_steps=warmup)  # saved with the checkpoint: resume
        # keeps the schedule

    def _recheck_due(self, elapsed_s: float) -> tuple[float, float] | None:
        """The limits of a re-check due now, or None. In the first RECHECK_FREE_SHARE of the time budget a cosine is
        still near its flat top, so the steps may change freely, each time they have doubled since the last fit
        (the first steps are often the slow ones: caches, allocator, kernel choice); later at RECHECK_AT shares of
        the run, bounded, so a schedule already decaying bends instead of jumping."""
        if self.dist.enabled:  # each rank would re-fit on its own clock, and ranks must agree on the step count
            return None
        last = self._last_fit[0]
        if elapsed_s <= RECHECK_FREE_SHARE * self.budget_s:
            return RECHECK_FREE if self.step >= max(2 * last, last + 10) else None
        if self._shares_left and self.step >= self._shares_left[0] * self.max_steps:
            self._shares_left.pop(0)
            return RECHECK_LIMIT
        return None

    def _recheck_budget(self, elapsed_s: float, limit: tuple[float, float]) -> None:
        """Re-fix max_steps from the pace since the last fit (evaluations and checkpoints included), the steps left
        scaled by the factors in `limit` at most."""
        step0, t0 = self._last_fit
        pace = (elapsed_s - t0) / max(1, self.step - step0)
        left, fitted = self.max_steps - self.step, int((BUDGET_USED * self.budget_s - elapsed_s) / pace)
        self._set_max_steps(self.step + max(1, min(round(left * limit[1]), max(round(left * limit[0]), fitted))))
        self._last_fit = (self.step, elapsed_s)

    def _sync_time(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _compiling_step(self):
        """A training step; during the compile trial a compile error falls back to eager (see autocompile.py)."""
        if self.autocompile.state != "trial":
            return self._train_step()
        try:
            return self._train_step()
        except (TinytxError, MemoryError):
            raise
        except Exception as e:  # torch._dynamo / inductor errors have no common public base class
            self.autocompile.failed(e)
            self.model = self.eager_model
            self.optimizer.zero_grad(set_to_none=True)
            return self._train_step()

    def _time_compile(self, seconds: float, t_start: float) -> bool:
        """Feed one timed step to the auto-compile decision; switch models as it says. True once decided."""
        if self.autocompile.decided:  # a failed compile decided it during the step
            return True
        left = None if self.budget_s is None else self.budget_s - (time.perf_counter() - t_start)
        action = self.autocompile.record(seconds, self.max_steps - self.step, left)
        if action == "compile":
            self.model = torch.compile(self.eager_model)
        elif action == "revert":
            self.model = self.eager_model
        if self.autocompile.decided and self.autocompile.note and self.dist.is_main:
            print(f"tinytx: {self.autocompile.note}", file=sys.stderr)
        return self.autocompile.decided

    def _window_mean(self, window) -> tuple[float, float]:
        """Target-weighted mean loss of the logged window's steps, and their number of targets."""
        if not window:
            return 0.0, 0.0
        means = torch.stack([m for m, _ in window]).float()
        ns = [n for _, n in window]
        if all(isinstance(n, int) for n in ns):
            counts = torch.tensor(ns, dtype=torch.float32, device=means.device)
        else:
            counts = torch.stack([torch.as_tensor(n, dtype=torch.float32, device=means.device) for n in ns])
        n_window = float(counts.sum())
        return float((means * counts).sum()) / max(n_window, 1.0), n_window

    def fit(self) -> dict[str, Any]:
        with self._graceful_interrupt():
            return self._fit()

    def _fit(self) -> dict[str, Any]:
        cfg = self.config
        for cb in self.callbacks:
            cb.on_train_start(self)
        self.raw_model.train()
        window: list[tuple[torch.Tensor, int | torch.Tensor]] = []  # (mean loss, targets) per step since the last log
        t0 = t_start = time.perf_counter()
        t_first, first_step = None, self.step
        try:
            while self.step < self.max_steps and self._stop_reason is None:
                lr = lr_at(self.step, self.config, self.max_steps)  # self.config: sizing may cap the warm-up
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                t_step = self._sync_time() if self.autocompile.timing() else None
                window.append(self._compiling_step())
                self.step += 1
                if t_step is not None and self._time_compile(self._sync_time() - t_step, t_start):
                    t_first, first_step = None, self.step  # a time budget is sized on the steps from here on
                if self.budget_s is not None:
                    now = time.perf_counter()
                    if t_first is None:
                        t_first = now
                    timed = self.step - first_step - 1
                    if (self.sizing and self.autocompile.decided and timed >= 3
                            and (now - t_first >= min(0.02 * self.budget_s, 10.0) or timed >= 200)):
                        self._size_to_budget(timed, now - t_first, now - t_start)
                    elif now - t_start > self.budget_s * (OVERRUN if self.sized else 1.0):
                        self.stop(f"time budget of {self.config.minutes:g} min reached")
                    elif self.sized and (limit := self._recheck_due(now - t_start)):
                        self._recheck_budget(now - t_start, limit)

                logs: dict[str, float] = {"lr": lr}
                last = self.step == self.max_steps
                do_eval = self.val_data is not None and (self.step % self.eval_interval == 0 or last)
                do_ckpt = cfg.checkpoint_interval is not None and self.step % cfg.checkpoint_interval == 0
                if self.step % (cfg.log_interval or 10) == 0 or last or do_eval or do_ckpt:
                    # one device sync per log interval, not per step
                    mean, n_window = self._window_mean(window)
                    self._check_finite(mean)
                    dt = time.perf_counter() - t0
                    logs.update(loss=mean, targets_per_s=n_window * self.dist.world / max(dt, 1e-9))
                    self.history.append({"step": self.step, **logs})
                    window.clear()
                    t0 = time.perf_counter()
                if do_eval:
                    self.last_eval = self.evaluate(max_batches=cfg.eval_batches)
                    self._check_finite(float(self.last_eval.get("loss", 0.0)))
                for cb in self.callbacks:
                    cb.on_step_end(self, logs)
                if do_eval:
                    for cb in self.callbacks:
                        cb.on_eval_end(self, self.last_eval)
                if do_ckpt or do_eval:
                    self.save_checkpoint()
            # the resumable state holds the last weights, so a run stopped early (or by a time limit) and then
            # resumed continues exactly; model.safetensors below gets the best weights restored by on_train_end
            self.save_checkpoint()
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
        if self.out_dir is not None and self.dist.is_main:
            ckpt.save_weights(self.raw_model, self.out_dir / ckpt.WEIGHTS)
        self.dist.barrier()
        result = {"step": self.step, "stopped": self._stop_reason, "val": self.last_eval,
                  "interrupted": self.interrupted, "max_steps": self.max_steps,
                  "compiled": self.autocompile.state == "on", "compile_note": self.autocompile.note}
        if self.early_stopping is not None and self.early_stopping.best is not None:
            result.update(best=self.early_stopping.best, best_step=self.early_stopping.best_step)
        return result
