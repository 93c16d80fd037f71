"""Translation: parallel text files -> BPE tokenizer(s) -> length-bucketed pair batches -> transformer / GRU
encoder-decoder -> Seq2Seq loss (label smoothing); evaluated by translating and scoring BLEU / chrF.

    from tinytx.recipes import train
    train("seq2seq", "runs/de-en", given={"src": "train.de", "tgt": "train.en", "train.minutes": 10})
    tinytx.load_run("runs/de-en").translate("Ein Hund läuft.")

Conventions: a source row is its tokens + [EOS]; the decoder reads [BOS] + target and predicts target + [EOS]
(tinytx.data.collate.collate_seq2seq). With --shared-vocab (the default) one BPE vocabulary serves both languages
(RUN/tokenizer.json) and the transformer shares one embedding between encoder, decoder and output layer; with
--no-shared-vocab RUN/tokenizer.json is the target tokenizer and RUN/src_tokenizer.json the source one. A token
budget (--batch-size 512t, the default) becomes a fixed number of sentences, so the batch source stays a pure
function of the step (exact resume).

Defaults sized from the data (`derived`; only what the user left unset, and saved with the run's options, so
--resume and `tinytx eval` see numbers): the BPE vocabulary from the number of words seen 3 or more times, --max-len
from the longest training pair, the step budget (when no --max-steps/--epochs/--minutes) in epochs, and the
warm-up (500 steps, at most 40% of the budget). --average N (default 1 = off) ends the run on the mean of the weights
at N steps of the final 10% (tinytx.engine.callbacks.CheckpointAverage).
"""
from __future__ import annotations

import math
import sys
from typing import Any, Callable

import torch

from ..data.collate import SequenceBatches, collate_seq2seq
from ..data.pairs import read_pairs
from ..engine.callbacks import CheckpointAverage
from ..engine.config import token_budget
from ..engine.tasks import Seq2Seq
from ..errors import TinytxError
from ..metrics import translation_scores
from ..models import build
from ..options import SEQ2SEQ_MODELS, Seq2SeqOptions
from ..rundir import SRC_TOKENIZER, Run, RunDir
from ..specials import EOS_ID, PAD_ID
from ..tokenizers import train_tokenizer
from .base import Prepared, default_summary

MODELS = {"transformer": "transformer_seq2seq", "gru": "gru_seq2seq"}  # --model -> registry name


def stderr(message: str) -> None:
    print(message, file=sys.stderr)


# --- defaults sized from the data -------------------------------------------------------------------------------
VOCAB_MIN_COUNT = 3  # words seen this often are the ones a vocabulary should keep whole
VOCAB_SHARE = 1 / 3  # BPE pieces per such word: 29k Multi30k pairs (12.4k such words, both sides) -> 4,000
VOCAB_RANGE = (1000, 32000)
MAX_LEN_MARGIN = 1.25  # longest training pair x this: a new sentence a little longer is not cut
MAX_LEN_RANGE = (32, 256)
BUDGET_EPOCHS = 10  # without --max-steps/--epochs/--minutes
BUDGET_STEPS = (1000, 20000)
# warm-up in steps, not epochs: what it protects is Adam's first updates, whatever the data size (5k Multi30k pairs,
# 1,000 steps: 100 warm-up steps -> 5.3 test BLEU, 250 -> 15.9, 400 -> 19.8, 600 -> 20.2); at most WARMUP_SHARE of a
# known budget (a time budget's is capped by the Trainer once it has sized the schedule); see docs/seq2seq.md
WARMUP_STEPS, WARMUP_SHARE = 500, 0.4
FF_MULT = 2  # transformer feed-forward width = this x --n-embd, unless --d-ff


def vocab_size_for(texts: list[str]) -> int:
    """A third of the distinct whitespace words seen >= VOCAB_MIN_COUNT times, in steps of 500, within VOCAB_RANGE."""
    from collections import Counter

    counts = Counter(w for text in texts for w in text.split())
    common = sum(1 for c in counts.values() if c >= VOCAB_MIN_COUNT)
    return int(min(VOCAB_RANGE[1], max(VOCAB_RANGE[0], 500 * round(common * VOCAB_SHARE / 500))))


def max_len_for(longest: int) -> int:
    """MAX_LEN_MARGIN x the longest training row (tokens + [EOS]), up to a multiple of 16, within MAX_LEN_RANGE."""
    return int(min(MAX_LEN_RANGE[1], max(MAX_LEN_RANGE[0], 16 * math.ceil(MAX_LEN_MARGIN * longest / 16))))


