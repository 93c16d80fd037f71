"""The one training engine: Trainer + Task + TrainConfig."""
from .callbacks import Callback, EarlyStopping
from .config import TrainConfig
from .restarts import best_of_restarts
from .tasks import (
    BinaryClassification,
    Classification,
    LanguageModeling,
    MaskedLM,
    Perceptron,
    Regression,
    Seq2Seq,
    Task,
    TokenCrossEntropy,
)
from .trainer import Trainer, pick_device, seed_everything

__all__ = [
    "BinaryClassification", "Callback", "Classification", "EarlyStopping", "LanguageModeling", "MaskedLM",
    "Perceptron", "Regression", "Seq2Seq", "Task", "TokenCrossEntropy", "TrainConfig", "Trainer",
    "best_of_restarts", "pick_device", "seed_everything",
]
