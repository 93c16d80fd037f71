"""Translation end to end: parallel text files -> BPE tokenizer(s) -> padded pair batches -> model -> the one
Trainer (Seq2Seq task) -> run directory -> translate / BLEU.

    from tinytx.seq2seq import Seq2SeqOptions, train_seq2seq, evaluate_translation
    train_seq2seq(Seq2SeqOptions(src="train.de", tgt="train.en", out="runs/de-en", max_steps=2000))
    run = tinytx.load_run("runs/de-en"); print(run.translate("Ein Hund läuft.", beam=4))
    evaluate_translation("runs/de-en", "test.de", "test.en")   # {"bleu", "chrf", "signature", ...}

Conventions: a source row is its tokens + [EOS]; the decoder reads [BOS] + target and predicts target + [EOS]
(tinytx.data.collate.collate_seq2seq). With --shared-vocab one BPE vocabulary serves both languages (saved as
RUN/tokenizer.json) and the transformer shares one embedding between encoder, decoder and output layer; otherwise
RUN/tokenizer.json is the target tokenizer and RUN/src_tokenizer.json the source one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .engine import TrainConfig, Trainer
from .engine import checkpoint as ckpt
from .engine.tasks import Seq2Seq
from .errors import TinytxError
from .models import build, registry

MODELS = {"transformer": "transformer_seq2seq", "gru": "gru_seq2seq"}
TOKENIZER, SRC_TOKENIZER = "tokenizer.json", "src_tokenizer.json"
PAD_ID, EOS_ID = 0, 3


@dataclass
class Seq2SeqOptions:
    """Everything `tinytx train seq2seq` accepts."""

    src: str
    tgt: str
    out: str
    val_src: str | None = None
    val_tgt: str | None = None
    model: str = "transformer"  # transformer | gru
    vocab_size: int = 8000  # BPE vocabulary size (per language unless shared)
    shared_vocab: bool = False
    max_len: int = 128  # longest sentence in tokens (longer training pairs are skipped, sources cut)
    # model shape
    d_model: int = 256
    n_layer: int | None = None  # None: 3 (transformer: encoder and decoder each) / 1 (gru)
    n_head: int = 4
    d_ff: int | None = None
    dropout: float = 0.1
    # training recipe
    max_steps: int = 2000
    batch_size: str | int = 64  # sentences, or "4096t" = about 4096 target tokens per batch
    lr: float = 1e-3
    warmup: int = 200
    label_smoothing: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_interval: int = 500
    eval_batches: int | None = 20
    bucket: int = 50  # length bucketing pool (in batches); 0 = plain shuffle
    seed: int = 1337
    device: str = "auto"
    dtype: str = "fp32"
    compile: bool = False
    progress: bool = True
    resume: bool = False


# --- reading parallel text ----------------------------------------------------------------------------------

def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, gzipped or not (clear errors for missing, binary or non-UTF-8 files)."""
    import gzip

    from .tokenizers.base import check_text_bytes

    path = Path(path)
    if not path.is_file():
        raise TinytxError(f"{path}: file not found")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise TinytxError(f"{path}: not a valid gzip file ({e})") from None
    check_text_bytes(data, path)
    lines = data.decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    return [line.rstrip("\r") for line in lines]


def read_pairs(src: str | Path, tgt: str | Path, log: Callable[[str], None] = print) -> list[tuple[str, str]]:
    """Line i of `src` with line i of `tgt`; a different number of lines is an error, empty pairs are skipped."""
    a, b = read_lines(src), read_lines(tgt)
    if len(a) != len(b):
        raise TinytxError(f"{src} has {len(a)} lines but {tgt} has {len(b)}; line i of one must translate line i "
                          "of the other")
    pairs = [(x.strip(), y.strip()) for x, y in zip(a, b)]
    kept = [p for p in pairs if p[0] and p[1]]
    if len(kept) < len(pairs):
        log(f"skipped {len(pairs) - len(kept)} of {len(pairs)} pairs with an empty side ({src})")
    if not kept:
        raise TinytxError(f"{src} / {tgt}: no sentence pairs (all lines are empty)")
    return kept


def parse_batch_size(spec: str | int) -> tuple[int, bool]:
    """'64' -> (64 sentences, False); '4096t' -> (4096 tokens, True)."""
    s = str(spec).strip().lower()
    tokens = s.endswith("t")
    try:
        n = int(s[:-1] if tokens else s)
    except ValueError:
        raise TinytxError(f"--batch-size must be a number of sentences (64) or of tokens (4096t), got {spec!r}") from None
    if n < 1:
        raise TinytxError(f"--batch-size must be positive, got {spec!r}")
    return n, tokens


