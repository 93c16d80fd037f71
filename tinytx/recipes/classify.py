"""Text classification: a CSV/JSONL file with a text and a label column -> bag-of-words features or word tokens ->
bow / embedding / gru / transformer -> cross-entropy.

    import tinytx
    from tinytx.recipes import get, train
    train("classify", "runs/spam", given={"data": "data/spamassassin/train.csv.gz", "model": "bow"})
    run = tinytx.load_run("runs/spam")
    get("classify").evaluate(run, data="data/spamassassin/test.csv.gz")["accuracy"]
    run.predict(["FREE money!!!"])   # [("spam", 0.98)]

Models: bow (sparse bag-of-words + softmax regression / MLP), embedding (fastText-style), gru (max+mean pooled),
transformer (from scratch, or its encoder from a masked-LM run: --init-from, --freeze body). What the user leaves
unset of the step budget, max length, warm-up, early stopping and pooling is sized from the data
(classify_defaults.py) once the texts are read, and saved with the run's options. The embedding and gru models can
start from a word2vec run's vectors (--init-embeddings, --freeze-embeddings). The run keeps what eval/predict need to
rebuild the inputs exactly: the label list (info), features.json (bow) or tokenizer.json (token models).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..data.text_classification import Inputs, encode_labels, read_labelled, split_val
from ..engine import Classification
from ..errors import TinytxError
from ..features import BowFeaturizer
from ..io import read_json, write_json
from ..models import build
from ..options import CLASSIFY_MODELS, ClassifyOptions
from ..predict import run_inputs
from ..rundir import CONFUSION, FEATURES, STDIN_CSV, Run, RunDir, load_model, require
from ..tokenizers import train_tokenizer
from . import classify_defaults
from .base import Prepared, default_summary

REGISTRY_NAME = {"bow": "bow", "embedding": "embedding", "gru": "gru_classifier",
                 "transformer": "transformer_classifier"}
POOLINGS = {"transformer": ("cls", "mean"), "gru": ("last", "max", "mean", "maxmean")}


def check_options(opts: ClassifyOptions, new: bool = True) -> None:
    """One-line errors for options that cannot work together. `new`: a run being started (a resumed one was
    checked when it started, and runs saved before --pooling applied to the gru keep pooling "cls" for any model)."""
    if opts.model not in CLASSIFY_MODELS:
        raise TinytxError(f"unknown classifier {opts.model!r}; choose one of {', '.join(CLASSIFY_MODELS)}")
    if opts.init_from and opts.model != "transformer":
        raise TinytxError("--init-from (a masked-LM run) needs --model transformer")
    if opts.freeze == "body" and not opts.init_from:
        raise TinytxError("--freeze body needs --init-from RUN (a frozen random encoder learns nothing)")
    if opts.init_embeddings and opts.model not in ("embedding", "gru"):
        raise TinytxError("--init-embeddings (a word2vec run) needs --model embedding or gru")
    if opts.freeze_embeddings and not opts.init_embeddings:
        raise TinytxError("--freeze-embeddings needs --init-embeddings RUN")
    if opts.max_len is not None and opts.max_len < 1:
        raise TinytxError(f"--max-len must be >= 1, got {opts.max_len}")
    if new and opts.pooling is not None and opts.pooling not in POOLINGS.get(opts.model, ()):
        raise TinytxError(f"--pooling {opts.pooling} does not apply to --model {opts.model}"
                          + (f" (choose {' or '.join(POOLINGS[opts.model])})" if opts.model in POOLINGS else ""))
    if opts.model == "transformer" and not opts.init_from and opts.n_embd % opts.n_head:
        raise TinytxError(f"--n-embd {opts.n_embd} must be divisible by --n-head {opts.n_head}")
    if not isinstance(opts.train.batch_size, int):
        raise TinytxError(f"--batch-size must be a number of texts for a classifier, got {opts.train.batch_size!r}")


class ClassifyRecipe:
    task = "classify"
    options = ClassifyOptions
    stdin_copy = STDIN_CSV  # `--data -` is a CSV table

    def prepare(self, opts: ClassifyOptions, run: RunDir, fitted: bool) -> Prepared:
        check_options(opts, new=not fitted)
        cfg = opts.train
        texts, labels = read_labelled(opts.data, opts.text_col, opts.label_col)
        names = sorted(set(labels))
        if len(names) < 2:
            raise TinytxError(f"{opts.data}: column {opts.label_col!r} has only one label ({names[0]!r}); need 2+")
        y = encode_labels(labels, names, opts.data)
        tr, va = split_val(len(texts), opts.val_fraction, cfg.seed)
        train_texts, val_texts = [texts[i] for i in tr], [texts[i] for i in va]
        train_y, val_y = [y[i] for i in tr], [y[i] for i in va]
        info: dict[str, Any] = {"labels": names, "train_examples": len(tr), "val_examples": len(va)}
        state: dict[str, Any] = {}
        rows = None
        if opts.model == "bow":
            if fitted:  # the run's own featurizer
                featurizer = BowFeaturizer.from_dict(read_json(run / FEATURES))
                rows = featurizer.transform(train_texts)
            else:
                featurizer = BowFeaturizer(mode=opts.features, ngrams=opts.ngrams, vocab_size=opts.vocab_size,
                                           min_df=opts.min_df, lowercase=opts.lowercase, stop_words=opts.stop_words)
                rows = featurizer.fit_transform(train_texts)
                write_json(run / FEATURES, featurizer.to_dict())
            classify_defaults.apply(opts, classify_defaults.derived(opts, len(tr), None))
            inputs, state["num_features"] = Inputs(featurizer=featurizer), featurizer.num_features
        else:
            tokenizer = self.tokenizer(opts, run, fitted, train_texts)
            rows = tokenizer.encode_batch(list(train_texts))
            classify_defaults.apply(opts, classify_defaults.derived(opts, len(tr), [len(r) for r in rows]))
            inputs, state["vocab_size"] = Inputs(tokenizer=tokenizer, max_len=opts.max_len), tokenizer.vocab_size
        cfg = opts.train  # with the derived budget
        train = inputs.batches(train_texts, train_y, cfg.batch_size, shuffle=True, seed=cfg.seed, rows=rows)
        val = inputs.batches(val_texts, val_y, cfg.batch_size, shuffle=False) if val_texts else None
        return Prepared(train, val, info, config=cfg, state=state)

    @staticmethod
    def tokenizer(opts: ClassifyOptions, run: RunDir, fitted: bool, texts: Sequence[str]):
        """The run's own word tokenizer (resume, torchrun followers), a pretrained run's (whose vocabulary its
        weights index), or a new one trained on the training texts."""
        if fitted:
            return run.load_tokenizer()
        if opts.init_from:
            require(opts.init_from, "mlm")
            tokenizer = RunDir(opts.init_from).load_tokenizer()
        elif opts.init_embeddings:
            vectors = require(opts.init_embeddings, "word2vec").model["config"]["n_embd"]
            if vectors != opts.n_embd:
                raise TinytxError(f"{opts.init_embeddings}: has {vectors}-dim vectors; use --n-embd {vectors}")
            tokenizer = RunDir(opts.init_embeddings).load_tokenizer()
        else:
            tokenizer = train_tokenizer("word", texts, vocab_size=opts.vocab_size, min_frequency=opts.min_count,
                                        lowercase=opts.lowercase, stop_words=opts.stop_words)
        run.save_tokenizer(tokenizer)
        return tokenizer

    def build_model(self, opts: ClassifyOptions, prep: Prepared) -> torch.nn.Module:
        """A new classifier; with --init-from / --init-embeddings its pretrained part is loaded here (a resumed
        run is rebuilt from its config.json, frozen the same way, and gets its weights from its checkpoint)."""
        k = len(prep.info["labels"])
        if opts.model == "bow":
            return build("bow", dict(num_features=prep.state["num_features"], num_classes=k, hidden=opts.hidden,
                                     dropout=opts.dropout))
        V = prep.state["vocab_size"]
        if opts.model == "transformer" and opts.init_from:  # the pretrained encoder's shape wins
            meta = require(opts.init_from, "mlm")
            model = build(REGISTRY_NAME["transformer"], dict(meta.model["config"], num_classes=k, pooling=opts.pooling,
                                                             dropout=opts.dropout, freeze_body=opts.freeze == "body"))
            model.encoder.load_state_dict(load_model(opts.init_from, meta).encoder.state_dict())
            return model
        if opts.model == "transformer":
            config = dict(vocab_size=V, num_classes=k, d_model=opts.n_embd, n_head=opts.n_head, n_layer=opts.n_layer,
                          d_ff=opts.d_ff, max_len=opts.max_len + 1, dropout=opts.dropout, pooling=opts.pooling)
        elif opts.model == "embedding":
            config = dict(vocab_size=V, num_classes=k, n_embd=opts.n_embd, bigram_buckets=opts.bigram_buckets,
                          dropout=opts.dropout, freeze_embeddings=opts.freeze_embeddings)
        else:
            config = dict(vocab_size=V, num_classes=k, n_embd=opts.n_embd, hidden_size=opts.hidden_size,
                          n_layer=opts.n_layer, bidirectional=opts.bidirectional, dropout=opts.dropout,
                          freeze_embeddings=opts.freeze_embeddings, pooling=opts.pooling)
        model = build(REGISTRY_NAME[opts.model], config)
        if opts.init_embeddings:
            model.load_word_vectors(load_model(opts.init_embeddings).vectors.detach())
        return model

    def objective(self, opts: ClassifyOptions, prep: Prepared) -> Classification:
        return Classification(len(prep.info["labels"]))

    def summary(self, opts: ClassifyOptions, result: dict[str, Any], prep: Prepared) -> str:
        return default_summary(opts, result, what=f"{opts.model} classifier")

    @torch.no_grad()
    def evaluate(self, run: Run, data: str | None = None, batch_size: int = 64, device: str = "auto",
                 text_col: str | None = None, label_col: str | None = None, write: bool = True, **_) -> dict[str, Any]:
        """Accuracy, macro-F1, loss and per-label precision/recall and the confusion matrix (rows = truth) on a
        labelled file, plus "report" (the same as text). Writes RUN/confusion_matrix.json for `tinytx plot`."""
        if not data:
            raise TinytxError("--data is required to evaluate a classification run (a CSV/JSONL file with its text "
                              "and label columns)")
        names = run.info["labels"]
        texts, labels = read_labelled(data, text_col or run.options.text_col, label_col or run.options.label_col)
        y = encode_labels(labels, names, data)
        dev = next(run.model.parameters()).device
        run.model.eval()
        source = run_inputs(run).batches(texts, y, batch_size, shuffle=False)
        m = Classification(len(names)).evaluate(run.model, ({k: v.to(dev) for k, v in b.items()}
                                                            for b in source.iter_eval()))
        if write:
            write_json(run.path / CONFUSION, {"labels": names, "matrix": m["confusion_matrix"]})
        precision, recall = dict(zip(names, m["precision"])), dict(zip(names, m["recall"]))
        return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "loss": m["loss"], "examples": len(texts),
                "precision": precision, "recall": recall, "labels": names, "confusion_matrix": m["confusion_matrix"],
                "report": format_confusion(names, m["confusion_matrix"]) + "\n\n"
                          + format_per_label(names, precision, recall)}


def format_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """A plain-text confusion matrix: rows = true label, columns = predicted."""
    corner = "true \\ predicted"
    first = max(len(corner), *(len(s) for s in labels)) + 2
    width = max(8, *(len(s) for s in labels), *(len(str(v)) for row in matrix for v in row)) + 2
    lines = [corner.ljust(first) + "".join(s.rjust(width) for s in labels)]
    for name, row in zip(labels, matrix):
        lines.append(name.ljust(first) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def format_per_label(labels: Sequence[str], precision: dict[str, float], recall: dict[str, float]) -> str:
    """Precision and recall of each label, aligned with the confusion matrix above it."""
    first = max(len("true \\ predicted"), *(len(s) for s in labels)) + 2
    lines = ["label".ljust(first) + "precision".rjust(11) + "recall".rjust(11)]
    lines += [name.ljust(first) + f"{precision[name]:11.4f}{recall[name]:11.4f}" for name in labels]
    return "\n".join(lines)


RECIPE = ClassifyRecipe()
