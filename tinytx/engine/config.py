"""TrainConfig: every knob of the one training loop, as a dataclass saved beside the weights.

Each field carries its help text (`opt(...)`): the `tinytx train ...` flags are generated from these fields, so a
knob is declared once, here, for every recipe.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import TinytxError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "exponential", "invsqrt", "cosine", "linear")
DTYPES = ("auto", "fp32", "bf16", "fp16")
LOGGERS = ("jsonl", "tensorboard")  # metrics.jsonl is always written; tensorboard adds event files


def opt(default: Any = None, help: str = "", *, choices=None, factory=None, cli: bool = True, flag: str | None = None,
        parse=None, metavar: str | None = None):
    """A dataclass field with what its command-line flag needs: help text, choices, a parser for odd types.

    cli=False keeps a field out of the generated flags (set by recipes, not by users)."""
    meta = {"help": help, "choices": choices, "cli": cli, "flag": flag, "parse": parse, "metavar": metavar}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def parse_batch_size(text: str) -> int | str:
    """'full' (batch gradient descent), a number of rows, or for token recipes '4096t' (a token budget)."""
    text = str(text).strip().lower()
    if text == "full" or (text.endswith("t") and text[:-1].isdigit()):
        return text
    return int(text)


def token_budget(batch_size) -> int | None:
    """4096 for the token budget '4096t' (a recipe turns it into rows: seq2seq), None for anything else."""
    text = str(batch_size).strip().lower()
    return int(text[:-1]) if text.endswith("t") and text[:-1].isdigit() else None


def parse_floats(text: str) -> tuple[float, ...]:
    return tuple(float(s) for s in str(text).split(",") if s.strip())


@dataclass
class TrainConfig:
    # how long: max_steps wins over epochs; minutes alone sizes the schedule to the time budget
    max_steps: int | None = opt(None, "optimizer steps (wins over --epochs)")
    epochs: float | None = opt(None, "passes over the training data")
    minutes: float | None = opt(None, "time budget: alone, the schedule is sized to it (steps measured on the first "
                                      "steps; it may end up to 10%% late rather than be cut short); with "
                                      "--max-steps/--epochs, a limit that stops training (resumable)")
    # gradient descent flavour: "full" = batch GD, 1 = stochastic GD, n = mini-batch
    batch_size: int | str = opt(32, "rows per step: n = mini-batch, 1 = stochastic GD, 'full' = batch GD "
                                    "(seq2seq also takes a token budget such as 4096t)", parse=parse_batch_size)
    grad_accum: int = opt(1, "micro-batches per optimizer step")
    # optimizer
    optimizer: str = opt("adamw", "optimizer", choices=OPTIMIZERS)
    lr: float = opt(1e-3, "peak learning rate")
    momentum: float = opt(0.0, "sgd momentum")
    nesterov: bool = opt(False, "Nesterov momentum (sgd with momentum > 0)")
    betas: tuple[float, float] = opt((0.9, 0.999), "Adam betas, e.g. 0.9,0.99", parse=parse_floats, metavar="B1,B2")
    weight_decay: float = opt(0.0, "decoupled weight decay on weight matrices (not biases or norms)")
    # learning-rate schedule: a pure function of the step (see optim.lr_at)
    schedule: str = opt("constant", "learning-rate schedule after warm-up", choices=SCHEDULES)
    warmup_steps: int = opt(0, "linear learning-rate warm-up steps")
    decay_rate: float = opt(0.5, "step/exponential schedules: lr factor per --decay-steps")
    decay_steps: int = opt(1000, "step/exponential/invsqrt schedules: steps per decay")
    min_lr: float | None = opt(None, "cosine and linear schedules: the last step's lr (none = lr / 10)")
    # penalties added to the loss, on weight matrices (not biases or norms)
    l1: float = opt(0.0, "L1 penalty on weights (drives useless ones to 0)")
    l2: float = opt(0.0, "L2 penalty on weights")
    grad_clip: float = opt(0.0, "clip the gradient norm to this (0 = off)")
    # evaluation, logging, checkpoints
    eval_interval: int | None = opt(None, "steps between evaluations, each with a checkpoint "
                                          "(none = once per epoch, or every 200 steps)")
    eval_batches: int | None = opt(None, "cap on validation batches per evaluation (none = all)")
    log_interval: int | None = opt(10, "steps between logged training losses (none = sized by the recipe, or 10)")
    log: str = opt("jsonl", "where metrics go: metrics.jsonl always; tensorboard adds event files in RUN/tensorboard/ "
                            "(needs tinytx[tensorboard])", choices=LOGGERS)
    checkpoint_interval: int | None = opt(None, "steps between extra checkpoints (none = only at evaluations and the end)")
    patience: int | None = opt(None, "early stopping: evaluations without improvement before stopping")
    early_stopping_metric: str = opt("loss", cli=False)
    early_stopping_mode: str = opt("min", cli=False)
    restore_best: bool = opt(True, cli=False)  # with validation data: end with the best weights
    # hardware
    device: str = opt("auto", "auto, cpu, cuda, cuda:N or mps")
    dtype: str = opt("auto", "compute dtype: auto = bf16 autocast where it pays (a GPU with bf16; a CPU with "
                                    "native bf16 matmul and a model wide enough to gain: transformers from 128, others from 384), else fp32; fp16 on GPU only",
                    choices=DTYPES)
    compile: bool | None = opt(None, "torch.compile the model (none = auto: on long runs, try it and keep it where "
                                     "the compiled step is faster)")
    threads: int | None = opt(None, "CPU threads for torch (none = torch's choice)")
    seed: int = opt(1337, "random seed (weights, data order, dropout)")
    progress: bool = opt(True, "show a progress bar")

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        def bad(msg: str):
            raise TinytxError(f"invalid training option: {msg}")

        budget = token_budget(self.batch_size)
        if budget is not None:  # a token budget such as '4096t', for a recipe to size (seq2seq)
            if budget < 1:
                bad(f"a token budget must be positive, got {self.batch_size!r}")
            self.batch_size = f"{budget}t"
        elif self.batch_size != "full":
            try:
                self.batch_size = int(self.batch_size)
            except (TypeError, ValueError):
                bad(f"batch size must be a positive integer or 'full', got {self.batch_size!r}")
            if self.batch_size < 1:
                bad(f"batch size must be a positive integer or 'full', got {self.batch_size}")
        for name in ("lr", "momentum", "weight_decay", "l1", "l2", "grad_clip", "decay_rate", "epochs", "minutes",
                     "min_lr"):
            v = getattr(self, name)
            if v is not None and v != v:
                bad(f"{name.replace('_', ' ')} is NaN")
        if self.max_steps is not None and self.max_steps < 1:
            bad(f"max steps must be >= 1, got {self.max_steps}")
        if self.epochs is not None and not 0 < self.epochs < float("inf"):
            bad(f"epochs must be > 0, got {self.epochs}")
        if self.minutes is not None and not 0 < self.minutes < float("inf"):
            bad(f"minutes must be > 0, got {self.minutes}")
        if self.grad_accum < 1:
            bad(f"grad accumulation must be >= 1, got {self.grad_accum}")
        if self.optimizer not in OPTIMIZERS:
            bad(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            bad(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.log not in LOGGERS:
            bad(f"log must be one of {', '.join(LOGGERS)}, got {self.log!r}")
        if self.dtype not in DTYPES:
            bad(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not (0 < self.lr < float("inf")):
            bad(f"learning rate must be > 0, got {self.lr}")
        for name in ("momentum", "weight_decay", "l1", "l2", "grad_clip", "warmup_steps"):
            if not 0 <= getattr(self, name) < float("inf"):
                bad(f"{name.replace('_', ' ')} must be >= 0, got {getattr(self, name)}")
        if self.min_lr is not None and not 0 <= self.min_lr < float("inf"):
            bad(f"min lr must be >= 0, got {self.min_lr}")
        if not 0 <= self.momentum < 1:
            bad(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            bad("nesterov needs the sgd optimizer with momentum > 0")
        if not 0 < self.decay_rate < float("inf"):
            bad(f"decay rate must be > 0, got {self.decay_rate}")
        if not 0 <= self.seed < 2**63:  # numpy and torch take a non-negative 64-bit seed
            bad(f"seed must be between 0 and 2**63 - 1, got {self.seed}")
        if self.decay_steps < 1:
            bad(f"decay steps must be >= 1, got {self.decay_steps}")
        if self.early_stopping_mode not in ("min", "max"):
            bad(f"early stopping mode must be min or max, got {self.early_stopping_mode!r}")
        if self.patience is not None and self.patience < 1:
            bad(f"early stopping patience must be >= 1, got {self.patience}")
        for name in ("eval_interval", "checkpoint_interval", "eval_batches", "log_interval", "threads"):
            v = getattr(self, name)
            if v is not None and v < 1:
                bad(f"{name.replace('_', ' ')} must be >= 1, got {v}")
        self.betas = tuple(self.betas)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            bad(f"betas must be two numbers in [0, 1), got {self.betas}")

    @property
    def floor_lr(self) -> float:
        """The cosine and linear schedules' floor."""
        return self.lr / 10 if self.min_lr is None else self.min_lr

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
