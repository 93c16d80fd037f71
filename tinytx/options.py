"""The options of every training recipe, as plain dataclasses: the one place a recipe's knobs are declared.

`tinytx train <recipe>` generates its flags from these fields (help, default and choices come from `opt(...)`),
the run directory saves them in config.json, and `--resume` compares against them. Training settings are one
nested `TrainConfig` (the engine's own dataclass), with per-recipe defaults, so `--lr`, `--max-steps`,
`--minutes`, `--threads`, ... mean the same thing for every recipe.

This module imports no torch, so building the command line stays fast. PRESETS are per-model defaults: they fill
in whatever the user did not set (e.g. `classify --model gru` trains at batch 32, lr 2e-3); classify then sizes its
step budget, max length and pooling from the data (recipes/classify_defaults.py).
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from .engine.config import TrainConfig, opt
from .errors import TinytxError

LM_MODELS = ("gpt", "rnn", "gru", "lstm", "bigram", "mlp_lm")
CLASSIFY_MODELS = ("bow", "embedding", "gru", "transformer")
SEQ2SEQ_MODELS = ("transformer", "gru")
TABULAR_MODELS = ("linear", "logistic", "softmax", "perceptron", "mlp")
BOW_FEATURES = ("binary", "count", "tfidf")
BOW_NGRAMS = (1, 2)
FREEZES = ("none", "body")
POSITIONS = ("learned", "sinusoidal")
POOLINGS = ("cls", "mean")
WORD2VEC_MODES = ("skipgram", "cbow")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu")
TABULAR_TASKS = ("auto", "regression", "classification")


def parse_names(text: str) -> list[str]:
    return [s.strip() for s in str(text).split(",") if s.strip()]


def parse_sizes(text: str) -> list[int]:
    sizes = [int(s) for s in str(text).split(",") if s.strip()]
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(text)
    return sizes


# --- one dataclass per recipe ------------------------------------------------------------------------------------

@dataclass
class LMOptions:
    """`tinytx train lm`: a language model on a text file."""

    data: str | None = opt(None, "a UTF-8 text file (its last --val-fraction is validation); - reads standard input")
    model: str = opt("gpt", "model family", choices=LM_MODELS)
    tokenizer: str = opt("char", "char, bpe, or a saved tokenizer.json")
    vocab_size: int = opt(1024, "bpe vocabulary size")
    val_fraction: float = opt(0.1, "the last part of the text held out for validation")
    block_size: int = opt(128, "context window in tokens (training window for RNNs)")
    n_layer: int = opt(4, "layers")
    n_head: int = opt(4, "attention heads (gpt)")
    n_embd: int = opt(128, "embedding / model width")
    hidden_size: int = opt(256, "hidden units (rnn, gru, lstm, mlp_lm)")
    dropout: float = opt(0.0, "dropout probability")
    positions: str = opt("learned", "position encoding (gpt)", choices=POSITIONS)
    bias: bool = opt(False, "biases in linear layers and layer norms (gpt; off, as in nanoGPT: as good and faster)")
    init_from: str | None = opt(None, "a language-model run to start from (fine-tuning; e.g. one made by tinytx "
                                      "import hf): its weights and tokenizer, and its model shape (a different "
                                      "--model/--n-layer/... is refused)", metavar="RUN")
    train: TrainConfig = opt(factory=lambda: TrainConfig(
        max_steps=2000, batch_size=32, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1, schedule="cosine",
        warmup_steps=100, grad_clip=1.0, eval_interval=250, eval_batches=50))

    PRESETS: ClassVar[dict] = {}
    DATA: ClassVar[tuple[str, ...]] = ("data",)
    REQUIRED: ClassVar[tuple[str, ...]] = ("data",)


@dataclass
class ClassifyOptions:
    """`tinytx train classify`: a text classifier on a CSV/JSONL file with a text and a label column."""

    data: str | None = opt(None, "training file (.csv, .tsv, .jsonl, optionally .gz); - reads a CSV from "
                                 "standard input")
    text_col: str = opt("text", "column with the text")
    label_col: str = opt("label", "column with the label")
    model: str = opt("bow", "classifier", choices=CLASSIFY_MODELS)
    val_fraction: float = opt(0.1, "random share of rows held out for validation")
    # bag of words
    features: str = opt("tfidf", "bow: feature values", choices=BOW_FEATURES)
    ngrams: int = opt(1, "bow: 2 = words and word pairs", choices=BOW_NGRAMS)
    min_df: int = opt(1, "bow: keep n-grams seen in at least this many texts")
    hidden: int = opt(0, "bow: 0 = softmax regression, > 0 = an MLP with this many hidden units")
    # words
    vocab_size: int = opt(20_000, "words (or bow n-gram features) kept")
    min_count: int = opt(2, "token models: keep words seen at least this often")
    lowercase: bool = opt(True, "lowercase the text")
    stop_words: bool = opt(False, "drop English stop words")
    max_len: int | None = opt(None, "token models: tokens kept per text (none = from the data: the 95th percentile "
                                    "of the training texts' lengths, at most 1024 embedding, 256 gru / transformer)")
    # model shape
    n_embd: int = opt(64, "embedding size (transformer: model width)")
    n_layer: int = opt(1, "gru / transformer layers")
    n_head: int = opt(4, "transformer attention heads")
    d_ff: int = opt(256, "transformer feed-forward width")
    hidden_size: int = opt(64, "gru hidden units")
    bidirectional: bool = opt(True, "gru: read the text in both directions")
    bigram_buckets: int = opt(0, "embedding: hashed bigram rows (0 = off)")
    pooling: str | None = opt(None, "transformer: cls or mean; gru: last (final states), max, mean or maxmean of the "
                                    "outputs (none = mean for the transformer, maxmean for the gru)",
                              choices=("cls", "mean", "last", "max", "maxmean"))
    dropout: float = opt(0.1, "dropout probability")
    # transfer learning
    init_from: str | None = opt(None, "transformer: a masked-LM run (tinytx train mlm) to start the encoder from")
    freeze: str = opt("none", "body = train only the new head (needs --init-from)", choices=FREEZES)
    init_embeddings: str | None = opt(None, "embedding/gru: a word2vec run whose vectors start the embeddings")
    freeze_embeddings: bool = opt(False, "keep the --init-embeddings vectors fixed")
    # no epochs / max steps: unless given, the budget (and warm-up, early stopping) is sized from the data by
    # tinytx/recipes/classify_defaults.py, and the resolved values are saved with the run
    train: TrainConfig = opt(factory=lambda: TrainConfig(
        batch_size=64, lr=2e-2, schedule="cosine", grad_clip=1.0))

    PRESETS: ClassVar[dict] = {
        "bow": {"train.batch_size": 64, "train.lr": 0.1},
        "embedding": {"train.batch_size": 32, "train.lr": 5e-3},
        "gru": {"train.batch_size": 32, "train.lr": 2e-3},
        "transformer": {"train.batch_size": 32, "train.lr": 5e-4, "n_embd": 128, "n_layer": 2},
    }
    DATA: ClassVar[tuple[str, ...]] = ("data",)
    REQUIRED: ClassVar[tuple[str, ...]] = ("data",)


@dataclass
class MLMOptions:
    """`tinytx train mlm`: BERT-style masked-LM pretraining of a transformer encoder on raw text."""

    data: str | None = opt(None, "text file (one example per line) or csv/jsonl with --text-col; - reads "
                                 "text from standard input")
    text_col: str = opt("text", "column with the text (csv/jsonl)")
    val_fraction: float = opt(0.05, "random share of texts held out for validation")
    vocab_size: int = opt(20_000, "words kept")
    min_count: int = opt(2, "keep words seen at least this often")
    lowercase: bool = opt(True, "lowercase the text")
    max_len: int = opt(256, "tokens kept per text")
    n_embd: int = opt(128, "model width")
    n_layer: int = opt(2, "encoder layers")
    n_head: int = opt(4, "attention heads")
    d_ff: int = opt(256, "feed-forward width")
    dropout: float = opt(0.1, "dropout probability")
    mask_prob: float = opt(0.15, "share of words chosen for prediction (80% [MASK], 10% random, 10% kept)")
    train: TrainConfig = opt(factory=lambda: TrainConfig(
        max_steps=1000, batch_size=32, lr=1e-3, weight_decay=0.01, schedule="cosine", warmup_steps=100,
        grad_clip=1.0, eval_batches=20))

    PRESETS: ClassVar[dict] = {}
    DATA: ClassVar[tuple[str, ...]] = ("data",)
    REQUIRED: ClassVar[tuple[str, ...]] = ("data",)


@dataclass
class Word2VecOptions:
    """`tinytx train word2vec`: word vectors by skip-gram or CBOW with negative sampling."""

    data: str | None = opt(None, "text file (read line by line) or csv/jsonl with --text-col; - reads text "
                                 "from standard input")
    text_col: str = opt("text", "column with the text (csv/jsonl)")
    mode: str = opt("skipgram", "training objective", choices=WORD2VEC_MODES)
    n_embd: int = opt(100, "vector size")
    window: int = opt(5, "context words on each side (a random window of 1..N per center word)")
    negatives: int = opt(5, "noise words per pair")
    min_count: int = opt(5, "keep words seen at least this often")
    vocab_size: int = opt(30_000, "words kept")
    lowercase: bool = opt(True, "lowercase the text")
    subsample: float = opt(1e-3, "frequent-word sub-sampling threshold t (0 = off)")
    share_negatives: int = opt(16, "examples that share one draw of noise words (1 = each its own, as word2vec; "
                                   "more is faster; less where a batch would have fewer than 8 such groups)")
    # word2vec's own schedule: plain SGD, lr 0.025 per example (a step sums the batch's per-example steps) falling
    # linearly to 0.0001; an epoch is every position with its whole window; smaller batches where the data is
    # small or has few words (see recipes/word2vec.py: batch_size_for). One thread: the steps are many small
    # operations, which a second thread slows down (5x on a busy 2-core machine)
    train: TrainConfig = opt(factory=lambda: TrainConfig(
        epochs=5, batch_size=4096, optimizer="sgd", lr=0.025, schedule="linear", min_lr=1e-4, restore_best=False,
        threads=1))

    PRESETS: ClassVar[dict] = {}
    DATA: ClassVar[tuple[str, ...]] = ("data",)
    REQUIRED: ClassVar[tuple[str, ...]] = ("data",)


@dataclass
class Seq2SeqOptions:
    """`tinytx train seq2seq`: a translation model on parallel text files (line i of --src <-> line i of --tgt)."""

    src: str | None = opt(None, "source-language sentences, one per line (- = standard input, for one of the files)")
    tgt: str | None = opt(None, "their translations, one per line")
    val_src: str | None = opt(None, "validation source sentences")
    val_tgt: str | None = opt(None, "validation translations")
    model: str = opt("transformer", "model family", choices=SEQ2SEQ_MODELS)
    vocab_size: int | None = opt(None, "BPE vocabulary size, per language unless shared (none = from the data: a "
                                       "third of the words seen 3 or more times, in steps of 500, 1000 to 32000)")
    shared_vocab: bool = opt(True, "one BPE vocabulary for both languages, and one embedding for the transformer's "
                                   "encoder, decoder and output layer")
    max_len: int | None = opt(None, "longest sentence in tokens: longer training pairs are skipped, longer sources "
                                    "are cut when translating (none = from the data: 1.25 x the longest training "
                                    "pair, a multiple of 16, 32 to 256)")
    n_embd: int = opt(256, "model width (gru: embedding and hidden size)")
    n_layer: int = opt(2, "layers (transformer: encoder and decoder each)")
    n_head: int = opt(4, "attention heads (transformer)")
    d_ff: int | None = opt(None, "transformer feed-forward width (none = 2 x --n-embd)")
    dropout: float = opt(0.1, "dropout probability")
    label_smoothing: float = opt(0.1, "label smoothing of the target distribution")
    bucket: int = opt(50, "length-bucketing pool in batches (0 = plain shuffle)")
    scale_embeddings: bool = opt(True, "transformer: token embeddings drawn with std n_embd^-0.5 and scaled by "
                                       "sqrt(n_embd) (Vaswani et al.); off = GPT-2's N(0, 0.02), unscaled")
    average: int = opt(1, "checkpoint averaging: end on the mean of the weights at N evenly spaced steps of the run's "
                          "final tenth (1 = the last weights; measured on Multi30k at 10 CPU-minutes: no gain)")
    # no max steps: unless --max-steps/--epochs/--minutes is given, the budget is sized from the data (epochs), and
    # --warmup-steps 0 (the default) is derived from it too (tinytx/recipes/seq2seq.py: derived); dtype auto is
    # bf16 for the transformer on a CPU with native bf16 matmul (measured: 1.4-1.5x faster a step at width 192-256);
    # no torch.compile: every batch has new padded lengths (measured, GRU, 1 thread: 4.6 s a compiled step vs 0.34 s
    # eager after a 22 s compile), so the auto trial only spends the budget
    train: TrainConfig = opt(factory=lambda: TrainConfig(
        batch_size="512t", lr=1.5e-3, betas=(0.9, 0.98), weight_decay=0.01, schedule="cosine", warmup_steps=0,
        grad_clip=1.0, eval_batches=20, compile=False))

    PRESETS: ClassVar[dict] = {"gru": {"n_layer": 1}}
    DATA: ClassVar[tuple[str, ...]] = ("src", "tgt", "val_src", "val_tgt")
    REQUIRED: ClassVar[tuple[str, ...]] = ("src", "tgt")


@dataclass
class TabularOptions:
    """`tinytx train tabular`: linear/logistic/softmax regression, a perceptron or an MLP on a CSV table."""

    data: str | None = opt(None, "CSV/TSV/JSONL table with a header row; - reads a CSV from standard input")
    target: str | None = opt(None, "target column (several, comma-separated, for multi-output regression)")
    features: list[str] | None = opt(None, "comma-separated feature columns (none = all but the target)",
                                     parse=parse_names, metavar="A,B,...")
    model: str = opt("linear", "model", choices=TABULAR_MODELS)
    task: str = opt("auto", "mlp: auto = regression for numeric targets, classification for labels",
                    choices=TABULAR_TASKS)
    standardize: bool = opt(True, "standardise features with the training rows' mean and std")
    val_fraction: float = opt(0.2, "random share of rows held out (0 = none)")
    hidden_sizes: list[int] = opt(factory=lambda: [32], help="mlp hidden layer sizes, e.g. 64,32",
                                  parse=parse_sizes, metavar="N,N,...")
    activation: str = opt("relu", "mlp activation", choices=ACTIVATIONS)
    dropout: float = opt(0.0, "mlp: dropout after each hidden layer (off in eval)")
    restarts: int = opt(1, "random restart: train from N seeds, keep the best on validation")
    # log_interval None: sized to the table (about 200 log lines per run); min_lr 0: the cosine schedule decays to 0
    train: TrainConfig = opt(factory=lambda: TrainConfig(optimizer="sgd", lr=0.1, batch_size=32, epochs=100,
                                                         min_lr=0.0, log_interval=None))

    # the classic course's choices for each model
    PRESETS: ClassVar[dict] = {
        "linear": {"train.epochs": 100},
        "logistic": {"train.epochs": 200},
        "softmax": {"train.epochs": 100},
        "perceptron": {"train.lr": 1.0, "train.batch_size": 1, "train.epochs": 20},  # Rosenblatt's rule
        "mlp": {"train.optimizer": "adam", "train.lr": 0.01, "train.epochs": 200},
    }
    DATA: ClassVar[tuple[str, ...]] = ("data",)
    REQUIRED: ClassVar[tuple[str, ...]] = ("data", "target")


OPTIONS: dict[str, type] = {"lm": LMOptions, "classify": ClassifyOptions, "mlm": MLMOptions,
                            "word2vec": Word2VecOptions, "seq2seq": Seq2SeqOptions, "tabular": TabularOptions}


# --- what every recipe's options can do -----------------------------------------------------------------------

def fields(cls) -> list[tuple[str, dataclasses.Field, Any]]:
    """(dotted name, field, type) of every option, the nested training settings as 'train.<name>'."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name == "train":
            thints = typing.get_type_hints(TrainConfig)
            out += [(f"train.{g.name}", g, thints[g.name]) for g in dataclasses.fields(TrainConfig)]
        else:
            out.append((f.name, f, hints[f.name]))
    return out


