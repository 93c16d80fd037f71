"""tinytx: a small, fast and honest NLP toolkit on PyTorch."""
__version__ = "0.1.0"

from .engine import Task, TrainConfig, Trainer  # noqa: E402
from .errors import TinytxError  # noqa: E402
from .run import Run, load_run  # noqa: E402

__all__ = ["Run", "Task", "TinytxError", "TrainConfig", "Trainer", "load_run", "__version__"]
