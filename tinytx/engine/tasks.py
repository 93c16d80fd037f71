"""Tasks turn a batch into a loss. Models keep natural forward signatures; the Task adapts.

A batch is a dict of tensors. A task names its target key(s); every other key is passed to the model as a
keyword argument, so `{"x": X, "y": y}` calls `model(x=X)` and `{"idx": x, "targets": y}` calls `model(idx=x)`.
Losses are means per target (per token for sequence tasks); `num_targets` lets the Trainer weight
micro-batches so that gradient accumulation and DDP equal one bigger batch.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batches import Batch


class Task:
    name = "task"
    target_key = "y"
    unit = "ex"  # what num_targets counts, for throughput (examples/s; token tasks say tok)

    def inputs(self, batch: Batch) -> Batch:
        return {k: v for k, v in batch.items() if k != self.target_key}

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return model(**self.inputs(batch))

    def loss(self, model: nn.Module, batch: Batch, with_metrics: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean loss over the batch's targets, and metrics (skipped when with_metrics is False: training steps
        do not need them, and on small models they cost as much as the loop itself)."""
        raise NotImplementedError

    def num_targets(self, batch: Batch) -> int:
        return len(batch[self.target_key])

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[Batch]) -> dict[str, float]:
        """Average loss and metrics over batches, weighted by targets; nothing but sums is kept in memory."""
        sums: dict[str, float] = {}
        total = 0
        for batch in batches:
            loss, metrics = self.loss(model, batch)
            n = int(self.num_targets(batch))
            total += n
            for k, v in {"loss": loss, **metrics}.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
        if total == 0:
            return {}
        return {k: v / total for k, v in sums.items()}


class Regression(Task):
    """Mean squared error; MAE reported beside it. Predictions and targets share a shape."""

    name = "regression"

    def loss(self, model, batch, with_metrics=True):
        pred, y = self.forward(model, batch), batch[self.target_key].to(torch.float32)
        pred = pred.reshape(y.shape).float()
        mse = F.mse_loss(pred, y)
        if not with_metrics:
            return mse, {}
        return mse, {"mse": mse.detach(), "mae": (pred - y).abs().mean().detach()}


class BinaryClassification(Task):
    """Log-loss (binary cross-entropy) on one logit per example; targets are 0/1."""

    name = "binary"

    def loss(self, model, batch, with_metrics=True):
        logit, y = self.forward(model, batch), batch[self.target_key].float()
        logit = logit.reshape(y.shape).float()
        loss = F.binary_cross_entropy_with_logits(logit, y)
        return loss, ({"accuracy": ((logit > 0).float() == y).float().mean()} if with_metrics else {})


class Perceptron(Task):
    """The perceptron criterion: loss = -t·s for misclassified points (t = ±1), else 0.

    With SGD, batch size 1 and lr 1 its gradient step is Rosenblatt's rule w += t·x on every mistake. A score of
    exactly 0 counts as a mistake, as in the classic rule (so learning starts from zero weights).
    """

    name = "perceptron"

    def loss(self, model, batch, with_metrics=True):
        score, y = self.forward(model, batch), batch[self.target_key].float()
        score = score.reshape(y.shape).float()
        t = 2 * y - 1
        wrong = t * score <= 0
        loss = torch.where(wrong, -t * score, torch.zeros_like(score)).mean()
        if not with_metrics:
            return loss, {}
        return loss, {"accuracy": 1 - wrong.float().mean(), "errors": wrong.float().sum()}


class Classification(Task):
    """Softmax cross-entropy over classes; evaluation adds macro-F1 and a confusion matrix."""

    name = "classification"

    def __init__(self, num_classes: int | None = None, label_smoothing: float = 0.0):
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    def loss(self, model, batch, with_metrics=True):
        logits, y = self.forward(model, batch).float(), batch[self.target_key].long()
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        return loss, ({"accuracy": (logits.argmax(-1) == y).float().mean()} if with_metrics else {})

    @torch.no_grad()
    def evaluate(self, model, batches):
        """One pass: weighted loss plus a confusion matrix (accuracy, macro-F1, per-class precision/recall)."""
        loss_sum, total, cm = 0.0, 0, None
        for batch in batches:
            logits, y = self.forward(model, batch).float(), batch[self.target_key].long()
            n = len(y)
            loss_sum += float(F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)) * n
            total += n
            k = self.num_classes or logits.size(-1)
            if cm is None:
                cm = torch.zeros(k, k, dtype=torch.long)
            cm += torch.bincount((y * k + logits.argmax(-1)).cpu(), minlength=k * k).view(k, k)
        if total == 0:
            return {}
        return {"loss": loss_sum / total, **classification_report(cm)}


def classification_report(cm: torch.Tensor) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall from a confusion matrix (rows = truth)."""
    cm = cm.double()
    tp = cm.diag()
    precision = tp / cm.sum(0).clamp(min=1)
    recall = tp / cm.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {
        "accuracy": float(tp.sum() / cm.sum().clamp(min=1)),
        "macro_f1": float(f1.mean()),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "confusion_matrix": cm.long().tolist(),
    }


class TokenCrossEntropy(Task):
    """Cross-entropy per token for sequence outputs (B, T, V); positions equal to `ignore_index` do not count.

    The loss is the mean over counted tokens, so a batch's weight is its number of real targets.
    """

    name = "tokens"
    unit = "tok"

    def __init__(self, target_key: str = "targets", ignore_index: int = -100, label_smoothing: float = 0.0):
        self.target_key, self.ignore_index, self.label_smoothing = target_key, ignore_index, label_smoothing

    def loss(self, model, batch, with_metrics=True):
        logits, y = self.forward(model, batch), batch[self.target_key]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(),
            y.reshape(-1).long(),
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )
        return loss, {}

    def num_targets(self, batch):
        return (batch[self.target_key] != self.ignore_index).sum()  # a tensor: no device sync

    def evaluate(self, model, batches):
        out = super().evaluate(model, batches)
        if "loss" in out:
            out["perplexity"] = float(torch.tensor(out["loss"]).exp())
        return out


class LanguageModeling(TokenCrossEntropy):
    """Next-token prediction: batch {"idx": (B,T), "targets": (B,T)}, model(idx) -> logits (B,T,V)."""

    name = "lm"

    def __init__(self, ignore_index: int = -100):
        super().__init__("targets", ignore_index)


class MaskedLM(TokenCrossEntropy):
    """BERT-style: batch {"input_ids", "labels"}, labels are -100 except at masked positions. The model is asked
    for the masked positions' logits only (`model(input_ids, predict_at=mask) -> (N, V)`), so the vocabulary
    projection costs ~15% of a full (B, T, V) one. (The boolean select syncs with the device once per step.)"""

    name = "mlm"

    def __init__(self):
        super().__init__("labels", -100)

    def loss(self, model, batch, with_metrics=True):
        y = batch["labels"]
        predicted = y != self.ignore_index
        logits = model(batch["input_ids"], predict_at=predicted)
        return F.cross_entropy(logits.float(), y[predicted].long()), {}


class Seq2Seq(TokenCrossEntropy):
    """Teacher forcing: batch {"src", "tgt_in", "tgt_out"}, model(src, tgt_in) -> logits; padding is ignored."""

    name = "seq2seq"

    def __init__(self, pad_id: int, label_smoothing: float = 0.0):
        super().__init__("tgt_out", pad_id, label_smoothing)
