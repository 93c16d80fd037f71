"""The one training skeleton. A recipe holds only domain code; `train(recipe, ...)` does the rest, the same way for
every recipe: options (new, or the saved ones on --resume), the run directory, the data check, torchrun ranks,
the Trainer (the only loop), the report line.

A recipe answers four questions, and two optional ones:
    prepare(opts, run, fitted)  read and check the data; fit the tokenizer/featurizer (or, when `fitted`, load the
                                run's own: resume and torchrun followers) and return batch sources + what it learnt
    build_model(opts, prep)     a new model (resume rebuilds the saved one from config.json)
    objective(opts, prep)       the engine Task that turns a batch into a loss
    evaluate(run, **kw)         metrics of a trained run on data (`tinytx eval`)
    summary(opts, result, prep) optional: the report line
    finish(run, model, prep)    optional: files written after training (a confusion matrix)
and may name where `--data -` (standard input) is copied: `stdin_copy = STDIN_CSV` for tables (default STDIN_TEXT).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ..engine import Task, TrainConfig, Trainer, best_of_restarts, pick_device, seed_everything
from ..engine.callbacks import summary_writer
from ..engine.checkpoint import WEIGHTS, save_weights
from ..engine.distributed import Dist, setup as setup_dist, teardown
from ..errors import TinytxError
from ..io import STDIN, copy_stdin
from ..models import registry
from ..options import flatten, get, make, with_values
from ..rundir import STDIN_TEXT, Run, RunDir, RunMeta, build_saved_model, file_hash

# what may change on --resume; everything else must equal the saved run
MAY_CHANGE_ON_RESUME = ("train.max_steps", "train.minutes", "train.device", "train.threads",
                        "train.checkpoint_interval", "train.progress", "train.log", "train.compile")


@dataclass
class Prepared:
    """What `prepare` hands to the rest of the recipe and to the Trainer."""

    train: Any  # a batch source (tinytx.data) or a dict of tensors
    val: Any = None
    info: dict[str, Any] = field(default_factory=dict)  # saved in config.json: what the run learnt from the data
    config: TrainConfig | None = None  # the training settings, when the recipe sizes them from the data
    state: dict[str, Any] = field(default_factory=dict)  # anything the recipe's other methods need (tokenizer, ...)
    callbacks: list = field(default_factory=list)  # Trainer callbacks of the recipe's own (before the caller's)


class Recipe(Protocol):
    task: str
    options: type

    def prepare(self, opts, run: RunDir, fitted: bool) -> Prepared: ...

    def build_model(self, opts, prep: Prepared) -> nn.Module: ...

    def objective(self, opts, prep: Prepared) -> Task: ...

    def evaluate(self, run: Run, **kw) -> dict[str, Any]: ...


# --- options on resume -----------------------------------------------------------------------------------------

def flag(name: str) -> str:
    return "--" + name.split(".")[-1].replace("_", "-")


def resumed_options(saved, given: dict[str, Any], data_fields: tuple[str, ...]):
    """The saved options with what may change taken from `given`; any other difference is refused."""
    changes, current = {}, flatten(saved)
    for name, value in given.items():
        if name in MAY_CHANGE_ON_RESUME or name in data_fields:
            changes[name] = value
        elif name in current and value != current[name]:
            raise TinytxError(f"{flag(name)} {value} differs from the run's {current[name]}; a resumed run keeps its "
                              f"options (only --max-steps, --minutes, --device, --threads, --checkpoint-interval, "
                              f"--progress, --log and the same data may change): start a new run to change it")
    return with_values(saved, changes)


def data_hashes(opts, fields: tuple[str, ...]) -> dict[str, str]:
    return {f: file_hash(get(opts, f)) for f in fields if get(opts, f) and Path(get(opts, f)).is_file()}


def check_same_data(opts, meta: RunMeta, fields: tuple[str, ...]) -> None:
    """On resume every data file that is there must be the one the run started with (its bytes, not its path)."""
    for name in fields:
        path, before = get(opts, name), meta.data.get(name)
        if path and before and Path(path).is_file() and file_hash(path) != before:
            raise TinytxError(f"{path}: is not the data the run started with (its contents changed); resume needs "
                              "the same data, or start a new run")


def stdin_option(values: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    """The data option given as '-' (standard input), or None; standard input can be read only once."""
    named = [f for f in fields if values.get(f) == STDIN]
    if len(named) > 1:
        raise TinytxError(f"{' and '.join(flag(f) for f in named)} are all '-': standard input can be read only once")
    return named[0] if named else None


# --- torchrun: rank 0 prepares, the others follow -------------------------------------------------------------

def _broadcast_error(dist: Dist, message: str | None) -> None:
    """Rank 0 tells the followers whether its preparation worked, so they never wait on a rank that failed."""
    if not dist.enabled:
        return
    box = [message]
    torch.distributed.broadcast_object_list(box, src=0)
    if box[0] is not None and not dist.is_main:
        raise TinytxError(f"rank 0 failed: {box[0]}")


def _prepare(recipe, opts, run: RunDir, resume: bool, dist: Dist) -> Prepared:
    if dist.is_main:
        try:
            prep = recipe.prepare(opts, run, fitted=resume)
        except TinytxError as e:
            _broadcast_error(dist, str(e))
            raise
        _broadcast_error(dist, None)
        return prep
    _broadcast_error(dist, None)
    return recipe.prepare(opts, run, fitted=True)  # the tokenizer / featurizer rank 0 wrote


# --- the skeleton ----------------------------------------------------------------------------------------------

def train(recipe, out: str | os.PathLike, options=None, given: dict[str, Any] | None = None, resume: bool = False,
          callbacks=(), replace: bool = False) -> dict[str, Any]:
    """Train a new run into `out` (from `options`, or from the flags in `given`), or continue it (`resume`).

    Returns the Trainer's result plus "summary" (the report line), "params" and "seconds". A run stopped by a signal
    returns with result["interrupted"] = the signal number, after its checkpoint."""
    given = dict(given or {})
    run = RunDir(out)
    fields = recipe.options.DATA
    # `--data -`: a new run copies standard input into the run before anything reads it; the data hash, the recipe
    # and --resume then read that copy like any file
    stdin_copy, reading = run / getattr(recipe, "stdin_copy", STDIN_TEXT), None
    if resume:
        if options is not None:  # what these options set beyond the defaults, as if typed as flags
            defaults = flatten(make(recipe.options, {"model": options.model} if hasattr(options, "model") else {}))
            given = {**{k: v for k, v in flatten(options).items() if v != defaults[k]}, **given}
        meta = run.open(recipe.task)
        if (name := stdin_option(given, fields)) is not None:  # the copy made at the start; stdin is not read
            if not stdin_copy.is_file():
                raise TinytxError(f"{run.path}: holds no copy of standard input ({stdin_copy.name}); it was not "
                                  f"started with {flag(name)} -, give its data file")
            given[name] = str(stdin_copy)
        opts = resumed_options(meta.options, given, fields)
        check_same_data(opts, meta, fields)
    else:
        opts = options if options is not None else make(recipe.options, given)
        if (reading := stdin_option({f: get(opts, f) for f in fields}, fields)) is not None:
            opts = with_values(opts, {reading: str(stdin_copy)})
        for name in recipe.options.REQUIRED:
            if not get(opts, name):
                raise TinytxError(f"{flag(name)} is required (unless you --resume a run)")
        meta = RunMeta(recipe.task, {}, opts, data=data_hashes(opts, fields))
    if opts.train.log == "tensorboard":
        summary_writer()  # a missing extra is said before any work
    if opts.train.threads:
        torch.set_num_threads(opts.train.threads)
    started_dist = not torch.distributed.is_available() or not torch.distributed.is_initialized()
    dist = setup_dist(pick_device(opts.train.device).type)
    if not resume and dist.is_main:
        run.create(meta, replace=replace)
    t0 = time.perf_counter()
    try:
        if reading is not None:
            if dist.enabled:
                raise TinytxError(f"{flag(reading)} -: torchrun's processes cannot share standard input; give a file")
            copy_stdin(stdin_copy, f"{flag(reading)} -")
            meta.data = data_hashes(opts, fields)
            run.write_config(meta)
        prep = _prepare(recipe, opts, run, resume, dist)
        seed_everything(opts.train.seed)
        if resume:
            model = build_saved_model(meta, run.path)
        else:
            model = recipe.build_model(opts, prep)
            meta.model, meta.info = registry.describe(model), prep.info
            if dist.is_main:
                run.write_config(meta)
        task = recipe.objective(opts, prep)
        cfg = prep.config or opts.train
        if isinstance(cfg.batch_size, str) and not isinstance(prep.train, dict):
            raise TinytxError(f"--batch-size {cfg.batch_size} does not apply to {recipe.task}: give a number of "
                              "examples per step")
        if getattr(opts, "restarts", 1) > 1:
            result = _restarts(recipe, opts, prep, task, cfg, run, meta, dist)
            model = prep.state["model"]  # the restart that was kept
        else:
            trainer = Trainer(model, task, prep.train, prep.val, cfg, out_dir=run.path, run_info=meta.to_json(),
                              callbacks=[*prep.callbacks, *callbacks], resume=resume)
            if resume and trainer.step >= trainer.max_steps:
                raise TinytxError(f"{run.path}: already at step {trainer.step} of {trainer.max_steps}; "
                                  "give a larger --max-steps to train further")
            result = trainer.fit()
            model = trainer.raw_model
    except BaseException:
        if not resume and dist.is_main:
            run.discard()  # a start that never reached its first checkpoint leaves nothing behind
        if started_dist:
            teardown()
        raise
    result.update(params=sum(p.numel() for p in model.parameters()), seconds=time.perf_counter() - t0,
                  rank=dist.rank)
    if not result.get("interrupted") and dist.is_main and hasattr(recipe, "finish"):
        recipe.finish(run, model, prep)
    result["summary"] = (recipe.summary(opts, result, prep) if hasattr(recipe, "summary")
                         else default_summary(opts, result))
    if started_dist:
        teardown()
    return result


def _restarts(recipe, opts, prep: Prepared, task: Task, cfg: TrainConfig, run: RunDir, meta: RunMeta,
              dist: Dist) -> dict[str, Any]:
    """Random restart through the engine: k seeds, keep the best on validation loss; save it as the run."""
    model, results = best_of_restarts(lambda: recipe.build_model(opts, prep), task, prep.train, prep.val, cfg,
                                      opts.restarts)
    best = min(results, key=lambda r: r["loss"])
    if dist.is_main:
        meta.info = {**meta.info, "restarts": results}
        run.write_config(meta, train=cfg.replace(seed=best["seed"]).to_dict())
        save_weights(model, run / WEIGHTS)
    prep.state["model"] = model
    return {"step": None, "stopped": None, "val": {k: v for k, v in best.items() if k != "seed"},
            "restarts": results, "interrupted": 0}


def default_summary(opts, result: dict[str, Any], what: str | None = None,
                    shown: tuple[str, ...] = ("loss", "accuracy", "macro_f1", "mse")) -> str:
    what = what or getattr(opts, "model", "model")
    line = f"trained {what} to step {result['step']} ({result['params']:,} params, {result['seconds']:.1f} s)"
    val = {k: v for k, v in (result.get("val") or {}).items() if k in shown and isinstance(v, float)}
    if val:
        line += " (val " + ", ".join(f"{k} {v:.4f}" for k, v in val.items()) + ")"
    if result.get("stopped"):
        line += f"; {result['stopped']}"
    return line

