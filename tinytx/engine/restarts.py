"""Random restart: train the same model from k seeds and keep the one that does best on validation."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .config import TrainConfig
from .tasks import Task
from .trainer import Trainer, seed_everything


def best_of_restarts(
    make_model: Callable[[], nn.Module],
    task: Task,
    train,
    val,
    config: TrainConfig,
    restarts: int,
    metric: str = "loss",
    mode: str = "min",
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Seeds config.seed, config.seed+1, ...; returns the best model and every restart's validation metrics."""
    if val is None:
        raise ValueError("random restart needs validation data to choose the best run")
    best_model, best_value, results = None, None, []
    for i in range(restarts):
        cfg = config.replace(seed=config.seed + i)
        seed_everything(cfg.seed)  # the model's initial weights come from this seed
        model = make_model()
        trainer = Trainer(model, task, train, val, cfg)
        trainer.fit()
        metrics = trainer.evaluate()
        results.append({"seed": cfg.seed, **{k: v for k, v in metrics.items() if isinstance(v, float)}})
        value = metrics[metric]
        if best_value is None or (value < best_value if mode == "min" else value > best_value):
            best_model, best_value = model, value
    return best_model, results
