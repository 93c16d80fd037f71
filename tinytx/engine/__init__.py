"""The one training engine: Trainer + Task + TrainConfig.

Names load on first use, so `tinytx.engine.config` (TrainConfig, which the command line's flags come from) is
importable without torch.
"""
import importlib

_NAMES = {
    "Callback": "callbacks", "EarlyStopping": "callbacks", "TimeLimit": "callbacks", "TrainConfig": "config",
    "best_of_restarts": "restarts", "Trainer": "trainer", "pick_device": "trainer", "seed_everything": "trainer",
    **{name: "tasks" for name in ("BinaryClassification", "Classification", "LanguageModeling", "MaskedLM",
                                   "Perceptron", "Regression", "Seq2Seq", "Task", "TokenCrossEntropy")},
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
