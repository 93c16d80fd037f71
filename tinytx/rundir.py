"""The run directory: the unit a user moves around. Every file name is here once; create, refuse, resume, load.

    RUN/config.json          format marker, task, model (registry name + config), options, info, data hashes, train
    RUN/model.safetensors    the weights to use (the best ones when there was validation data)
    RUN/trainer_state.pt     everything resume needs (last weights, optimizer, RNG, step, callbacks)
    RUN/metrics.jsonl        one line per log step / evaluation
    RUN/tensorboard/         the same numbers as TensorBoard event files (--log tensorboard)
    RUN/data/                a language model's token files; a copy of standard input (--data -)
    RUN/tokenizer.json ...   what the recipe needs to rebuild its inputs (tokenizer, src_tokenizer, features)

A directory is *ours* when its config.json carries FORMAT. tinytx only ever writes into an empty directory or one
of its own, and only ever removes the files named here, in a directory of its own.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import __version__
from .engine import pick_device
from .engine.checkpoint import BEST, CONFIG, METRICS, STATE, TENSORBOARD, WEIGHTS, load_weights
from .errors import TinytxError
from .features import BowFeaturizer
from .generate import generate_text
from .io import TMP_SUFFIX, read_json, write_json
from .models import registry
from .options import OPTIONS, from_dict, to_dict
from .predict import predict
from .tokenizers import Tokenizer, load_tokenizer
from .translate import translate

FORMAT = "tinytx-run/1"
TOKENIZER, SRC_TOKENIZER, FEATURES = "tokenizer.json", "src_tokenizer.json", "features.json"
CONFUSION, DATA_DIR = "confusion_matrix.json", "data"
TRAIN_TOKENS, VAL_TOKENS = f"{DATA_DIR}/train.bin", f"{DATA_DIR}/val.bin"  # a language-model run's token files
# `--data -`: standard input, copied into the run once (then read like a file, and by --resume); tables as csv
STDIN_TEXT, STDIN_CSV = f"{DATA_DIR}/stdin.txt", f"{DATA_DIR}/stdin.csv"
STDINS = (STDIN_TEXT, STDIN_CSV)
# every file a run can hold; nothing else is ever removed
OWN_FILES = (CONFIG, WEIGHTS, BEST, STATE, METRICS, TOKENIZER, SRC_TOKENIZER, FEATURES, CONFUSION)
TASK_NAMES = {"lm": "language-model", "classify": "classification", "mlm": "masked-LM", "word2vec": "word2vec",
              "seq2seq": "seq2seq", "tabular": "tabular"}


def file_hash(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes: resume checks that --data is the same data, wherever it lives now."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise TinytxError(f"{path}: cannot read ({e.strerror})") from None
    return h.hexdigest()


@dataclass
class RunMeta:
    """config.json, typed: `options` and `info` are the recipe's dataclasses (tinytx.options)."""

    task: str
    model: dict[str, Any]  # {"name": registry name, "config": {...}}
    options: Any
    info: dict[str, Any] = field(default_factory=dict)  # what the recipe learnt from the data (labels, stats, ...)
    data: dict[str, str] = field(default_factory=dict)  # data option -> sha256 when the run started

    def to_json(self) -> dict[str, Any]:
        """Everything but the training settings, which the Trainer writes itself (it may size max_steps)."""
        options = {k: v for k, v in to_dict(self.options).items() if k != "train"}
        return {"format": FORMAT, "version": __version__, "task": self.task, "model": self.model,
                "options": options, "info": self.info, "data": self.data}

    @classmethod
    def from_json(cls, config: dict[str, Any], where: Path) -> "RunMeta":
        if config.get("format") != FORMAT:
            raise TinytxError(f"{where}: not a run this tinytx can read (made by an older version?)")
        task = config.get("task")
        if task not in OPTIONS:
            raise TinytxError(f"{where}: unknown task {task!r}")
        corrupt = f"{where / CONFIG}: corrupt run configuration"
        model = config.get("model")  # {} until the recipe has built the model (a start, a torchrun follower)
        if not (isinstance(model, dict) and (model == {} or (isinstance(model.get("name"), str)
                                                             and isinstance(model.get("config"), dict)))):
            raise TinytxError(f"{corrupt} (\"model\" must name a model and its config)")
        for key in ("options", "train", "info", "data"):
            if not isinstance(config.get(key, {}), dict):
                raise TinytxError(f"{corrupt} (\"{key}\" must be an object)")
        try:
            options = from_dict(OPTIONS[task], {**config.get("options", {}), "train": config.get("train", {})})
        except (TinytxError, TypeError, ValueError) as e:  # a hand-edited value: TrainConfig's checks, or a type
            raise TinytxError(f"{corrupt} ({e})") from None
        return cls(task, model, options, config.get("info", {}), config.get("data", {}))


