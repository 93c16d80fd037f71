"""`tinytx train classify|mlm|word2vec`, `tinytx predict`, `tinytx similar`, `tinytx analogy`, and `tinytx eval` for
classification runs. Argument parsing only: the work is in tinytx.classify and tinytx.embeddings."""
from __future__ import annotations

import dataclasses

from ..errors import TinytxError


RESUME_HELP = ("continue the run in --out exactly where it stopped, with the options it was started with "
               "(only --data, --max-steps, --device and --no-progress may change)")


def _options(cls, args, **renamed):
    """Build an options dataclass from the parsed arguments that share its field names."""
    if not args.resume and not args.data:
        raise TinytxError("--data is required unless you --resume a run")
    if args.resume and not args.data:
        renamed.setdefault("data", "")  # the run's saved options supply it
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    values.update(renamed)
    return cls(**values)


def register(cli) -> None:
    from ..classify import ClassifyOptions as C, MLMOptions as M
    from ..embeddings import Word2VecOptions as W

    p = cli.train.add_parser(
        "classify", help="train a text classifier (bow, embedding, gru, transformer) on a labelled CSV",
        description="Train a text classifier on a CSV/JSONL file with a text and a label column. The run keeps the "
                    "label list and the featurizer (features.json) or tokenizer (tokenizer.json) for eval/predict.",
    )
    p.add_argument("--model", default=C.model, choices=["bow", "embedding", "gru", "transformer"])
    p.add_argument("--data", help="training file (.csv, .tsv, .jsonl, optionally .gz); required unless --resume")
    p.add_argument("--text-col", default=C.text_col)
    p.add_argument("--label-col", default=C.label_col)
    p.add_argument("--out", "-o", required=True, help="run directory")
    p.add_argument("--val-fraction", type=float, default=C.val_fraction, help="random share of rows held out")
    g = p.add_argument_group("bag of words (--model bow)")
    g.add_argument("--features", default=C.features, choices=["binary", "count", "tfidf"])
    g.add_argument("--ngrams", type=int, default=C.ngrams, choices=[1, 2], help="2 = words and word pairs")
    g.add_argument("--min-df", type=int, default=C.min_df, help="keep n-grams in at least this many texts")
    g.add_argument("--hidden", type=int, default=C.hidden, help="0 = softmax regression; > 0 = MLP hidden size")
    g = p.add_argument_group("words (all models)")
    g.add_argument("--vocab-size", type=int, default=C.vocab_size, help="words (or bow n-gram features) kept")
    g.add_argument("--min-freq", type=int, default=C.min_freq, help="token models: min word count")
    g.add_argument("--cased", dest="lowercase", action="store_false", help="keep case (default: lowercase)")
    g.add_argument("--stop-words", action="store_true", help="drop English stop words")
    g.add_argument("--max-len", type=int, default=C.max_len, help="tokens kept per text (token models)")
    g = p.add_argument_group("model shape")
    g.add_argument("--n-embd", type=int, default=C.n_embd, help="embedding / gru: embedding size")
    g.add_argument("--bigram-buckets", type=int, default=C.bigram_buckets, help="embedding: hashed bigram rows")
    g.add_argument("--hidden-size", type=int, default=C.hidden_size, help="gru hidden units")
    g.add_argument("--unidirectional", dest="bidirectional", action="store_false", help="gru: one direction only")
    g.add_argument("--gru-layers", type=int, default=C.gru_layers)
    g.add_argument("--d-model", type=int, default=C.d_model, help="transformer width")
    g.add_argument("--n-head", type=int, default=C.n_head)
    g.add_argument("--n-layer", type=int, default=C.n_layer, help="transformer layers")
    g.add_argument("--d-ff", type=int, default=C.d_ff)
    g.add_argument("--pooling", default=C.pooling, choices=["cls", "mean"], help="transformer pooling")
    g.add_argument("--dropout", type=float, default=C.dropout)
    g = p.add_argument_group("transfer learning")
    g.add_argument("--init-from", help="transformer: a masked-LM run (tinytx train mlm) to start the encoder from")
    g.add_argument("--freeze", default=C.freeze, choices=["body", "none"], help="body = train only the new head")
    g.add_argument("--init-embeddings", help="embedding/gru: a word2vec run whose vectors start the embeddings")
    g.add_argument("--freeze-embeddings", action="store_true")
    _recipe(p, epochs=True)
    p.set_defaults(func=train_command)

    p = cli.train.add_parser("mlm", help="pretrain a transformer encoder as a BERT-style masked LM on raw text",
                             description="15%% of the words are chosen (80%% -> [MASK], 10%% random, 10%% kept) "
                                         "and predicted. Use the run with `train classify --init-from RUN`.")
    p.add_argument("--data", help="text file (one example per line) or csv/jsonl with --text-col "
                                   "(required unless --resume)")
    p.add_argument("--text-col", default=M.text_col)
    p.add_argument("--out", "-o", required=True)
    p.add_argument("--vocab-size", type=int, default=M.vocab_size)
    p.add_argument("--min-freq", type=int, default=M.min_freq)
    p.add_argument("--max-len", type=int, default=M.max_len)
    p.add_argument("--d-model", type=int, default=M.d_model)
    p.add_argument("--n-head", type=int, default=M.n_head)
    p.add_argument("--n-layer", type=int, default=M.n_layer)
    p.add_argument("--d-ff", type=int, default=M.d_ff)
    p.add_argument("--dropout", type=float, default=M.dropout)
    p.add_argument("--mask-prob", type=float, default=M.mask_prob)
    p.add_argument("--max-steps", type=int, default=M.max_steps)
    p.add_argument("--warmup", type=int, default=M.warmup)
    _recipe(p, epochs=False)
    p.set_defaults(func=mlm_command)

    p = cli.train.add_parser("word2vec", help="train word vectors (skip-gram or CBOW with negative sampling)")
    p.add_argument("--data", help="text file (read line by line) or csv/jsonl with --text-col "
                                   "(required unless --resume)")
    p.add_argument("--text-col", default=W.text_col)
    p.add_argument("--out", "-o", required=True)
    p.add_argument("--mode", default=W.mode, choices=["skipgram", "cbow"])
    p.add_argument("--n-embd", type=int, default=W.n_embd, help="vector size")
    p.add_argument("--window", type=int, default=W.window)
    p.add_argument("--negatives", type=int, default=W.negatives, help="noise words per pair")
    p.add_argument("--min-count", type=int, default=W.min_count)
    p.add_argument("--vocab-size", type=int, default=W.vocab_size)
    p.add_argument("--subsample", type=float, default=W.subsample, help="frequent-word sub-sampling threshold t")
    p.add_argument("--epochs", type=float, default=W.epochs)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=W.batch_size)
    p.add_argument("--lr", type=float, default=W.lr)
    p.add_argument("--seed", type=int, default=W.seed)
    p.add_argument("--device", default=W.device)
    p.add_argument("--resume", action="store_true", help=RESUME_HELP)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=word2vec_command)

    p = cli.top.add_parser("predict", help="classify texts with a trained classification run")
    p.add_argument("run", help="run directory")
    p.add_argument("texts", nargs="+", help="one or more texts")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=predict_command)

    p = cli.top.add_parser("similar", help="nearest words by cosine similarity (word2vec run)")
    p.add_argument("run")
    p.add_argument("word")
    p.add_argument("-k", type=int, default=10)
    p.set_defaults(func=similar_command)

    p = cli.top.add_parser("analogy", help="a - b + c: `tinytx analogy RUN king man woman` (word2vec run)")
    p.add_argument("run")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    p.add_argument("-k", type=int, default=5)
    p.set_defaults(func=analogy_command)

    cli.evaluators["classify"] = evaluate_command
    cli.evaluators["mlm"] = evaluate_mlm_command


