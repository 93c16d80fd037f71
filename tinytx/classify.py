"""Text classification end to end: CSV -> features or tokens -> model -> the one Trainer -> run dir -> eval/predict.

    from tinytx.classify import ClassifyOptions, train_classify, evaluate_classify
    train_classify(ClassifyOptions(data="data/spamassassin/train.csv.gz", out="runs/spam", model="bow"))
    evaluate_classify("runs/spam", "data/spamassassin/test.csv.gz")["accuracy"]
    tinytx.load_run("runs/spam").predict(["FREE money!!!"])   # [("spam", 0.98)]

Models: bow (sparse bag-of-words + softmax regression / MLP), embedding (fastText-style), gru, transformer (from
scratch, or initialised from a masked-LM run made by `train_mlm`). The run keeps what eval/predict need to rebuild
the inputs exactly: the label list (config.json extra), tokenizer.json (token models) or features.json (bow).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .engine import TrainConfig, Trainer
from .engine import checkpoint as ckpt
from .engine.resume import check_same_rows, options_record, refuse_existing, saved_options, word_tokenizer
from .engine.tasks import Classification, MaskedLM
from .errors import TinytxError
from .io import read_json, write_json
from .models import build, registry

MODELS = ("bow", "embedding", "gru", "transformer")
REGISTRY_NAME = {"bow": "bow", "embedding": "embedding", "gru": "gru_classifier", "transformer": "transformer_classifier"}
TOKENIZER, FEATURES, CONFUSION = "tokenizer.json", "features.json", "confusion_matrix.json"
# per-model defaults: (epochs, batch size, learning rate)
DEFAULTS = {"bow": (5, 64, 2e-2), "embedding": (10, 32, 5e-3), "gru": (6, 32, 2e-3), "transformer": (8, 32, 5e-4)}


@dataclass
class ClassifyOptions:
    """Everything `tinytx train classify` accepts."""

    data: str
    out: str
    model: str = "bow"
    text_col: str = "text"
    label_col: str = "label"
    val_fraction: float = 0.1
    # bag-of-words features
    features: str = "tfidf"  # binary | count | tfidf
    ngrams: int = 1
    min_df: int = 1
    hidden: int = 0  # bow: 0 = softmax regression, > 0 = MLP hidden size
    # word tokenizer (token models)
    vocab_size: int = 20_000
    min_freq: int = 2
    lowercase: bool = True
    stop_words: bool = False
    max_len: int = 256
    # model shape
    n_embd: int = 64  # embedding / gru
    bigram_buckets: int = 0  # embedding: hashed bigram rows (0 = off)
    hidden_size: int = 64  # gru
    bidirectional: bool = True
    n_layer: int = 2  # transformer (gru uses 1 unless told)
    gru_layers: int = 1
    n_head: int = 4
    d_model: int = 128
    d_ff: int = 256
    pooling: str = "cls"  # transformer: cls | mean
    dropout: float = 0.1
    # transfer learning
    init_from: str | None = None  # transformer: a masked-LM run
    freeze: str = "none"  # body | none
    init_embeddings: str | None = None  # embedding / gru: a word2vec run
    freeze_embeddings: bool = False
    # training recipe (None = per-model default)
    epochs: float | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float = 0.0
    warmup: int = 0
    patience: int | None = None
    seed: int = 1337
    device: str = "auto"
    dtype: str = "fp32"
    compile: bool = False
    progress: bool = True
    resume: bool = False  # continue the run in `out` with its saved options (see engine/resume.py)


# --- reading labelled data -------------------------------------------------------------------------------------

def read_labelled(path: str, text_col: str, label_col: str) -> tuple[list[str], list[str]]:
    """(texts, labels as strings) from a csv/jsonl file; empty texts are refused with the row number."""
    from .data.sources import read_csv_columns

    texts, labels = read_csv_columns(path, text_col, label_col)
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise TinytxError(f"{path}: {len(empty)} row(s) have an empty {text_col!r} (first: data row {empty[0] + 1})")
    return texts, [str(v) for v in labels]


def encode_labels(labels: Sequence[str], known: Sequence[str], path: str) -> list[int]:
    index = {lab: i for i, lab in enumerate(known)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise TinytxError(
            f"{path}: label(s) {', '.join(map(repr, unknown[:5]))} were not seen in training "
            f"(the run knows {', '.join(map(repr, known))})"
        )
    return [index[lab] for lab in labels]


def split_val(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 <= fraction < 1:
        raise TinytxError(f"--val-fraction must be in [0, 1), got {fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction))
    if fraction > 0 and (n_val == 0 or n_val == n):
        raise TinytxError(f"{n} rows are too few to hold out a validation fraction of {fraction}; use 0")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


# --- inputs: the same code builds them for training, eval and predict ----------------------------------------

class Inputs:
    """Turns texts into model batches: sparse bag-of-words rows (bow) or padded token ids (everything else)."""

    def __init__(self, featurizer=None, tokenizer=None, max_len: int = 256):
        self.featurizer, self.tokenizer, self.max_len = featurizer, tokenizer, max_len

    @classmethod
    def from_run(cls, run) -> "Inputs":
        if run.extra.get("features"):
            from .features import BowFeaturizer

            return cls(featurizer=BowFeaturizer.from_dict(read_json(Path(run.path) / FEATURES)))
        if run.tokenizer is None:
            raise TinytxError(f"{run.path}: has neither {FEATURES} nor {TOKENIZER}; cannot rebuild its inputs")
        return cls(tokenizer=run.tokenizer, max_len=run.extra.get("max_len", 256))

    def examples(self, texts: Sequence[str], labels: Sequence[int], rows=None) -> list:
        if self.featurizer is not None:
            rows = rows if rows is not None else self.featurizer.transform(texts)
            return [(i, w, y) for (i, w), y in zip(rows, labels)]
        ids = self.tokenizer.encode_batch(list(texts))
        return [(x[: self.max_len], y) for x, y in zip(ids, labels)]

    def collate(self, examples) -> dict[str, torch.Tensor]:
        if self.featurizer is not None:
            from .features import collate_bow

            return collate_bow(examples)
        from .data.collate import collate_classification

        return collate_classification(examples)

    def batches(self, texts, labels, batch_size: int, shuffle: bool, seed: int = 0, rows=None):
        from .data.collate import SequenceBatches

        bucket = 0 if self.featurizer is not None or not shuffle else 20  # similar lengths together: less padding
        return SequenceBatches(self.examples(texts, labels, rows), self.collate, batch_size, shuffle, seed, bucket)


# --- training ----------------------------------------------------------------------------------------------------

def _load_run_config(path: str, task: str, what: str) -> dict:
    config = ckpt.load_config(path)
    if config.get("task") != task:
        raise TinytxError(f"{path}: not a {what} run (task {config.get('task')!r})")
    return config


def _make_tokenizer(opts: ClassifyOptions, texts: Sequence[str]):
    from .tokenizers import load_tokenizer

    source = opts.init_from or opts.init_embeddings
    if source and not opts.resume:  # the pretrained run's vocabulary, which its weights index
        return load_tokenizer(Path(source) / TOKENIZER)
    return word_tokenizer(Path(opts.out), opts.resume, texts, vocab_size=opts.vocab_size,
                          min_frequency=opts.min_freq, lowercase=opts.lowercase, stop_words=opts.stop_words)


def _model_config(opts: ClassifyOptions, num_classes: int, vocab_size: int, num_features: int) -> dict[str, Any]:
    if opts.model == "bow":
        return dict(num_features=num_features, num_classes=num_classes, hidden=opts.hidden, dropout=opts.dropout)
    if opts.model == "embedding":
        return dict(vocab_size=vocab_size, num_classes=num_classes, n_embd=opts.n_embd,
                    bigram_buckets=opts.bigram_buckets, dropout=opts.dropout)
    if opts.model == "gru":
        return dict(vocab_size=vocab_size, num_classes=num_classes, n_embd=opts.n_embd, hidden_size=opts.hidden_size,
                    n_layer=opts.gru_layers, bidirectional=opts.bidirectional, dropout=opts.dropout)
    if opts.init_from:  # the pretrained encoder's shape wins
        enc = _load_run_config(opts.init_from, "mlm", "masked-LM")["model"]["config"]
        return dict(enc, num_classes=num_classes, pooling=opts.pooling, dropout=opts.dropout)
    if opts.d_model % opts.n_head:
        raise TinytxError(f"--d-model {opts.d_model} must be divisible by --n-head {opts.n_head}")
    return dict(vocab_size=vocab_size, num_classes=num_classes, d_model=opts.d_model, n_head=opts.n_head,
                n_layer=opts.n_layer, d_ff=opts.d_ff, max_len=opts.max_len + 1, dropout=opts.dropout, pooling=opts.pooling)


def _check_options(opts: ClassifyOptions) -> None:
    if opts.model not in MODELS:
        raise TinytxError(f"unknown classifier {opts.model!r}; choose one of {', '.join(MODELS)}")
    if opts.freeze not in ("none", "body"):
        raise TinytxError(f"--freeze must be body or none, got {opts.freeze!r}")
    if opts.init_from and opts.model != "transformer":
        raise TinytxError("--init-from (a masked-LM run) needs --model transformer")
    if opts.freeze == "body" and not opts.init_from:
        raise TinytxError("--freeze body needs --init-from RUN (a frozen random encoder learns nothing)")
    if opts.init_embeddings and opts.model not in ("embedding", "gru"):
        raise TinytxError("--init-embeddings (a word2vec run) needs --model embedding or gru")
    if opts.freeze_embeddings and not opts.init_embeddings:
        raise TinytxError("--freeze-embeddings needs --init-embeddings RUN")
    if opts.max_len < 1:
        raise TinytxError(f"--max-len must be >= 1, got {opts.max_len}")


def _transfer(model, opts: ClassifyOptions) -> None:
    """Load pretrained parts (masked-LM encoder or word2vec vectors) into a fresh model and freeze what is asked.
    On resume the weights come from the run's state, so only the freezing is redone."""
    if opts.init_from:
        if not opts.resume:
            mlm, _ = ckpt.load_model_from_run(opts.init_from)
            model.encoder.load_state_dict(mlm.encoder.state_dict())
        if opts.freeze == "body":
            model.freeze_body()
    if opts.init_embeddings:
        if not opts.resume:
            _load_run_config(opts.init_embeddings, "word2vec", "word2vec")  # checks it is a word2vec run
            w2v, _ = ckpt.load_model_from_run(opts.init_embeddings)
            vectors = w2v.vectors.detach()
            if vectors.size(1) != model.config.n_embd:
                raise TinytxError(f"the word2vec run has {vectors.size(1)}-dim vectors; use --n-embd {vectors.size(1)}")
            if opts.model == "embedding":
                model.load_word_vectors(vectors)
            else:
                with torch.no_grad():
                    model.emb.weight.copy_(vectors)
        if opts.freeze_embeddings:
            if opts.model == "embedding":
                model.freeze_word_vectors()
            else:
                model.emb.weight.requires_grad_(False)