def budget_for(cfg, steps_per_epoch: int) -> dict[str, Any]:
    """Step budget (none given) from the epoch length, and warm-up (--warmup-steps 0): "train.x" values."""
    out: dict[str, Any] = {}
    steps = cfg.max_steps
    if cfg.epochs is not None and steps is None:
        steps = math.ceil(cfg.epochs * steps_per_epoch / cfg.grad_accum)
    if steps is None and cfg.minutes is None:
        steps = min(BUDGET_STEPS[1], max(BUDGET_STEPS[0], BUDGET_EPOCHS * steps_per_epoch))
        out["max_steps"] = steps
    if cfg.warmup_steps == 0:
        warmup = WARMUP_STEPS
        if steps is not None:
            warmup = min(warmup, int(steps * WARMUP_SHARE))
        out["warmup_steps"] = max(1, warmup)
    return out


def encode_pairs(src_tok, tgt_tok, pairs, max_len: int, log: Callable[[str], None] | None = print,
                 what: str = "training") -> list[tuple[list[int], list[int]]]:
    """Token ids per pair: (source + [EOS], target); pairs longer than max_len on either side are skipped."""
    src = src_tok.encode_batch([p[0] for p in pairs])
    tgt = tgt_tok.encode_batch([p[1] for p in pairs])
    examples = [(s + [EOS_ID], t) for s, t in zip(src, tgt) if len(s) + 1 <= max_len and len(t) + 1 <= max_len]
    if len(examples) < len(pairs) and log is not None:
        log(f"skipped {len(pairs) - len(examples)} of {len(pairs)} {what} pairs longer than --max-len {max_len} "
            "tokens")
    if not examples:
        raise TinytxError(f"no {what} pairs fit in --max-len {max_len} tokens; raise --max-len")
    return examples


def sentences_per_batch(batch_size: int | str, examples) -> int:
    """A number of sentences as is; a token budget ('4096t') / the mean target length (+ 1 for [EOS])."""
    budget = token_budget(batch_size)
    if budget is None:
        if batch_size == "full":
            raise TinytxError("--batch-size full is not for seq2seq; give sentences (64) or target tokens (4096t)")
        return int(batch_size)
    mean = sum(len(t) + 1 for _, t in examples) / len(examples)
    return max(1, round(budget / mean))


def pair_batches(examples, batch_size: int, seed: int, bucket: int, shuffle: bool = True) -> SequenceBatches:
    """A batch source of {"src", "tgt_in", "tgt_out"}, bucketed by the longer side of a pair."""
    return SequenceBatches(examples, collate_seq2seq, batch_size, shuffle=shuffle, seed=seed, bucket=bucket,
                           length=lambda e: max(len(e[0]), len(e[1]) + 1))


def fit_tokenizers(opts: Seq2SeqOptions, pairs):
    """BPE trained on the training sentences: one shared vocabulary, or one per language."""
    # one string per side (it holds newlines, so it is never mistaken for a file name)
    src, tgt = ["".join(p[0] + "\n" for p in pairs)], ["".join(p[1] + "\n" for p in pairs)]
    if opts.shared_vocab:
        tok = train_tokenizer("bpe", src + tgt, vocab_size=opts.vocab_size or vocab_size_for(src + tgt))
        return tok, tok
    return (train_tokenizer("bpe", src, vocab_size=opts.vocab_size or vocab_size_for(src)),
            train_tokenizer("bpe", tgt, vocab_size=opts.vocab_size or vocab_size_for(tgt)))


