"""Bag-of-words classifiers on sparse features: softmax regression (hidden=0) or a one-hidden-layer MLP.

The input is a sparse row given as padded (B, L) feature ids + weights (see tinytx.features). The first layer is
`nn.EmbeddingBag(mode="sum")` with per-sample weights: sum_j w_j * W[id_j] + b, i.e. exactly x @ W + b for the
sparse row x, without ever building the (B, num_features) dense batch. Id 0 is padding: its weight is 0, so it adds nothing
(no `padding_idx`: on CPU it made the bag's backward ~4x slower in our measurement).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .registry import register


@dataclass
class BowConfig:
    num_features: int
    num_classes: int
    hidden: int = 0  # 0 = softmax (logistic) regression; > 0 = MLP with one hidden ReLU layer
    dropout: float = 0.0


@register("bow")
class BowClassifier(nn.Module):
    config_class = BowConfig

    def __init__(self, config: BowConfig):
        super().__init__()
        self.config = config
        width = config.hidden or config.num_classes
        self.linear = nn.EmbeddingBag(config.num_features, width, mode="sum")  # the sparse x @ W
        self.bias = nn.Parameter(torch.zeros(width))
        nn.init.normal_(self.linear.weight, std=0.01)
        with torch.no_grad():
            self.linear.weight[0].zero_()
        if config.hidden:
            self.head = nn.Sequential(nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(config.hidden, config.num_classes))
        else:
            self.head = nn.Identity()

    def forward(self, feat_ids, feat_weights):
        """feat_ids, feat_weights (B, L) -> logits (B, num_classes)."""
        return self.head(self.linear(feat_ids, per_sample_weights=feat_weights) + self.bias)
