"""Training recipes: one module per pipeline (tabular, classify, mlm, word2vec, lm, seq2seq), each only domain code
behind the protocol in base.py, all trained by the one skeleton `base.train`.

Recipes are looked up by task name and imported on first use, so the command line (which needs only the options
in tinytx.options) starts without torch.
"""
from __future__ import annotations

import importlib

from ..errors import TinytxError
from ..options import OPTIONS

MODULES = {task: task for task in OPTIONS}  # tinytx/recipes/<task>.py holds RECIPE for each task in options.py


def get(task: str):
    """The recipe object for a task name (the `RECIPE` of tinytx/recipes/<module>.py)."""
    if task not in MODULES:
        raise TinytxError(f"unknown recipe {task!r}; choose one of {', '.join(MODULES)}")
    return importlib.import_module(f"{__name__}.{MODULES[task]}").RECIPE


def train(task: str, out, options=None, **kw):
    """Train (or resume, with resume=True) a run of `task`; see tinytx.recipes.base.train."""
    from .base import train as train_recipe  # base imports torch; the name table above must not

    return train_recipe(get(task), out, options, **kw)
