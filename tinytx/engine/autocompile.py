"""torch.compile where it pays, decided by measurement (TrainConfig.compile None = auto).

A compiled step is not always faster: on a 2-core AVX512-BF16 CPU a 4-layer 128-wide GPT steps 1.2x faster
compiled (after ~17 s of compiling), a 6-layer 384-wide one 1.6x *slower*, and a cold compile costs 15-50 s.
So auto mode times some eager steps; if the rest of the run would take long enough for a compile to pay back,
it compiles and times some compiled steps; it keeps whichever step is faster. A compile that fails (no C++
compiler, an unsupported op) falls back to eager with a warning: the run never fails for it.

    --compile      always compile (errors are errors)
    --no-compile   never
    (default)      measured, as above (not under torchrun: every rank must decide alike, so there it is off)
"""
from __future__ import annotations

import importlib.util
import shutil
import statistics
import sys

import torch

MIN_REMAINING_S = 60.0  # a cold compile takes 15-50 s and saves up to ~35%: a shorter run rarely wins it back
TIMED = 8  # steps timed in each mode
KEEP_BELOW = 0.9  # the compiled step must be at least 10% faster to be kept


def can_compile(device: torch.device) -> bool:
    """Whether torch.compile's default backend has its tools here: a C++ compiler for CPU, Triton for CUDA."""
    if device.type == "cpu":
        return any(shutil.which(c) for c in ("g++", "c++", "clang++"))
    if device.type == "cuda":
        return importlib.util.find_spec("triton") is not None
    return False


class AutoCompile:
    """The states: "eager" (timing eager steps) -> "trial" (compiled, timing) -> "on" or "off" (decided)."""

    def __init__(self, setting: bool | None, device: torch.device):
        self.state = {True: "on", False: "off"}.get(setting, "eager" if can_compile(device) else "off")
        self.device = device
        self.times: dict[str, list[float]] = {"eager": [], "trial": []}
        self.note = ""  # what was decided, for the log

    @property
    def decided(self) -> bool:
        return self.state in ("on", "off")

    def timing(self) -> bool:
        """Whether the next step is timed (on CUDA the caller synchronises around it)."""
        return not self.decided

    def record(self, seconds: float, remaining_steps: int, remaining_s: float | None) -> str | None:
        """Record one step's time. Returns "compile" when the caller should switch to the compiled model,
        "revert" when it should go back to eager, else None. The first step of each mode is its warm-up (or the
        compile itself) and not counted."""
        times = self.times[self.state]
        times.append(seconds)
        if len(times) < TIMED + 1:
            return None
        per_step = statistics.median(times[1:])
        if self.state == "eager":
            eager_left = per_step * remaining_steps
            if remaining_s is not None:  # a time budget ends the run first
                eager_left = min(eager_left, remaining_s)
            if eager_left < MIN_REMAINING_S:
                self.state, self.note = "off", ""
                return None
            self.state = "trial"
            return "compile"
        eager = statistics.median(self.times["eager"][1:])
        keep = per_step < KEEP_BELOW * eager
        self.state = "on" if keep else "off"
        self.note = (f"torch.compile: {per_step * 1e3:.1f} ms/step compiled vs {eager * 1e3:.1f} eager "
                     f"(compiling took {self.times['trial'][0]:.0f} s): {'kept' if keep else 'not kept'}")
        return None if keep else "revert"

    def failed(self, error: BaseException) -> None:
        self.state = "off"
        first_line = (str(error).splitlines() or [""])[0][:200]
        self.note = f"torch.compile failed ({type(error).__name__}: {first_line}); training on without it"
        print(f"tinytx: warning: {self.note}", file=sys.stderr)