class RunDir:
    """A run directory on disk. `create` for a new run, `open` to resume one; `discard` undoes a failed start."""

    def __init__(self, path: str | os.PathLike):
        if not str(path):
            raise TinytxError("--out is required: the run directory to write")
        self.path = Path(path)
        self.made_dir = False

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # --- what is there ------------------------------------------------------------------------------------------
    def is_ours(self) -> bool:
        try:
            return read_json(self.path / CONFIG).get("format") == FORMAT
        except (TinytxError, AttributeError):
            return False

    def has_checkpoint(self) -> bool:
        """A trainer state, or weights (a random-restart run saves only those)."""
        return (self.path / STATE).exists() or (self.path / WEIGHTS).exists()

    def meta(self) -> RunMeta:
        return RunMeta.from_json(read_config(self.path), self.path)

    # --- a new run ----------------------------------------------------------------------------------------------
    def create(self, meta: RunMeta, replace: bool = False) -> None:
        """Claim the directory for a new run and write its config.json.

        Refused: a file, a non-empty directory that is not a tinytx run, a run that has a checkpoint (unless
        `replace`, which only the demo uses on its own runs). A run that never reached its first checkpoint is
        started again (its files are ours)."""
        p = self.path
        if p.exists() and not p.is_dir():
            raise TinytxError(f"{p}: is a file; --out must be a directory")
        if p.is_dir() and any(p.iterdir()):
            if not self.is_ours():
                raise TinytxError(f"{p}: is not empty and is not a tinytx run; choose another --out "
                                  "(tinytx never writes into a directory it did not make)")
            if self.has_checkpoint() and not replace:
                raise TinytxError(f"{p}: already holds a run; continue it with --resume or choose another --out")
            self.remove_own_files()
        try:
            if not p.exists():
                p.mkdir(parents=True)
                self.made_dir = True
            self.write_config(meta)
        except (OSError, TinytxError) as e:
            self.discard()  # an unwritable directory: leave nothing behind that blocks the next try
            if isinstance(e, TinytxError):
                raise
            raise TinytxError(f"{p}: cannot write the run directory ({e.strerror})") from None

    def write_config(self, meta: RunMeta, train: dict[str, Any] | None = None) -> None:
        write_json(self.path / CONFIG, {**meta.to_json(), **({"train": train} if train is not None else {})})

    def discard(self) -> None:
        """Undo a start that failed before its first checkpoint: our files go, and the directory if we made it."""
        if self.has_checkpoint() or not self.path.is_dir():
            return
        self.remove_own_files()
        if self.made_dir:
            try:
                self.path.rmdir()
            except OSError:
                pass  # something else was put there meanwhile: leave it

    def remove_own_files(self) -> None:
        for name in OWN_FILES:
            (self.path / name).unlink(missing_ok=True)
        data = self.path / DATA_DIR
        if data.is_dir():
            for f in data.iterdir():
                if f.suffix in (".bin", ".json") or f.name.endswith(TMP_SUFFIX) or f"{DATA_DIR}/{f.name}" in STDINS:
                    f.unlink()
            if not any(data.iterdir()):
                data.rmdir()
        events = self.path / TENSORBOARD
        if events.is_dir():
            for f in events.glob("events.out.tfevents.*"):
                f.unlink()
            if not any(events.iterdir()):
                events.rmdir()
        self.remove_stale_temp_files()

    def remove_stale_temp_files(self) -> None:
        """Temp files a kill -9 left mid-write (the file they were replacing is whole)."""
        for folder in (self.path, self.path / DATA_DIR):
            if folder.is_dir():
                for f in folder.glob(f".*{TMP_SUFFIX}"):
                    f.unlink(missing_ok=True)

    # --- resume ---------------------------------------------------------------------------------------------------
    def open(self, task: str) -> RunMeta:
        """The saved run to continue: it must be a `task` run with a checkpoint."""
        meta = require(self.path, task)
        if not (self.path / STATE).exists():
            raise TinytxError(f"{self.path}: nothing to resume (the run never reached its first checkpoint); "
                              "start it again without --resume")
        self.remove_stale_temp_files()
        return meta

    # --- files a recipe writes ----------------------------------------------------------------------------------
    def save_tokenizer(self, tokenizer: Tokenizer, name: str = TOKENIZER) -> None:
        tokenizer.save(self.path / name)

    def load_tokenizer(self, name: str = TOKENIZER) -> Tokenizer:
        if not (self.path / name).exists():
            raise TinytxError(f"{self.path}: has no {name}")
        return load_tokenizer(self.path / name)


# --- reading a run -------------------------------------------------------------------------------------------------

