"""The foundational models: linear, logistic and softmax regression, and the perceptron.

Each is one affine map x @ W.T + b; they differ only in how the output is read, which is the Task's business:
    linear      -> Regression            (mean squared error)
    logistic    -> BinaryClassification  (log-loss on one logit; sigmoid(logit) = P(y=1))
    softmax     -> Classification        (cross-entropy on K logits; softmax(logits) = class probabilities)
    perceptron  -> Perceptron            (Rosenblatt's rule: w += t·x on every mistake, with SGD, batch 1, lr 1)
A batch is {"x": (B, in_features), "y": ...}, so forward takes `x`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .registry import register


class _Affine(nn.Module):
    """y = x W^T + b. One output is returned as shape (B,), several as (B, out)."""

    def __init__(self, in_features: int, out_features: int, zero_init: bool = False):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"need at least one input and one output, got {in_features} -> {out_features}")
        self.linear = nn.Linear(in_features, out_features)
        if zero_init:  # the classic perceptron (and a convex model) may start from all zeros
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        return out.squeeze(-1) if out.size(-1) == 1 else out

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    @property
    def bias(self) -> torch.Tensor:
        return self.linear.bias


@dataclass
class LinearConfig:
    in_features: int = 1
    out_features: int = 1  # several outputs = several regressions sharing the inputs
    zero_init: bool = False


@register("linear")
class LinearRegression(_Affine):
    """Linear regression with one or many features and one or many outputs."""

    config_class = LinearConfig

    def __init__(self, config: LinearConfig):
        super().__init__(config.in_features, config.out_features, config.zero_init)
        self.config = config


@dataclass
class LogisticConfig:
    in_features: int = 1
    zero_init: bool = False


@register("logistic")
class LogisticRegression(_Affine):
    """One logit per example; P(y=1 | x) = sigmoid(logit). Trained with log-loss (BinaryClassification)."""

    config_class = LogisticConfig

    def __init__(self, config: LogisticConfig):
        super().__init__(config.in_features, 1, config.zero_init)
        self.config = config

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(x))


@dataclass
class SoftmaxConfig:
    in_features: int = 1
    num_classes: int = 2
    zero_init: bool = False


@register("softmax")
class SoftmaxRegression(_Affine):
    """K logits per example; softmax turns them into class probabilities (Classification = cross-entropy)."""

    config_class = SoftmaxConfig

    def __init__(self, config: SoftmaxConfig):
        if config.num_classes < 2:
            raise ValueError(f"softmax regression needs at least 2 classes, got {config.num_classes}")
        super().__init__(config.in_features, config.num_classes, config.zero_init)
        self.config = config

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(x), dim=-1)


@dataclass
class PerceptronConfig:
    in_features: int = 1
    zero_init: bool = True  # Rosenblatt starts from w = 0, b = 0


@register("perceptron")
class Perceptron(_Affine):
    """A score s = w·x + b; predicts 1 when s > 0. Learns with the Perceptron task's mistake-driven rule."""

    config_class = PerceptronConfig

    def __init__(self, config: PerceptronConfig):
        super().__init__(config.in_features, 1, config.zero_init)
        self.config = config

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return (self(x) > 0).long()
