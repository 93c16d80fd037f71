"""The files the Trainer writes: config.json, model.safetensors, best.safetensors, trainer_state.pt, metrics.jsonl
(and tensorboard/ with --log tensorboard).

The engine owns these names; tinytx.rundir names the rest of a run directory and re-exports these.

Every write is atomic (temp file + rename), so a run killed at any moment leaves the previous checkpoint whole.
Loading never unpickles arbitrary objects: weights are safetensors and the trainer state is read with
`weights_only=True` (tensors, numbers, strings, lists, dicts only).
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import TinytxError
from ..io import atomic_path, write_json

CONFIG, WEIGHTS, STATE, METRICS, BEST = "config.json", "model.safetensors", "trainer_state.pt", "metrics.jsonl", "best.safetensors"
TENSORBOARD = "tensorboard"  # the folder of TensorBoard event files (--log tensorboard)


def tied_names(state: dict[str, torch.Tensor]) -> list[list[str]]:
    """A model's state-dict names grouped by tensor: a group of more than one is a tied weight (a shared
    embedding / output matrix), stored once. Tensors that only share a storage are not tied: cuDNN keeps a CUDA
    GRU's weights as views of one flat buffer, each its own weight."""
    groups: dict[Any, list[str]] = {}
    for name, t in state.items():
        key = (t.data_ptr(), t.dtype, tuple(t.shape), t.stride()) if t.numel() else name
        groups.setdefault(key, []).append(name)
    return list(groups.values())


def save_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """The weights as safetensors, each tied group once (under its first name), each tensor a CPU copy of its own
    (safetensors refuses tensors that share memory)."""
    state = model.state_dict()
    tensors = {names[0]: state[names[0]].detach().to("cpu", copy=True).contiguous() for names in tied_names(state)}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})


def first_line(e: BaseException) -> str:
    """The informative line of a library's (often multi-line) message: an error message stays one line."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    detail = [line for line in lines[1:] if not line.endswith(":")]
    return (detail[0] if lines and lines[0].endswith(":") and detail else lines[0] if lines else type(e).__name__)


def _check_weight_kinds(model: nn.Module, path: str | os.PathLike) -> None:
    """Refuse a file whose tensors are integers where the model has floats (or the reverse): loading would
    silently convert them into a different model."""
    params = model.state_dict()
    with safe_open(str(path), framework="pt") as f:
        for name in f.keys():
            if name in params:
                saved = f.get_slice(name).get_dtype()
                saved_float = saved.upper().startswith(("F", "BF"))
                if saved_float != params[name].is_floating_point():
                    raise TinytxError(f"{path}: weight {name} is stored as {saved}, the model needs "
                                      f"{str(params[name].dtype).replace('torch.', '')}; the file does not belong "
                                      "to this model")


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    if not Path(path).exists():
        raise TinytxError(f"{path}: no weights file (was the run trained to its first checkpoint?)")
    try:
        _check_weight_kinds(model, path)
        state = load_file(str(path))
        for names in tied_names(model.state_dict()):  # a tied group is stored once, under any one of its names
            stored = next((state[n] for n in names if n in state), None)
            if stored is not None:
                state.update({n: stored for n in names if n not in state})
        model.load_state_dict(state, strict=True)
    except TinytxError:
        raise
    except RuntimeError as e:
        raise TinytxError(f"{path}: weights do not fit the model in config.json ({first_line(e)})") from None
    except OSError as e:
        raise TinytxError(f"{path}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # safetensors' own error for a truncated or corrupt file
        raise TinytxError(f"{path}: not a readable safetensors file, truncated or corrupt ({first_line(e)})") from None


def save_config(run_dir: str | os.PathLike, config: dict[str, Any]) -> None:
    write_json(Path(run_dir) / CONFIG, config)


# --- trainer state -----------------------------------------------------------------------------------------

def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_trainer_state(run_dir: str | os.PathLike, state: dict[str, Any]) -> None:
    with atomic_path(Path(run_dir) / STATE) as tmp:
        torch.save(state, tmp)


def load_trainer_state(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The resumable state, checked: a truncated, corrupt or foreign file (or one holding NaN weights) is refused
    in one line, before anything is restored from it."""
    path = Path(run_dir) / STATE
    if not path.exists():
        raise TinytxError(f"{run_dir}: nothing to resume (no {STATE}); start without --resume")
    corrupt = f"{path}: not a trainer state this tinytx can read (truncated, corrupt or not made by tinytx)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (PermissionError, IsADirectoryError) as e:
        raise TinytxError(f"{path}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # a corrupt or foreign file: say so in one line (torch's own message is a page long)
        detail = str(e).split("WeightsUnpickler error:")[-1] if "WeightsUnpickler" in str(e) else str(e)
        detail = " ".join(detail.split()).split(" Check the documentation")[0]
        raise TinytxError(f"{corrupt} ({type(e).__name__}{': ' + detail if detail else ''})") from None
    need = {"step": int, "model": dict, "optimizer": dict, "rng": dict}
    missing = [k for k, tp in need.items() if not isinstance(state, dict) or not isinstance(state.get(k), tp)]
    if missing:
        raise TinytxError(f"{corrupt} (missing {', '.join(missing)})")
    for name, t in state["model"].items():
        if not isinstance(t, torch.Tensor):
            raise TinytxError(f"{corrupt} (weight {name} is not a tensor)")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise TinytxError(f"{path}: weight {name} holds NaN or inf; the trainer state is corrupt")
    return state
