"""torchrun support: the Trainer runs unchanged under `torchrun --nproc_per_node N`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; we start one process group (nccl on GPU, gloo on CPU), wrap the
model in DDP, and let rank 0 alone log and write checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of a tensor over all processes (itself in a world of one); stays on the device."""
        if not self.enabled:
            return x
        x = x.clone()
        dist.all_reduce(x)
        return x

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def setup(device_type: str) -> Dist:
    """Join the process group torchrun describes in the environment; a plain run gets a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