def encode_pairs(src_tok, tgt_tok, pairs, max_len: int, log: Callable[[str], None] = print, what: str = "training"):
    """Token ids per pair: (source + [EOS], target); pairs longer than max_len on either side are skipped."""
    src = src_tok.encode_batch([p[0] for p in pairs])
    tgt = tgt_tok.encode_batch([p[1] for p in pairs])
    examples = [(s + [EOS_ID], t) for s, t in zip(src, tgt) if len(s) + 1 <= max_len and len(t) + 1 <= max_len]
    if len(examples) < len(pairs):
        log(f"skipped {len(pairs) - len(examples)} of {len(pairs)} {what} pairs longer than --max-len {max_len} tokens")
    if not examples:
        raise TinytxError(f"no {what} pairs fit in --max-len {max_len} tokens; raise --max-len")
    return examples


def pair_batches(examples, batch_size: int, by_tokens: bool, seed: int, bucket: int, shuffle: bool = True):
    """A batch source (tinytx.data.collate.SequenceBatches) of {"src", "tgt_in", "tgt_out"}.

    Token budgets become a fixed number of sentences: budget / mean target length (+1 for [EOS])."""
    from .data.collate import SequenceBatches, collate_seq2seq

    if by_tokens:
        mean = sum(len(t) + 1 for _, t in examples) / len(examples)
        batch_size = max(1, round(batch_size / mean))
    return SequenceBatches(examples, collate_seq2seq, batch_size, shuffle=shuffle, seed=seed, bucket=bucket,
                           length=lambda e: max(len(e[0]), len(e[1]) + 1))


# --- model and training ------------------------------------------------------------------------------------

def model_config(opts: Seq2SeqOptions, src_vocab: int, tgt_vocab: int) -> tuple[str, dict[str, Any]]:
    if opts.model not in MODELS:
        raise TinytxError(f"unknown seq2seq model {opts.model!r}; choose one of {', '.join(MODELS)}")
    if opts.model == "transformer":
        if opts.d_model % opts.n_head:
            raise TinytxError(f"--d-model {opts.d_model} must be divisible by --n-head {opts.n_head}")
        n = opts.n_layer or 3
        return MODELS[opts.model], dict(
            src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, d_model=opts.d_model, n_head=opts.n_head,
            n_enc_layer=n, n_dec_layer=n, d_ff=opts.d_ff, max_len=opts.max_len, dropout=opts.dropout,
            share_embeddings=opts.shared_vocab, tie_output=True,
        )
    return MODELS[opts.model], dict(
        src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, emb_dim=opts.d_model, hidden_size=opts.d_model,
        n_layer=opts.n_layer or 1, dropout=opts.dropout, share_embeddings=opts.shared_vocab, max_len=opts.max_len,
    )


def train_config(opts: Seq2SeqOptions, batch_size: int) -> TrainConfig:
    return TrainConfig(
        max_steps=opts.max_steps, batch_size=batch_size, optimizer="adamw", lr=opts.lr, betas=(0.9, 0.98),
        weight_decay=opts.weight_decay, schedule="cosine", warmup_steps=min(opts.warmup, max(0, opts.max_steps - 1)),
        min_lr=opts.lr / 10, grad_clip=opts.grad_clip, eval_interval=opts.eval_interval,
        eval_batches=opts.eval_batches, device=opts.device, dtype=opts.dtype, compile=opts.compile, seed=opts.seed,
        progress=opts.progress,
    )


def make_tokenizers(opts: Seq2SeqOptions, pairs):
    """BPE trained on the training sentences: one shared vocabulary, or one per language."""
    from .tokenizers import train_tokenizer

    # one string per side (it holds newlines, so it is never mistaken for a file name)
    src, tgt = ["".join(p[0] + "\n" for p in pairs)], ["".join(p[1] + "\n" for p in pairs)]
    if opts.shared_vocab:
        tok = train_tokenizer("bpe", src + tgt, vocab_size=opts.vocab_size)
        return tok, tok
    return (train_tokenizer("bpe", src, vocab_size=opts.vocab_size),
            train_tokenizer("bpe", tgt, vocab_size=opts.vocab_size))


def load_tokenizers(run_dir: Path):
    from .tokenizers import load_tokenizer

    tgt = load_tokenizer(run_dir / TOKENIZER)
    src = load_tokenizer(run_dir / SRC_TOKENIZER) if (run_dir / SRC_TOKENIZER).exists() else tgt
    return src, tgt


def train_seq2seq(opts: Seq2SeqOptions, callbacks=(), log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or, with opts.resume, continue) a translation model into opts.out; returns the Trainer's result."""
    run_dir = Path(opts.out)
    if opts.resume:
        return _resume(opts, run_dir, callbacks, log)
    if (run_dir / ckpt.CONFIG).exists():
        raise TinytxError(f"{run_dir}: already holds a run; continue it with --resume or choose another --out")
    if (opts.val_src is None) != (opts.val_tgt is None):
        raise TinytxError("give both --val-src and --val-tgt, or neither")
    batch, by_tokens = parse_batch_size(opts.batch_size)
    pairs = read_pairs(opts.src, opts.tgt, log)
    val_pairs = read_pairs(opts.val_src, opts.val_tgt, log) if opts.val_src else None
    src_tok, tgt_tok = make_tokenizers(opts, pairs)
    name, mcfg = model_config(opts, src_tok.vocab_size, tgt_tok.vocab_size)
    run_dir.mkdir(parents=True, exist_ok=True)
    tgt_tok.save(run_dir / TOKENIZER)
    if not opts.shared_vocab:
        src_tok.save(run_dir / SRC_TOKENIZER)
    torch.manual_seed(opts.seed)
    model = build(name, mcfg)
    extra = {"src": str(opts.src), "tgt": str(opts.tgt), "val_src": opts.val_src, "val_tgt": opts.val_tgt,
             "shared_vocab": opts.shared_vocab, "max_len": opts.max_len, "batch_size": str(opts.batch_size),
             "bucket": opts.bucket}
    run_info = {"task": "seq2seq", "model": registry.describe(model), "extra": extra}
    return _fit(model, pairs, val_pairs, src_tok, tgt_tok, opts, batch, by_tokens, run_dir, run_info, callbacks,
                log, resume=False)


