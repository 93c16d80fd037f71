"""Flags that every sequence-model `tinytx train ...` command shares (defaults come from its options dataclass)."""
from __future__ import annotations


def add_run_flags(p, d) -> None:
    """Optimizer tail, evaluation, seed, hardware and resume flags; `d` is the command's default options."""
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--eval-interval", type=int, default=d.eval_interval)
    p.add_argument("--eval-batches", type=int, default=d.eval_batches)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device)
    p.add_argument("--dtype", default=d.dtype, choices=["fp32", "bf16", "fp16"])
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--no-progress", action="store_true")
