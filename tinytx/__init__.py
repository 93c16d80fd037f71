"""tinytx: a small, fast and honest NLP toolkit on PyTorch.

Names are imported lazily, so `import tinytx.tokenizers` (which needs no torch) stays light.
"""
__version__ = "0.1.0"

_LAZY = {
    "Task": "tinytx.engine", "TrainConfig": "tinytx.engine", "Trainer": "tinytx.engine",
    "TinytxError": "tinytx.errors", "Run": "tinytx.rundir", "load_run": "tinytx.rundir", "train": "tinytx.recipes",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tinytx' has no attribute {name!r}")
