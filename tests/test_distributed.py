"""torchrun: 2 processes (DDP over gloo on CPU) train to the same weights as one process with the same global batch."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tinytx.cli import main

LINE = str(Path(__file__).resolve().parents[1] / "data" / "tabular" / "line.csv")
# 40 rows, 20% validation -> 32 training rows; batch 8 -> 4 rows per process per step, no short batch
ARGS = ["--model", "mlp", "--data", LINE, "--target", "y", "--hidden", "8", "--activation", "tanh",
        "--batch-size", "8", "--optimizer", "adam", "--lr", "0.01", "--max-steps", "24", "--eval-interval", "8",
        "--grad-accum", "1", "--no-progress", "--device", "cpu"]


def torchrun_available() -> bool:
    return (
        importlib.util.find_spec("torch.distributed.run") is not None
        and torch.distributed.is_available()
        and torch.distributed.is_gloo_available()
    )


def _weights(run):
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


@pytest.mark.slow
@pytest.mark.skipif(not torchrun_available(), reason="torchrun / gloo not available")
def test_two_processes_equal_one_process(tmp_path):
    single = tmp_path / "single"
    assert main(["train", "tabular", "-o", str(single), *ARGS]) == 0

    ddp = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "tinytx", "train", "tabular", "-o", str(ddp), *ARGS],
        env=env, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0 and "gloo" in proc.stderr.lower() and "address" in proc.stderr.lower():
        pytest.skip("gloo could not open a local socket here")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("trained mlp to step 24") == 1  # rank 0 alone reports
    a, b = _weights(single), _weights(ddp)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), (k, (a[k] - b[k]).abs().max())
    assert not torch.equal(a["out.weight"], _initial_out_weight())  # it did train


def _initial_out_weight():
    from tinytx.engine import seed_everything
    from tinytx.models import build

    seed_everything(1337)
    return build("mlp", {"in_features": 1, "out_features": 1, "hidden_sizes": [8], "activation": "tanh"}).out.weight
