"""The files the Trainer writes: config.json, model.safetensors, best.safetensors, trainer_state.pt, metrics.jsonl.

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
from safetensors.torch import load_model, save_model
from torch import nn

from ..errors import TinytxError
from ..io import atomic_path, write_json

CONFIG, WEIGHTS, STATE, METRICS, BEST = "config.json", "model.safetensors", "trainer_state.pt", "metrics.jsonl", "best.safetensors"


def save_weights(model: nn.Module, path: str | os.PathLike) -> None:
    # save_model (not save_file) handles tied weights such as a shared embedding / output matrix
    with atomic_path(path) as tmp:
        save_model(model, tmp)


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    if not Path(path).exists():
        raise TinytxError(f"{path}: no weights file (was the run trained to its first checkpoint?)")
    try:
        load_model(model, str(path), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise TinytxError(f"{path}: weights do not fit the model in config.json ({first})") from None
    except Exception as e:  # safetensors' own error for a truncated or corrupt file
        raise TinytxError(f"{path}: not a readable safetensors file, truncated or corrupt ({e})") from None


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
    path = Path(run_dir) / STATE
    if not path.exists():
        raise TinytxError(f"{run_dir}: nothing to resume (no {STATE}); start without --resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or foreign file: say so in one line
        raise TinytxError(f"{path}: cannot read trainer state ({type(e).__name__}: {e})") from None