class Seq2SeqRecipe:
    task = "seq2seq"
    options = Seq2SeqOptions

    def prepare(self, opts: Seq2SeqOptions, run: RunDir, fitted: bool) -> Prepared:
        if opts.model not in SEQ2SEQ_MODELS:
            raise TinytxError(f"unknown seq2seq model {opts.model!r}; choose one of {', '.join(SEQ2SEQ_MODELS)}")
        if opts.model == "transformer" and opts.n_embd % opts.n_head:
            raise TinytxError(f"--n-embd {opts.n_embd} must be divisible by --n-head {opts.n_head}")
        if opts.average < 1:
            raise TinytxError(f"--average must be >= 1, got {opts.average}")
        if (opts.val_src is None) != (opts.val_tgt is None):
            raise TinytxError("give both --val-src and --val-tgt, or neither")
        log = None if fitted else print  # the counts were reported when the run started
        pairs = read_pairs(opts.src, opts.tgt, log)
        val_pairs = read_pairs(opts.val_src, opts.val_tgt, log) if opts.val_src else None
        if fitted:  # the run's own tokenizers (resume, torchrun followers)
            tgt_tok = run.load_tokenizer()
            src_tok = tgt_tok if opts.shared_vocab else run.load_tokenizer(SRC_TOKENIZER)
        else:
            src_tok, tgt_tok = fit_tokenizers(opts, pairs)
            run.save_tokenizer(tgt_tok)
            if not opts.shared_vocab:
                run.save_tokenizer(src_tok, SRC_TOKENIZER)
        if opts.vocab_size is None and opts.shared_vocab:  # what the data gave, saved with the run's options
            opts.vocab_size = tgt_tok.vocab_size
        if opts.max_len is None:
            src_ids = src_tok.encode_batch([p[0] for p in pairs])
            tgt_ids = tgt_tok.encode_batch([p[1] for p in pairs])
            opts.max_len = max_len_for(max(max(len(s), len(t)) for s, t in zip(src_ids, tgt_ids)) + 1)
        examples = encode_pairs(src_tok, tgt_tok, pairs, opts.max_len, log)
        batch = sentences_per_batch(opts.train.batch_size, examples)
        derived = budget_for(opts.train, math.ceil(len(examples) / batch))
        if derived:  # saved with the run (the skeleton writes this very object into config.json)
            opts.train = opts.train.replace(**derived)
        cfg = opts.train
        if cfg.max_steps:  # a short run still reaches its peak learning rate
            cfg = cfg.replace(warmup_steps=min(cfg.warmup_steps, max(0, cfg.max_steps - 1)))
        cfg = cfg.replace(batch_size=batch)
        train = pair_batches(examples, batch, cfg.seed, opts.bucket)
        val = None
        if val_pairs:
            val = pair_batches(encode_pairs(src_tok, tgt_tok, val_pairs, opts.max_len, log, "validation"), batch,
                               cfg.seed + 1, 0, shuffle=False)
        callbacks = [CheckpointAverage(opts.average)] if opts.average > 1 else []
        info = {"train_pairs": len(train), "val_pairs": len(val) if val else 0, "batch_sentences": batch}
        return Prepared(train, val, info, config=cfg, callbacks=callbacks,
                        state={"src_vocab": src_tok.vocab_size, "tgt_vocab": tgt_tok.vocab_size})

    def build_model(self, opts: Seq2SeqOptions, prep: Prepared) -> torch.nn.Module:
        """The shared flags mapped onto the chosen model's config fields."""
        vocab = dict(src_vocab_size=prep.state["src_vocab"], tgt_vocab_size=prep.state["tgt_vocab"])
        if opts.model == "transformer":
            config = dict(vocab, d_model=opts.n_embd, n_head=opts.n_head, n_enc_layer=opts.n_layer,
                          n_dec_layer=opts.n_layer, d_ff=opts.d_ff or FF_MULT * opts.n_embd, max_len=opts.max_len, dropout=opts.dropout,
                          share_embeddings=opts.shared_vocab, tie_output=True,
                          scale_embeddings=opts.scale_embeddings)
        else:
            config = dict(vocab, emb_dim=opts.n_embd, hidden_size=opts.n_embd, n_layer=opts.n_layer,
                          dropout=opts.dropout, share_embeddings=opts.shared_vocab, max_len=opts.max_len)
        return build(MODELS[opts.model], config)

    def objective(self, opts: Seq2SeqOptions, prep: Prepared) -> Seq2Seq:
        return Seq2Seq(PAD_ID, opts.label_smoothing)

    def summary(self, opts: Seq2SeqOptions, result: dict[str, Any], prep: Prepared) -> str:
        line = default_summary(opts, result, what=f"{opts.model} seq2seq", shown=("loss",))
        loss = (result.get("val") or {}).get("loss")
        line += f"; {prep.info['train_pairs']:,} pairs, {prep.info['batch_sentences']} sentences per batch"
        return line + (f"; val perplexity {math.exp(loss):.2f}" if isinstance(loss, float) else "")

    @torch.no_grad()
    def evaluate(self, run: Run, data: str | None = None, src: str | None = None, tgt: str | None = None,
                 beam: int = 4, batch_size: int = 64, device: str = "auto", limit: int | None = None,
                 length_penalty: float = 1.0, max_len_a: float = 1.5, max_len_b: int = 10,
                 log: Callable[[str], None] | None = stderr, **_) -> dict[str, Any]:
        """Translate `src` with the run (already on its device) and score against `tgt`: corpus BLEU and chrF
        (sacrebleu, on detokenized text). `limit`: only the first N pairs; the decoding options as in translate."""
        if not (src and tgt):
            raise TinytxError("evaluating a seq2seq run needs --src (sentences) and --tgt (reference translations)"
                              + ("; --data is for the other recipes" if data else ""))
        pairs = read_pairs(src, tgt, log)[:limit]
        hyps, stats = run.translate([p[0] for p in pairs], beam=beam, batch_size=batch_size, return_stats=True,
                                    length_penalty=length_penalty, max_len_a=max_len_a, max_len_b=max_len_b)
        if stats["truncated"] and log is not None:
            log(f"cut {stats['truncated']} source sentences longer than the model's {run.model.max_len} tokens")
        scores = translation_scores(hyps, [p[1] for p in pairs])
        return {"bleu": scores["bleu"], "chrf": scores["chrf"], "bleu_signature": scores["bleu_signature"],
                "chrf_signature": scores["chrf_signature"], "sentences": len(pairs), "beam": beam}


RECIPE = Seq2SeqRecipe()