def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TinytxError(f"{run_dir}: no such run directory")
    if not (run_dir / CONFIG).exists():
        raise TinytxError(f"{run_dir}: not a tinytx run (no {CONFIG})")
    config = read_json(run_dir / CONFIG)
    if not isinstance(config, dict):
        raise TinytxError(f"{run_dir / CONFIG}: not a run configuration")
    return config


def require(run_dir: str | os.PathLike, task: str | None = None) -> RunMeta:
    """The run's metadata; with `task`, refuse a run of another task (the one "not a X run" check)."""
    meta = RunMeta.from_json(read_config(run_dir), Path(run_dir))
    if task is not None and meta.task != task:
        raise TinytxError(f"{run_dir}: not a {TASK_NAMES.get(task, task)} run (it is a "
                          f"{TASK_NAMES.get(meta.task, meta.task)} run)")
    return meta


def build_saved_model(meta: RunMeta, run_dir: str | os.PathLike) -> nn.Module:
    """The model named in config.json, untrained; a config that does not build one is reported in one line."""
    if not meta.model:
        raise TinytxError(f"{run_dir}: has no model yet (the run never reached its first checkpoint)")
    try:
        return registry.build(meta.model["name"], meta.model["config"])
    except TinytxError:
        raise
    except (TypeError, ValueError) as e:
        raise TinytxError(f"{Path(run_dir) / CONFIG}: the {meta.model['name']} model config does not build ({e})") \
            from None


def load_model(run_dir: str | os.PathLike, meta: RunMeta | None = None, weights: str = WEIGHTS) -> nn.Module:
    """Rebuild the model named in config.json and load its weights (refusing NaN/inf weights)."""
    run_dir = Path(run_dir)
    meta = meta or require(run_dir)
    model = build_saved_model(meta, run_dir)
    if not (run_dir / weights).exists():
        raise TinytxError(f"{run_dir}: has no {weights} (the run never reached its first checkpoint)")
    load_weights(model, run_dir / weights)
    for name, p in model.state_dict().items():
        if p.is_floating_point() and not torch.isfinite(p).all():
            raise TinytxError(f"{run_dir / weights}: weight {name} holds NaN or inf; the file is corrupt")
    return model


@dataclass
class Run:
    """A trained run, loaded: model, what rebuilds its inputs (tokenizers or bag-of-words featurizer), and its typed
    options and info. The Python API's way to use a model.

        run = tinytx.load_run("runs/demo")
        print(run.generate("ROMEO:", max_new_tokens=100))
    """

    path: Path
    meta: RunMeta
    model: nn.Module
    tokenizer: Tokenizer | None = None  # the target-side tokenizer for seq2seq
    src_tokenizer: Tokenizer | None = None  # seq2seq with separate vocabularies
    featurizer: BowFeaturizer | None = None  # bag-of-words classifiers

    @property
    def task(self) -> str:
        return self.meta.task

    @property
    def options(self):
        return self.meta.options

    @property
    def info(self) -> dict[str, Any]:
        return self.meta.info

    def generate(self, prompt: str, max_new_tokens: int = 100, **kwargs) -> str:
        """Continue `prompt` (language-model runs). See tinytx.generate.generate_text for the options."""
        return generate_text(self, prompt, max_new_tokens=max_new_tokens, **kwargs)

    def translate(self, sentences, beam: int = 4, **kwargs):
        """Translate sentences (seq2seq runs). See tinytx.translate.translate for the options."""
        return translate(self, sentences, beam=beam, **kwargs)

    def predict(self, texts, **kwargs):
        """(label, probability) for each text (classification runs). See tinytx.predict.predict."""
        return predict(self, texts, **kwargs)


def load_run(path: str | os.PathLike, device: str = "cpu", weights: str = WEIGHTS, task: str | None = None) -> Run:
    """Load a run directory; checks that the tokenizer and the model agree on the vocabulary."""
    path = Path(path)
    meta = require(path, task)
    model = load_model(path, meta, weights).to(pick_device(device)).eval()
    tokenizer = None
    if (path / TOKENIZER).exists():
        tokenizer = load_tokenizer(path / TOKENIZER)
        model_vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        if model_vocab is not None and tokenizer.vocab_size != model_vocab:
            raise TinytxError(
                f"{path}: tokenizer has {tokenizer.vocab_size} tokens but the model was built for {model_vocab}; "
                "the tokenizer.json does not belong to this model"
            )
    src = load_tokenizer(path / SRC_TOKENIZER) if (path / SRC_TOKENIZER).exists() else None
    featurizer = BowFeaturizer.from_dict(read_json(path / FEATURES)) if (path / FEATURES).exists() else None
    return Run(path=path, meta=meta, model=model, tokenizer=tokenizer, src_tokenizer=src, featurizer=featurizer)