def _resume(opts, run_dir, callbacks, log):
    config = ckpt.load_config(run_dir)
    if config.get("task") != "seq2seq":
        raise TinytxError(f"{run_dir}: not a seq2seq run (task {config.get('task')!r})")
    extra = config.get("extra", {})
    model = build(config["model"]["name"], config["model"]["config"])
    cfg = TrainConfig.from_dict(config["train"])
    if opts.max_steps and opts.max_steps != cfg.max_steps:
        cfg = cfg.replace(max_steps=opts.max_steps)
    cfg = cfg.replace(progress=opts.progress, device=opts.device if opts.device != "auto" else cfg.device)
    src_tok, tgt_tok = load_tokenizers(run_dir)
    pairs = read_pairs(extra["src"], extra["tgt"], log)
    val_pairs = read_pairs(extra["val_src"], extra["val_tgt"], log) if extra.get("val_src") else None
    batch, by_tokens = parse_batch_size(extra.get("batch_size", cfg.batch_size))
    ropts = Seq2SeqOptions(src=extra["src"], tgt=extra["tgt"], out=str(run_dir), max_len=extra["max_len"],
                           bucket=extra.get("bucket", 50), seed=cfg.seed)
    run_info = {k: v for k, v in config.items() if k != "train"}
    return _fit(model, pairs, val_pairs, src_tok, tgt_tok, ropts, batch, by_tokens, run_dir, run_info, callbacks,
                log, resume=True, cfg=cfg)


def _fit(model, pairs, val_pairs, src_tok, tgt_tok, opts, batch, by_tokens, run_dir, run_info, callbacks, log,
         resume, cfg=None):
    train = pair_batches(encode_pairs(src_tok, tgt_tok, pairs, opts.max_len, log), batch, by_tokens, opts.seed,
                         opts.bucket)
    val = None
    if val_pairs:
        val = pair_batches(encode_pairs(src_tok, tgt_tok, val_pairs, opts.max_len, log, "validation"),
                           train.batch_size, False, opts.seed + 1, 0, shuffle=False)
    cfg = cfg or train_config(opts, train.batch_size)
    pad = getattr(model.config, "pad_id", PAD_ID)
    label_smoothing = getattr(opts, "label_smoothing", 0.0)
    if resume:
        label_smoothing = run_info.get("extra", {}).get("label_smoothing", 0.0)
    else:
        run_info["extra"]["label_smoothing"] = label_smoothing
    trainer = Trainer(model, Seq2Seq(pad, label_smoothing), train, val, cfg, out_dir=run_dir, run_info=run_info,
                      callbacks=callbacks, resume=resume)
    result = trainer.fit()
    result["params"] = sum(p.numel() for p in model.parameters())
    result["train_pairs"], result["batch_sentences"] = len(train), train.batch_size
    return result


# --- evaluation --------------------------------------------------------------------------------------------

def evaluate_translation(run_dir: str | Path, src: str | Path, tgt: str | Path, beam: int = 4,
                         batch_size: int = 64, device: str = "auto", limit: int | None = None,
                         log: Callable[[str], None] = print, **decode) -> dict[str, Any]:
    """Translate `src` with the run and score against `tgt`: corpus BLEU and chrF (sacrebleu, detokenized)."""
    from .engine.trainer import pick_device
    from .metrics import translation_scores
    from .run import load_run

    run = load_run(run_dir, device=str(pick_device(device)))
    if run.task != "seq2seq":
        raise TinytxError(f"{run_dir}: not a seq2seq run (task {run.task!r})")
    pairs = read_pairs(src, tgt, log)[:limit]
    hyps, stats = run.translate([p[0] for p in pairs], beam=beam, batch_size=batch_size, return_stats=True, **decode)
    if stats["truncated"]:
        log(f"cut {stats['truncated']} source sentences longer than the model's {run.model.max_len} tokens")
    scores = translation_scores(hyps, [p[1] for p in pairs])
    return {"bleu": scores["bleu"], "chrf": scores["chrf"], "signature": scores["bleu_signature"],
            "chrf_signature": scores["chrf_signature"], "sentences": len(pairs), "beam": beam}