def _recipe(p, epochs: bool) -> None:
    g = p.add_argument_group("training")
    if epochs:
        g.add_argument("--epochs", type=float, default=None, help="passes over the data (default per model)")
        g.add_argument("--max-steps", type=int, default=None, help="optimizer steps (wins over --epochs)")
        g.add_argument("--patience", type=int, default=None, help="early stopping: evaluations without improvement")
        g.add_argument("--weight-decay", type=float, default=0.0)
        g.add_argument("--warmup", type=int, default=0)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (cosine decay; default per model)")
    g.add_argument("--seed", type=int, default=1337)
    g.add_argument("--device", default="auto")
    g.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g.add_argument("--resume", action="store_true", help=RESUME_HELP)
    g.add_argument("--no-progress", action="store_true")


def _report(kind: str, result: dict, out: str) -> None:
    val = result.get("val") or {}
    line = f"trained {kind} to step {result['step']} ({result['params']:,} params, {result['seconds']:.1f} s) -> {out}"
    shown = {k: val[k] for k in ("loss", "accuracy", "macro_f1") if isinstance(val.get(k), float)}
    if shown:
        line += " (val " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()) + ")"
    if result.get("stopped"):
        line += f"; {result['stopped']}"
    print(line)


def train_command(args) -> None:
    from ..classify import ClassifyOptions, train_classify

    opts = _options(ClassifyOptions, args, progress=not args.no_progress)
    _report(f"{opts.model} classifier", train_classify(opts), opts.out)