def to_dict(opts) -> dict[str, Any]:
    """Options as JSON-ready values (the nested training settings under 'train')."""
    return dataclasses.asdict(opts)


def from_dict(cls, values: dict[str, Any]):
    """Options from saved values; names this version does not know are ignored."""
    known = {f.name for f in dataclasses.fields(cls)}
    kw = {k: v for k, v in values.items() if k in known and k != "train"}
    if isinstance(values.get("train"), dict):
        kw["train"] = TrainConfig.from_dict(values["train"])
    return cls(**kw)


def get(opts, path: str) -> Any:
    obj = opts
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def flatten(opts) -> dict[str, Any]:
    return {name: get(opts, name) for name, _, _ in fields(type(opts))}


def with_values(opts, values: dict[str, Any]):
    """A copy of `opts` with dotted values set (the training settings validated again)."""
    top = {k: v for k, v in values.items() if "." not in k}
    train = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("train.")}
    new = dataclasses.replace(opts, **top)
    if train or "train" not in top:
        new.train = dataclasses.replace(opts.train, **train)  # replace re-runs TrainConfig's checks
    return new


def make(cls, given: dict[str, Any] | None = None):
    """Options for a new run: defaults, then the chosen model's presets, then what the user gave.

    `--minutes` alone means "size the schedule to this budget", so it clears the step/epoch defaults."""
    given = dict(given or {})
    unknown = sorted(set(given) - {name for name, _, _ in fields(cls)})
    if unknown:
        raise TinytxError(f"unknown option(s) for {cls.__name__}: {', '.join(unknown)}")
    opts = cls()
    model = given.get("model", getattr(opts, "model", None))
    presets = dict(cls.PRESETS.get(model, {}))
    if "train.minutes" in given and not ({"train.max_steps", "train.epochs"} & set(given)):
        presets.update({"train.max_steps": None, "train.epochs": None})
        opts.train.max_steps = opts.train.epochs = None
    return with_values(opts, {**presets, **given})
