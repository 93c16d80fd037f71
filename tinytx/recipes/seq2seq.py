"""Translation: parallel text files -> BPE tokenizer(s) -> length-bucketed pair batches -> transformer / GRU
encoder-decoder -> Seq2Seq loss (label smoothing); evaluated by translating and scoring BLEU / chrF.

    from tinytx.recipes import train
    from tinytx.options import Seq2SeqOptions
    train("seq2seq", "runs/de-en", Seq2SeqOptions(src="train.de", tgt="train.en", shared_vocab=True))
    tinytx.load_run("runs/de-en").translate("Ein Hund läuft.", beam=4)

Conventions: a source row is its tokens + [EOS]; the decoder reads [BOS] + target and predicts target + [EOS]
(tinytx.data.collate.collate_seq2seq). With --shared-vocab one BPE vocabulary serves both languages (RUN/tokenizer.json)
and the transformer shares one embedding between encoder, decoder and output layer; otherwise RUN/tokenizer.json
is the target tokenizer and RUN/src_tokenizer.json the source one. A token budget (--batch-size 4096t) becomes a
fixed number of sentences, so the batch source stays a pure function of the step (exact resume).
"""
from __future__ import annotations

import math
import sys
from typing import Any, Callable

import torch

from ..data.collate import SequenceBatches, collate_seq2seq
from ..data.pairs import read_pairs
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
        tok = train_tokenizer("bpe", src + tgt, vocab_size=opts.vocab_size)
        return tok, tok
    return (train_tokenizer("bpe", src, vocab_size=opts.vocab_size),
            train_tokenizer("bpe", tgt, vocab_size=opts.vocab_size))


class Seq2SeqRecipe:
    task = "seq2seq"
    options = Seq2SeqOptions

    def prepare(self, opts: Seq2SeqOptions, run: RunDir, fitted: bool) -> Prepared:
        if opts.model not in SEQ2SEQ_MODELS:
            raise TinytxError(f"unknown seq2seq model {opts.model!r}; choose one of {', '.join(SEQ2SEQ_MODELS)}")
        if opts.model == "transformer" and opts.n_embd % opts.n_head:
            raise TinytxError(f"--n-embd {opts.n_embd} must be divisible by --n-head {opts.n_head}")
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
        examples = encode_pairs(src_tok, tgt_tok, pairs, opts.max_len, log)
        cfg = opts.train
        batch = sentences_per_batch(cfg.batch_size, examples)
        if cfg.max_steps:  # a short run still reaches its peak learning rate
            cfg = cfg.replace(warmup_steps=min(cfg.warmup_steps, max(0, cfg.max_steps - 1)))
        cfg = cfg.replace(batch_size=batch)
        train = pair_batches(examples, batch, cfg.seed, opts.bucket)
        val = None
        if val_pairs:
            val = pair_batches(encode_pairs(src_tok, tgt_tok, val_pairs, opts.max_len, log, "validation"), batch,
                               cfg.seed + 1, 0, shuffle=False)
        info = {"train_pairs": len(train), "val_pairs": len(val) if val else 0, "batch_sentences": batch}
        return Prepared(train, val, info, config=cfg,
                        state={"src_vocab": src_tok.vocab_size, "tgt_vocab": tgt_tok.vocab_size})

    def build_model(self, opts: Seq2SeqOptions, prep: Prepared) -> torch.nn.Module:
        """The shared flags mapped onto the chosen model's config fields."""
        vocab = dict(src_vocab_size=prep.state["src_vocab"], tgt_vocab_size=prep.state["tgt_vocab"])
        if opts.model == "transformer":
            config = dict(vocab, d_model=opts.n_embd, n_head=opts.n_head, n_enc_layer=opts.n_layer,
                          n_dec_layer=opts.n_layer, d_ff=opts.d_ff, max_len=opts.max_len, dropout=opts.dropout,
                          share_embeddings=opts.shared_vocab, tie_output=True)
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
                 length_penalty: float = 0.6, max_len_a: float = 1.5, max_len_b: int = 10,
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