def train_classify(opts: ClassifyOptions, callbacks=()) -> dict[str, Any]:
    """Train (or, with opts.resume, continue) a text classifier into opts.out; returns the Trainer's result plus
    params and seconds."""
    run_dir = Path(opts.out)
    if opts.resume:
        opts = saved_options(opts, "classify", "classification")
    else:
        refuse_existing(run_dir)
    _check_options(opts)
    texts, labels = read_labelled(opts.data, opts.text_col, opts.label_col)
    if opts.resume:
        check_same_rows(run_dir, len(texts), opts.data)
    label_names = sorted(set(labels))
    if len(label_names) < 2:
        raise TinytxError(f"{opts.data}: column {opts.label_col!r} has only one label ({label_names[0]!r}); need 2+")
    y = encode_labels(labels, label_names, opts.data)
    tr, va = split_val(len(texts), opts.val_fraction, opts.seed)
    train_texts, val_texts = [texts[i] for i in tr], [texts[i] for i in va]
    train_y, val_y = [y[i] for i in tr], [y[i] for i in va]
    epochs, batch_size, lr = DEFAULTS[opts.model]
    batch_size = opts.batch_size or batch_size

    extra: dict[str, Any] = {"labels": label_names, "text_col": opts.text_col, "label_col": opts.label_col,
                             "kind": opts.model, "data": str(opts.data), "max_len": opts.max_len, "features": None,
                             "rows": len(texts), "options": options_record(opts)}
    vocab_size = num_features = 0
    if opts.model == "bow":
        from .features import BowFeaturizer

        if opts.resume:
            featurizer = BowFeaturizer.from_dict(read_json(run_dir / FEATURES))
            train_rows = featurizer.transform(train_texts)
        else:
            featurizer = BowFeaturizer(mode=opts.features, ngrams=opts.ngrams, vocab_size=opts.vocab_size,
                                       min_df=opts.min_df, lowercase=opts.lowercase, stop_words=opts.stop_words)
            train_rows = featurizer.fit_transform(train_texts)
        inputs, num_features = Inputs(featurizer=featurizer), featurizer.num_features
        extra.update(features=FEATURES, feature_mode=opts.features, ngrams=opts.ngrams)
    else:
        tokenizer = _make_tokenizer(opts, train_texts)
        inputs, vocab_size = Inputs(tokenizer=tokenizer, max_len=opts.max_len), tokenizer.vocab_size
    extra.update(init_from=opts.init_from, freeze=opts.freeze, init_embeddings=opts.init_embeddings,
                 freeze_embeddings=opts.freeze_embeddings)

    torch.manual_seed(opts.seed)
    if opts.resume:  # the saved shape (an --init-from run may be gone by now)
        saved = ckpt.load_config(run_dir)["model"]
        model = build(saved["name"], saved["config"])
    else:
        model = build(REGISTRY_NAME[opts.model], _model_config(opts, len(label_names), vocab_size, num_features))
    _transfer(model, opts)
    train = inputs.batches(train_texts, train_y, batch_size, shuffle=True, seed=opts.seed,
                           rows=train_rows if opts.model == "bow" else None)
    val = inputs.batches(val_texts, val_y, batch_size, shuffle=False) if val_texts else None
    cfg = TrainConfig(
        epochs=opts.epochs or epochs, max_steps=opts.max_steps, batch_size=batch_size, optimizer="adamw",
        lr=opts.lr or lr, weight_decay=opts.weight_decay, schedule="cosine", min_lr=(opts.lr or lr) / 10,
        warmup_steps=opts.warmup, grad_clip=1.0, early_stopping_patience=opts.patience, device=opts.device,
        dtype=opts.dtype, compile=opts.compile, seed=opts.seed, progress=opts.progress,
    )

    # nothing is written before every check above passed
    run_dir.mkdir(parents=True, exist_ok=True)
    if not opts.resume:  # a resumed run keeps the features.json / tokenizer.json it was loaded from
        if opts.model == "bow":
            write_json(run_dir / FEATURES, featurizer.to_dict())
        else:
            tokenizer.save(run_dir / TOKENIZER)
    run_info = {"task": "classify", "model": registry.describe(model), "extra": extra}
    t0 = time.perf_counter()
    trainer = Trainer(model, Classification(len(label_names)), train, val, cfg, out_dir=run_dir, run_info=run_info,
                      callbacks=callbacks, resume=opts.resume)
    result = trainer.fit()
    result["seconds"] = time.perf_counter() - t0
    result["params"] = sum(p.numel() for p in model.parameters())
    result["trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return result


# --- evaluation and prediction -------------------------------------------------------------------------------

def _load_classify_run(run, device: str = "cpu"):
    from .run import Run, load_run

    run = run if isinstance(run, Run) else load_run(run, device=device)
    if run.task != "classify":
        raise TinytxError(f"{run.path}: not a classification run (task {run.task!r})")
    return run


def evaluate_classify(run_dir, data: str, text_col: str | None = None, label_col: str | None = None,
                      batch_size: int = 64, device: str = "auto", write: bool = True) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix (rows = truth) on a labelled file.

    Writes RUN/confusion_matrix.json ({"labels", "matrix"}) for `tinytx plot RUN --confusion`."""
    from .engine.trainer import pick_device

    dev = pick_device(device)
    run = _load_classify_run(run_dir, device=str(dev))
    names = run.extra["labels"]
    texts, labels = read_labelled(data, text_col or run.extra.get("text_col", "text"),
                                  label_col or run.extra.get("label_col", "label"))
    y = encode_labels(labels, names, data)
    source = Inputs.from_run(run).batches(texts, y, batch_size, shuffle=False)
    batches = ({k: v.to(dev) for k, v in b.items()} for b in source.iter_eval())
    m = Classification(len(names)).evaluate(run.model, batches)
    if write:
        write_json(Path(run.path) / CONFUSION, {"labels": names, "matrix": m["confusion_matrix"]})
    return {
        "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "loss": m["loss"], "examples": len(texts),
        "precision": dict(zip(names, m["precision"])), "recall": dict(zip(names, m["recall"])),
        "labels": names, "confusion_matrix": m["confusion_matrix"],
    }


def format_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """A plain-text confusion matrix: rows = true label, columns = predicted."""
    width = max(8, *(len(s) for s in labels), *(len(str(v)) for row in matrix for v in row)) + 2
    lines = ["true \\ predicted".ljust(width) + "".join(s.rjust(width) for s in labels)]
    for name, row in zip(labels, matrix):
        lines.append(name.ljust(width) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


@torch.no_grad()
def predict(run, texts: str | Sequence[str], batch_size: int = 64) -> list[tuple[str, float]]:
    """(label, probability) for each text, in order. `run` is a Run (tinytx.load_run) or a run directory."""
    run = _load_classify_run(run)
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise TinytxError("no texts to classify")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise TinytxError(f"text {i + 1} is empty: nothing to classify")
    inputs, names = Inputs.from_run(run), run.extra["labels"]
    device = next(run.model.parameters()).device
    run.model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        part = texts[start : start + batch_size]
        batch = inputs.collate(inputs.examples(part, [0] * len(part)))
        batch.pop("y")
        probs = torch.softmax(run.model(**{k: v.to(device) for k, v in batch.items()}).float(), -1)
        p, k = probs.max(-1)
        out += [(names[int(i)], float(v)) for i, v in zip(k, p)]
    return out


# --- BERT-style masked-LM pretraining --------------------------------------------------------------------------

@dataclass
class MLMOptions:
    data: str
    out: str
    text_col: str = "text"  # csv/jsonl input; plain text is one example per line
    vocab_size: int = 20_000
    min_freq: int = 2
    lowercase: bool = True
    max_len: int = 256
    d_model: int = 128
    n_head: int = 4
    n_layer: int = 2
    d_ff: int = 256
    dropout: float = 0.1
    mask_prob: float = 0.15
    max_steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 100
    val_fraction: float = 0.05
    seed: int = 1337
    device: str = "auto"
    dtype: str = "fp32"
    compile: bool = False
    progress: bool = True
    resume: bool = False


class MLMBatches:
    """Batches for MaskedLM: rows [CLS] + ids, `mask_prob` of the real tokens chosen for prediction, of which
    80% become [MASK], 10% a random word, 10% stay (BERT). The choice is seeded by the step: a pure function."""

    def __init__(self, rows: Sequence[list[int]], vocab_size: int, batch_size: int, shuffle: bool, seed: int,
                 mask_prob: float = 0.15):
        from .data.collate import SequenceBatches, pad

        self.vocab_size, self.mask_prob, self.seed = vocab_size, mask_prob, seed
        self.inner = SequenceBatches([(r,) for r in rows], lambda ex: {"ids": pad([e[0] for e in ex])[0]},
                                     batch_size, shuffle, seed, bucket=20 if shuffle else 0)
        self.steps_per_epoch = self.inner.steps_per_epoch

    def mask(self, ids: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        from .tokenizers import MASK_ID, SPECIAL_TOKENS

        g = torch.Generator().manual_seed(seed)
        eligible = ids >= len(SPECIAL_TOKENS)  # words only: never [PAD] / [CLS]
        eligible |= ids == 1  # an [UNK] is a word too
        r = torch.rand(ids.shape, generator=g).masked_fill(~eligible, 2.0)
        chosen = r < self.mask_prob
        # every row with a word predicts at least one (its lowest draw), so no batch has zero targets
        lowest = r == r.min(1, keepdim=True).values
        chosen |= lowest & eligible & ~chosen.any(1, keepdim=True)
        labels = torch.where(chosen, ids, torch.full_like(ids, -100))
        action = torch.rand(ids.shape, generator=g)
        random_words = torch.randint(len(SPECIAL_TOKENS), self.vocab_size, ids.shape, generator=g)
        inp = torch.where(chosen & (action < 0.8), torch.full_like(ids, MASK_ID), ids)
        inp = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_words, inp)
        return {"input_ids": inp, "labels": labels}

    def get(self, step: int, rank: int = 0, world: int = 1):
        from .data.batches import rank_slice

        batch = self.mask(self.inner.get(step)["ids"], self.seed * 1_000_003 + step)
        part = rank_slice(len(batch["labels"]), rank, world)
        return {k: v[part] for k, v in batch.items()}

    def iter_eval(self, max_batches=None):
        for i, b in enumerate(self.inner.iter_eval(max_batches)):
            yield self.mask(b["ids"], self.seed * 7919 + i)


def train_mlm(opts: MLMOptions, callbacks=()) -> dict[str, Any]:
    """Pretrain a transformer encoder as a masked LM on raw text (one example per line, or a csv column)."""
    from .data.sources import load_texts
    from .models.text_classifiers import CLS_ID

    run_dir = Path(opts.out)
    if opts.resume:
        opts = saved_options(opts, "mlm", "masked-LM")
    else:
        refuse_existing(run_dir)
    if not 0 < opts.mask_prob < 1:
        raise TinytxError(f"--mask-prob must be between 0 and 1, got {opts.mask_prob}")
    if opts.d_model % opts.n_head:
        raise TinytxError(f"--d-model {opts.d_model} must be divisible by --n-head {opts.n_head}")
    texts = [t for t in load_texts(opts.data, by="line", column=opts.text_col) if t.strip()]
    if not texts:
        raise TinytxError(f"{opts.data}: no text to pretrain on")
    if opts.resume:
        check_same_rows(run_dir, len(texts), opts.data)
    tokenizer = word_tokenizer(run_dir, opts.resume, texts, vocab_size=opts.vocab_size, min_frequency=opts.min_freq,
                               lowercase=opts.lowercase)
    rows = [[CLS_ID] + ids[: opts.max_len] for ids in tokenizer.encode_batch(texts)]
    rows = [r for r in rows if len(r) > 1]
    tr, va = split_val(len(rows), opts.val_fraction, opts.seed) if len(rows) > 20 else (np.arange(len(rows)), [])
    V = tokenizer.vocab_size
    train = MLMBatches([rows[i] for i in tr], V, opts.batch_size, True, opts.seed, opts.mask_prob)
    val = MLMBatches([rows[i] for i in va], V, opts.batch_size, False, opts.seed + 1, opts.mask_prob) if len(va) else None
    torch.manual_seed(opts.seed)
    model = build("masked_lm", dict(vocab_size=V, d_model=opts.d_model, n_head=opts.n_head, n_layer=opts.n_layer,
                                    d_ff=opts.d_ff, max_len=opts.max_len + 1, dropout=opts.dropout))
    cfg = TrainConfig(max_steps=opts.max_steps, batch_size=opts.batch_size, optimizer="adamw", lr=opts.lr,
                      weight_decay=0.01, schedule="cosine", warmup_steps=min(opts.warmup, opts.max_steps - 1),
                      min_lr=opts.lr / 10, grad_clip=1.0, eval_interval=max(1, opts.max_steps // 5), eval_batches=20,
                      device=opts.device, dtype=opts.dtype, compile=opts.compile, seed=opts.seed, progress=opts.progress)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not opts.resume:
        tokenizer.save(run_dir / TOKENIZER)
    extra = {"data": str(opts.data), "max_len": opts.max_len, "mask_prob": opts.mask_prob, "rows": len(texts),
             "options": options_record(opts)}
    run_info = {"task": "mlm", "model": registry.describe(model), "extra": extra}
    t0 = time.perf_counter()
    result = Trainer(model, MaskedLM(), train, val, cfg, out_dir=run_dir, run_info=run_info, callbacks=callbacks,
                     resume=opts.resume).fit()
    result["seconds"] = time.perf_counter() - t0
    result["params"] = sum(p.numel() for p in model.parameters())
    return result


@torch.no_grad()
def evaluate_mlm(run_dir, data: str, text_col: str = "text", batch_size: int = 32, device: str = "auto") -> dict:
    """Masked-LM loss / perplexity on a text file (or csv column), with the same seeded 15% masking every time."""
    from .data.sources import load_texts
    from .engine.trainer import pick_device
    from .models.text_classifiers import CLS_ID
    from .run import load_run

    dev = pick_device(device)
    run = load_run(run_dir, device=str(dev))
    if run.task != "mlm":
        raise TinytxError(f"{run_dir}: not a masked-LM run (task {run.task!r})")
    max_len = run.extra.get("max_len", 256)
    rows = [[CLS_ID] + ids[:max_len] for ids in run.tokenizer.encode_batch(load_texts(data, by="line", column=text_col))]
    rows = [r for r in rows if len(r) > 1]
    if not rows:
        raise TinytxError(f"{data}: no text to evaluate")
    source = MLMBatches(rows, run.tokenizer.vocab_size, batch_size, False, 0, run.extra.get("mask_prob", 0.15))
    m = MaskedLM().evaluate(run.model, ({k: v.to(dev) for k, v in b.items()} for b in source.iter_eval()))
    return {"loss": m["loss"], "perplexity": m["perplexity"], "texts": len(rows)}
