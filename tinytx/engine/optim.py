"""Optimizers, the learning-rate schedule as a pure function of the step, and L1/L2 penalties."""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainConfig


def decayed(p: torch.Tensor) -> bool:
    """Weight matrices and embeddings get decay and penalties; biases and norm gains do not."""
    return p.ndim >= 2


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.weight_decay:
        groups = [
            {"params": [p for p in params if decayed(p)], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if not decayed(p)], "weight_decay": 0.0},
        ]
        groups = [g for g in groups if g["params"]]
    else:  # one group: one fused/foreach update per step instead of two
        groups = [{"params": params, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    fused = {"fused": True} if device.type == "cuda" else {}  # one kernel for all params on GPU
    opt = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return opt(groups, lr=cfg.lr, betas=cfg.betas, **fused)


def lr_at(step: int, cfg: TrainConfig, max_steps: int) -> float:
    """The learning rate for `step` (0-based). Pure: resume needs no scheduler state."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = step - cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.decay_rate ** (t // cfg.decay_steps)
    if cfg.schedule == "exponential":
        return cfg.lr * cfg.decay_rate ** (t / cfg.decay_steps)
    if cfg.schedule == "invsqrt":
        return cfg.lr / math.sqrt(1 + t / cfg.decay_steps)
    if cfg.schedule in ("cosine", "linear"):
        span = max(1, max_steps - cfg.warmup_steps)
        progress = min(1.0, t / span)
        if cfg.schedule == "linear":  # word2vec's: straight down to the floor
            return cfg.lr - (cfg.lr - cfg.floor_lr) * progress
        return cfg.floor_lr + 0.5 * (cfg.lr - cfg.floor_lr) * (1 + math.cos(math.pi * progress))
    raise ValueError(cfg.schedule)


def penalty(model: nn.Module, l1: float, l2: float) -> torch.Tensor | None:
    """l1·Σ|w| + l2/2·Σw² over weight matrices; elastic net when both are set."""
    if not (l1 or l2):
        return None
    total = 0.0
    for p in model.parameters():
        if p.requires_grad and decayed(p):
            if l1:
                total = total + l1 * p.abs().sum()
            if l2:
                total = total + 0.5 * l2 * p.pow(2).sum()
    return total
