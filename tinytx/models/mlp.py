"""A multilayer perceptron: [Linear -> activation -> dropout] x len(hidden_sizes) -> Linear.

Batch {"x": (B, in_features), ...}; one output comes back as (B,), several as (B, out_features), so the same
model serves regression (out 1), binary log-loss (out 1) and softmax classification (out K).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .registry import register

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "selu": nn.SELU,
}


@dataclass
class MLPConfig:
    in_features: int = 1
    out_features: int = 1
    hidden_sizes: list[int] = field(default_factory=lambda: [32])
    activation: str = "relu"
    dropout: float = 0.0  # after each hidden activation; off in eval mode


@register("mlp")
class MLP(nn.Module):
    config_class = MLPConfig

    def __init__(self, config: MLPConfig):
        super().__init__()
        if config.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {config.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if not 0 <= config.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
        if any(h < 1 for h in config.hidden_sizes):
            raise ValueError(f"hidden sizes must be >= 1, got {config.hidden_sizes}")
        self.config = config
        widths = [config.in_features, *config.hidden_sizes]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.act = ACTIVATIONS[config.activation]()
        # one Dropout module (no weights), so the parameter names do not depend on the dropout rate
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(widths[-1], config.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = self.drop(self.act(layer(x)))
        out = self.out(x)
        return out.squeeze(-1) if out.size(-1) == 1 else out