def mlm_command(args) -> None:
    from ..classify import MLMOptions, train_mlm

    opts = _options(MLMOptions, args, progress=not args.no_progress)
    _report("masked LM", train_mlm(opts), opts.out)


def word2vec_command(args) -> None:
    from ..embeddings import Word2VecOptions, train_word2vec

    opts = _options(Word2VecOptions, args, progress=not args.no_progress)
    result = train_word2vec(opts)
    _report(f"word2vec ({opts.mode}, {result['vocab_size']:,} words, {result['tokens']:,} tokens)", result, opts.out)


def predict_command(args) -> None:
    from ..classify import predict
    from ..run import load_run

    for text, (label, prob) in zip(args.texts, predict(load_run(args.run, device=args.device), args.texts)):
        print(f"{label}\t{prob:.4f}\t{text}")


def similar_command(args) -> None:
    from ..embeddings import nearest

    if args.k < 1:
        raise TinytxError(f"-k must be >= 1, got {args.k}")
    for word, sim in nearest(args.run, args.word, args.k):
        print(f"{sim:.4f}\t{word}")


def analogy_command(args) -> None:
    from ..embeddings import analogy

    if args.k < 1:
        raise TinytxError(f"-k must be >= 1, got {args.k}")
    for word, sim in analogy(args.run, args.a, args.b, args.c, args.k):
        print(f"{sim:.4f}\t{word}")


def evaluate_command(args, config) -> dict:
    from ..classify import evaluate_classify, format_confusion

    if not args.data:
        raise TinytxError("--data is required to evaluate a classification run (a CSV with its text/label columns)")
    m = evaluate_classify(args.run, args.data, batch_size=args.batch_size, device=args.device)
    if args.json:
        return m
    print(format_confusion(m["labels"], m["confusion_matrix"]))
    print()
    out = {k: m[k] for k in ("accuracy", "macro_f1", "loss", "examples")}
    for name in m["labels"]:
        out[f"precision[{name}]"] = m["precision"][name]
        out[f"recall[{name}]"] = m["recall"][name]
    return out


def evaluate_mlm_command(args, config) -> dict:
    from ..classify import evaluate_mlm

    if not args.data:
        raise TinytxError("--data is required to evaluate a masked-LM run (a text file, one example per line)")
    return evaluate_mlm(args.run, args.data, batch_size=args.batch_size, device=args.device)
