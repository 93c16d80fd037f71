"""TrainConfig: every knob of the one training loop, as a dataclass saved beside the weights."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import TinytxError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "exponential", "invsqrt", "cosine")
DTYPES = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    # how long: max_steps wins when both are set; epochs needs a source that has epochs
    max_steps: int | None = None
    epochs: float | None = None
    # gradient descent flavour: "full" = batch GD, 1 = stochastic GD, n = mini-batch (used by TensorBatches)
    batch_size: int | str = 32
    grad_accum: int = 1
    # optimizer
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0  # decoupled (AdamW) or classic SGD decay, on weight matrices only
    # learning-rate schedule: a pure function of the step (see optim.lr_at)
    schedule: str = "constant"
    warmup_steps: int = 0
    decay_rate: float = 0.5  # step/exponential: factor per decay_steps
    decay_steps: int = 1000
    min_lr: float = 0.0  # cosine floor
    # penalties added to the loss, on weight matrices (not biases or norms)
    l1: float = 0.0
    l2: float = 0.0
    grad_clip: float = 0.0  # 0 = off
    # evaluation, logging, checkpoints
    eval_interval: int | None = None  # None: once per epoch, or every 200 steps without epochs
    eval_batches: int | None = None  # cap on validation batches per evaluation
    log_interval: int = 10
    checkpoint_interval: int | None = None  # None: only at evaluations and at the end
    early_stopping_patience: int | None = None  # evaluations without improvement before stopping
    early_stopping_metric: str = "loss"
    early_stopping_mode: str = "min"
    restore_best: bool = True  # with early stopping: end with the best weights, stopped early or not
    # hardware
    device: str = "auto"
    dtype: str = "fp32"
    compile: bool = False
    seed: int = 1337
    progress: bool = True

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        def bad(msg: str):
            raise TinytxError(f"invalid training option: {msg}")

        if self.batch_size != "full":
            try:
                self.batch_size = int(self.batch_size)
            except (TypeError, ValueError):
                bad(f"batch size must be a positive integer or 'full', got {self.batch_size!r}")
            if self.batch_size < 1:
                bad(f"batch size must be a positive integer or 'full', got {self.batch_size}")
        if self.max_steps is not None and self.max_steps < 1:
            bad(f"max steps must be >= 1, got {self.max_steps}")
        if self.epochs is not None and self.epochs <= 0:
            bad(f"epochs must be > 0, got {self.epochs}")
        if self.grad_accum < 1:
            bad(f"grad accumulation must be >= 1, got {self.grad_accum}")
        if self.optimizer not in OPTIMIZERS:
            bad(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            bad(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.dtype not in DTYPES:
            bad(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not (self.lr > 0):
            bad(f"learning rate must be > 0, got {self.lr}")
        for name in ("momentum", "weight_decay", "l1", "l2", "grad_clip", "min_lr", "warmup_steps"):
            if getattr(self, name) < 0:
                bad(f"{name.replace('_', ' ')} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.momentum < 1:
            bad(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            bad("nesterov needs the sgd optimizer with momentum > 0")
        if self.decay_steps < 1:
            bad(f"decay steps must be >= 1, got {self.decay_steps}")
        if self.early_stopping_mode not in ("min", "max"):
            bad(f"early stopping mode must be min or max, got {self.early_stopping_mode!r}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            bad(f"early stopping patience must be >= 1, got {self.early_stopping_patience}")
        for name in ("eval_interval", "checkpoint_interval", "eval_batches"):
            v = getattr(self, name)
            if v is not None and v < 1:
                bad(f"{name.replace('_', ' ')} must be >= 1, got {v}")
        self.betas = tuple(self.betas)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
