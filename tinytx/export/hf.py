"""GPT runs as Hugging Face GPT-2 directories, and GPT-2 directories as tinytx runs. Nothing is downloaded.

    tinytx export RUN --format hf -o DIR      config.json + model.safetensors + tokenizer.json + tokenizer_config.json
    tinytx import hf DIR -o RUN               a language-model run: tinytx generate RUN, tinytx eval RUN --data F,
                                              tinytx train lm --init-from RUN --data F -o NEW

Neither direction imports transformers: the files are written and read as the layout defines them (the tests
load them with transformers and compare logits).

How tinytx's GPT and GPT-2 line up (tinytx's names on the left):

    decoder.tok_emb / decoder.pos.emb     transformer.wte / transformer.wpe
    blocks.i.ln1, ln2, decoder.ln_f       h.i.ln_1, h.i.ln_2, ln_f         (both pre-LN, epsilon 1e-5)
    blocks.i.attn.qkv, attn.proj          h.i.attn.c_attn, h.i.attn.c_proj (Conv1D: the transposed matrices;
                                                                            q, k, v in the same order, 1/sqrt(d_head))
    blocks.i.mlp.fc, mlp.proj             h.i.mlp.c_fc, h.i.mlp.c_proj     (d_ff = n_inner)
    lm_head (tied to tok_emb)             lm_head (tie_word_embeddings)

Where the two differ, the export maps exactly: tinytx's exact GELU is activation_function "gelu" and its
"gelu_tanh" is GPT-2's "gelu_new"; a model without biases gets zero biases (GPT-2 always has them: the same
function); sinusoidal positions are written into GPT-2's position table (the same values, which transformers
would then train). The import refuses, in one line, what tinytx's GPT cannot compute: another layer-norm epsilon,
unscaled or layer-scaled attention, cross-attention, an activation that is not GELU, a model type that is not GPT-2.

Tokenizers: a tinytx tokenizer is written as tokenizer.json by tinytx.export.tokenizer (same ids on any text),
with its special tokens declared in tokenizer_config.json. A GPT-2 tokenizer is not a tinytx tokenizer (its ids
are not tinytx's fixed [PAD] [UNK] [BOS] [EOS] [MASK] = 0..4, and its embedding rows are indexed by them), so an
imported run keeps it whole as the "hf" tokenizer kind (tinytx.tokenizers.hf), which names its own special ids.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tokenizers import AddedToken
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, models, pre_tokenizers, processors

from ..engine.checkpoint import WEIGHTS, save_weights
from ..errors import TinytxError
from ..io import atomic_path, read_json, write_json
from ..models import registry
from ..options import LMOptions
from ..rundir import CONFIG, FORMAT, TOKENIZER, RunDir, RunMeta, load_run, require
from ..tokenizers import SPECIAL_TOKENS, HFTokenizer, Tokenizer
from .tokenizer import check_same_ids, to_hf

# the files an export writes; a directory holding only these is an earlier export and may be written over
HF_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
LN_EPS = 1e-5  # torch's LayerNorm default, which tinytx's blocks use
TO_HF_ACT = {"gelu": "gelu", "gelu_tanh": "gelu_new"}
FROM_HF_ACT = {"gelu": "gelu", "gelu_python": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
               "gelu_fast": "gelu_tanh", "gelu_python_tanh": "gelu_tanh"}


# --- export -------------------------------------------------------------------------------------------------------

def export_hf(run_dir: str | os.PathLike, out: str | os.PathLike) -> list[str]:
    """Write the GPT run `run_dir` as a transformers GPT-2 directory `out`; returns the lines to print."""
    run_dir, out = Path(run_dir), Path(out)
    meta = require(run_dir)
    if meta.task != "lm":
        raise TinytxError(f"{run_dir}: a {meta.task} run; --format hf writes GPT language models (GPT-2 layout)")
    name = (meta.model or {}).get("name")
    if name != "gpt":
        raise TinytxError(f"{run_dir}: a {name} language model; the GPT-2 layout holds only tinytx's GPT "
                          "(transformer) models")
    check_out_dir(out, run_dir)
    run = load_run(run_dir, device="cpu")
    if run.tokenizer is None:
        raise TinytxError(f"{run_dir}: has no {TOKENIZER}")
    c = run.model.config
    tok_json = to_hf(run.tokenizer)
    check_same_ids(run.tokenizer, tok_json)
    tensors = gpt2_state(run.model)
    config = gpt2_config(c, run.tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})
    write_json(out / "config.json", config)
    write_json(out / "tokenizer.json", tok_json)
    write_json(out / "tokenizer_config.json", tokenizer_config(run.tokenizer, c.block_size))
    params = sum(p.numel() for p in run.model.parameters())
    lines = [f"exported {run_dir} -> {out}: GPT-2 layout, {c.n_layer} layers, {c.n_embd} dims, context "
             f"{c.block_size}, vocabulary {c.vocab_size} ({params:,} params; {run.tokenizer.kind} tokenizer)"]
    if c.activation == "gelu":
        lines.append("  exact GELU: activation_function \"gelu\" (GPT-2's own \"gelu_new\" is the tanh approximation)")
    if not c.bias:
        lines.append("  no biases: written as zero biases (GPT-2 always has them; the same function)")
    if c.positions == "sinusoidal":
        lines.append("  sinusoidal positions: written into GPT-2's position table (the same values; transformers "
                     "trains them if you fine-tune there)")
    lines.append(f"  load with AutoModelForCausalLM.from_pretrained({str(out)!r}) and AutoTokenizer.from_pretrained"
                 f"({str(out)!r})")
    return lines


def check_out_dir(out: Path, run_dir: Path) -> None:
    """An empty or new directory, or an earlier export (only the files an export writes); never a tinytx run."""
    if out.exists() and not out.is_dir():
        raise TinytxError(f"{out}: is a file; -o must be a directory for --format hf")
    if not out.is_dir():
        return
    if out.resolve() == run_dir.resolve() or RunDir(out).is_ours():
        raise TinytxError(f"{out}: is a tinytx run; write the export to another directory")
    other = sorted(p.name for p in out.iterdir() if p.name not in HF_FILES)
    if other:
        raise TinytxError(f"{out}: is not empty and is not an earlier export (it holds {other[0]}); choose another -o")


def gpt2_state(model) -> dict[str, torch.Tensor]:
    """tinytx GPT weights under GPT-2's names (Conv1D matrices are the transposes of nn.Linear's)."""
    c, dec = model.config, model.decoder
    d_ff = c.d_ff or 4 * c.n_embd

    def t(x: torch.Tensor) -> torch.Tensor:
        return x.detach().to(torch.float32).contiguous().clone()

    def bias(layer, size: int) -> torch.Tensor:
        return t(layer.bias) if layer.bias is not None else torch.zeros(size)

    out = {"transformer.wte.weight": t(dec.tok_emb.weight)}
    if c.positions == "learned":
        out["transformer.wpe.weight"] = t(dec.pos.emb.weight)
    else:  # the sinusoid table is a buffer: its values become GPT-2's position embedding
        out["transformer.wpe.weight"] = t(dec.pos.pe)
    for i, block in enumerate(dec.blocks):
        p = f"transformer.h.{i}."
        out.update({
            p + "ln_1.weight": t(block.ln1.weight), p + "ln_1.bias": bias(block.ln1, c.n_embd),
            p + "attn.c_attn.weight": t(block.attn.qkv.weight.T), p + "attn.c_attn.bias": bias(block.attn.qkv,
                                                                                                   3 * c.n_embd),
            p + "attn.c_proj.weight": t(block.attn.proj.weight.T), p + "attn.c_proj.bias": bias(block.attn.proj,
                                                                                                   c.n_embd),
            p + "ln_2.weight": t(block.ln2.weight), p + "ln_2.bias": bias(block.ln2, c.n_embd),
            p + "mlp.c_fc.weight": t(block.mlp.fc.weight.T), p + "mlp.c_fc.bias": bias(block.mlp.fc, d_ff),
            p + "mlp.c_proj.weight": t(block.mlp.proj.weight.T), p + "mlp.c_proj.bias": bias(block.mlp.proj,
                                                                                                c.n_embd),
        })
    out["transformer.ln_f.weight"] = t(dec.ln_f.weight)
    out["transformer.ln_f.bias"] = bias(dec.ln_f, c.n_embd)
    if not c.tie_weights:
        out["lm_head.weight"] = t(model.lm_head.weight)
    return out


def gpt2_config(c, tok: Tokenizer) -> dict[str, Any]:
    d_ff = c.d_ff or 4 * c.n_embd
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": c.vocab_size, "n_positions": c.block_size, "n_embd": c.n_embd, "n_layer": c.n_layer,
        "n_head": c.n_head, "n_inner": None if d_ff == 4 * c.n_embd else d_ff,
        "activation_function": TO_HF_ACT[c.activation], "layer_norm_epsilon": LN_EPS,
        "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout, "initializer_range": 0.02,
        "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
        "add_cross_attention": False, "tie_word_embeddings": bool(c.tie_weights), "use_cache": True,
        "bos_token_id": tok.bos_id, "eos_token_id": tok.eos_id, "pad_token_id": tok.pad_id, "dtype": "float32",
    }


def tokenizer_config(tok: Tokenizer, context: int) -> dict[str, Any]:
    """transformers' view of the tokenizer: the generic fast tokenizer over tokenizer.json, its special tokens
    declared, and split_special_tokens so that a typed "[EOS]" stays text, as in tinytx."""
    if isinstance(tok, HFTokenizer):
        specials = {f"{role}_token": token for role, token in tok.special_tokens.items() if token is not None}
        unk = tok.id_to_token(tok.unk_id) if tok.unk_id is not None else None
        specials.pop("unk_token", None)
        if unk is not None:
            specials["unk_token"] = unk
    else:
        pad, unk, bos, eos, mask = SPECIAL_TOKENS
        specials = {"pad_token": pad, "unk_token": unk, "bos_token": bos, "eos_token": eos, "mask_token": mask}
    return {"tokenizer_class": "PreTrainedTokenizerFast", **specials, "split_special_tokens": True,
            "clean_up_tokenization_spaces": False, "model_max_length": context}


# --- import -------------------------------------------------------------------------------------------------------

def import_hf(src: str | os.PathLike, out: str | os.PathLike) -> str:
    """Turn the local GPT-2 directory `src` (save_pretrained's layout) into the tinytx language-model run `out`."""
    src = Path(src)
    if not src.is_dir():
        raise TinytxError(f"{src}: no such directory (give a local directory saved with save_pretrained; nothing "
                          "is downloaded)")
    if not (src / CONFIG).is_file():
        raise TinytxError(f"{src}: not a Hugging Face model directory (no config.json)")
    cfg = read_json(src / CONFIG)
    if not isinstance(cfg, dict):
        raise TinytxError(f"{src / CONFIG}: not a model configuration")
    if cfg.get("format") == FORMAT:
        raise TinytxError(f"{src}: is a tinytx run already, not a Hugging Face directory")
    gpt = gpt_config_from(cfg, src)
    tokenizer = read_tokenizer(src, cfg, gpt["vocab_size"])
    model = registry.build("gpt", gpt)
    state = tinytx_state(read_weights(src), gpt["n_layer"], gpt["tie_weights"], src)
    load_state(model, state, src)
    opts = LMOptions(model="gpt", tokenizer=TOKENIZER, vocab_size=tokenizer.vocab_size, block_size=gpt["block_size"],
                     n_layer=gpt["n_layer"], n_head=gpt["n_head"], n_embd=gpt["n_embd"], dropout=gpt["dropout"],
                     positions="learned", bias=True)
    info = {"imported": {"format": "hf", "from": str(src.resolve()), "model_type": "gpt2"}}
    meta = RunMeta("lm", registry.describe(model), opts, info=info)
    run = RunDir(out)
    run.create(meta)
    try:
        run.save_tokenizer(tokenizer)
        save_weights(model, run / WEIGHTS)  # last: a run with weights is a finished import
    except BaseException:
        run.discard()
        raise
    params = sum(p.numel() for p in model.parameters())
    return (f"imported GPT-2 from {src} -> {out}: {gpt['n_layer']} layers, {gpt['n_embd']} dims, context "
            f"{gpt['block_size']}, vocabulary {gpt['vocab_size']} ({params:,} params; hf tokenizer with "
            f"{tokenizer.vocab_size} tokens). Try: tinytx generate {out}; fine-tune: tinytx train lm --init-from "
            f"{out} --data FILE -o NEW")


def gpt_config_from(cfg: dict[str, Any], src: Path) -> dict[str, Any]:
    """A tinytx GPT config computing what transformers computes with `cfg`, or a one-line refusal."""
    where = src / CONFIG
    kind = cfg.get("model_type")
    if kind != "gpt2":
        raise TinytxError(f"{where}: model_type {kind!r}; tinytx imports the GPT-2 layout only")
    try:
        n_embd, n_head, n_layer = int(cfg.get("n_embd", 768)), int(cfg.get("n_head", 12)), int(cfg.get("n_layer", 12))
        vocab, positions = int(cfg.get("vocab_size", 50257)), int(cfg.get("n_positions", 1024))
        d_ff = cfg.get("n_inner")
        d_ff = None if d_ff is None else int(d_ff)
        eps = float(cfg.get("layer_norm_epsilon", LN_EPS))
        drops = [float(cfg.get(k, 0.1)) for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop")]
    except (TypeError, ValueError) as e:
        raise TinytxError(f"{where}: a shape field is not a number ({e})") from None
    act = cfg.get("activation_function", "gelu_new")
    if act not in FROM_HF_ACT:
        raise TinytxError(f"{where}: activation_function {act!r}; tinytx's GPT computes GELU (exact or "
                          "tanh-approximated) only")
    if abs(eps - LN_EPS) > 1e-12:
        raise TinytxError(f"{where}: layer_norm_epsilon {eps:g}; tinytx's layer norms use {LN_EPS:g}")
    if not cfg.get("scale_attn_weights", True):
        raise TinytxError(f"{where}: scale_attn_weights is false; tinytx's attention always divides by sqrt(d_head)")
    if cfg.get("scale_attn_by_inverse_layer_idx", False):
        raise TinytxError(f"{where}: scale_attn_by_inverse_layer_idx is true; tinytx's attention has no per-layer "
                          "scale")
    if cfg.get("add_cross_attention", False):
        raise TinytxError(f"{where}: add_cross_attention is true; tinytx's GPT is decoder-only")
    if min(n_embd, n_head, n_layer, vocab, positions) < 1 or n_embd % n_head:
        raise TinytxError(f"{where}: n_embd {n_embd} must be a positive multiple of n_head {n_head}")
    return dict(vocab_size=vocab, block_size=positions, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                d_ff=None if d_ff in (None, 4 * n_embd) else d_ff, dropout=max(drops), bias=True,
                positions="learned", tie_weights=bool(cfg.get("tie_word_embeddings", True)),
                activation=FROM_HF_ACT[act])


def read_weights(src: Path) -> dict[str, torch.Tensor]:
    """model.safetensors (or its shards), else pytorch_model.bin read with weights_only (no code runs)."""
    files: list[Path]
    if (src / "model.safetensors").is_file():
        files = [src / "model.safetensors"]
    elif (src / "model.safetensors.index.json").is_file():
        index = read_json(src / "model.safetensors.index.json")
        files = [src / f for f in sorted(set((index.get("weight_map") or {}).values()))]
    elif (src / "pytorch_model.bin").is_file():
        try:
            state = torch.load(src / "pytorch_model.bin", map_location="cpu", weights_only=True)
        except Exception as e:
            raise TinytxError(f"{src / 'pytorch_model.bin'}: cannot be read safely ({str(e).splitlines()[0]})") \
                from None
        return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    else:
        raise TinytxError(f"{src}: has no weights (model.safetensors or pytorch_model.bin)")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as st:
                for k in st.keys():
                    state[k] = st.get_tensor(k)
        except Exception as e:
            raise TinytxError(f"{f}: not a readable safetensors file ({str(e).splitlines()[0]})") from None
    return state


def tinytx_state(hf: dict[str, torch.Tensor], n_layer: int, tied: bool, src: Path) -> dict[str, torch.Tensor]:
    """GPT-2's weights under tinytx's names (transposing the Conv1D matrices); unknown or missing ones refused."""
    def name(k: str) -> str:
        return k[len("transformer."):] if k.startswith("transformer.") else k

    w = {name(k): v for k, v in hf.items()}
    for k in [k for k in w if k.endswith((".attn.bias", ".attn.masked_bias"))]:
        if k.count(".") == 3:  # h.i.attn.bias: the causal-mask buffer older checkpoints saved, not a weight
            del w[k]
    head = w.pop("lm_head.weight", None)
    out: dict[str, torch.Tensor] = {}

    def take(key: str, transpose: bool = False) -> torch.Tensor:
        if key not in w:
            raise TinytxError(f"{src}: the weights have no {key}; not a GPT-2 checkpoint this version can read")
        x = w.pop(key).to(torch.float32)
        return x.T.contiguous() if transpose else x

    out["decoder.tok_emb.weight"] = take("wte.weight")
    out["decoder.pos.emb.weight"] = take("wpe.weight")
    for i in range(n_layer):
        p, q = f"h.{i}.", f"decoder.blocks.{i}."
        for a, b in (("ln_1", "ln1"), ("ln_2", "ln2")):
            out[q + b + ".weight"], out[q + b + ".bias"] = take(p + a + ".weight"), take(p + a + ".bias")
        for a, b in (("attn.c_attn", "attn.qkv"), ("attn.c_proj", "attn.proj"), ("mlp.c_fc", "mlp.fc"),
                     ("mlp.c_proj", "mlp.proj")):
            out[q + b + ".weight"], out[q + b + ".bias"] = take(p + a + ".weight", True), take(p + a + ".bias")
    out["decoder.ln_f.weight"], out["decoder.ln_f.bias"] = take("ln_f.weight"), take("ln_f.bias")
    if w:
        raise TinytxError(f"{src}: the weights hold {sorted(w)[0]}, which a GPT-2 of config.json's shape does not "
                          f"have ({len(w)} such tensors)")
    if tied:
        out["lm_head.weight"] = out["decoder.tok_emb.weight"]
    elif head is None:
        raise TinytxError(f"{src}: tie_word_embeddings is false but the weights have no lm_head.weight")
    else:
        out["lm_head.weight"] = head.to(torch.float32)
    return out


def load_state(model, state: dict[str, torch.Tensor], src: Path) -> None:
    own = model.state_dict()
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise TinytxError(f"{src}: weight {k} has shape {tuple(v.shape)}, config.json's model needs "
                              f"{tuple(own[k].shape)}")
        if not torch.isfinite(v).all():
            raise TinytxError(f"{src}: weight {k} holds NaN or inf")
    model.load_state_dict(state, strict=True)


def read_tokenizer(src: Path, cfg: dict[str, Any], model_vocab: int) -> HFTokenizer:
    """The directory's tokenizer as an "hf" tinytx tokenizer: tokenizer.json, or GPT-2's vocab.json + merges.txt."""
    tok_cfg = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        if (src / name).is_file():
            d = read_json(src / name)
            tok_cfg.update({k: v for k, v in d.items() if v is not None} if isinstance(d, dict) else {})
    if (src / "tokenizer.json").is_file():
        try:
            pipeline = RustTokenizer.from_file(str(src / "tokenizer.json"))
        except Exception as e:
            raise TinytxError(f"{src / 'tokenizer.json'}: not a tokenizers file ({str(e).splitlines()[0]})") from None
    elif (src / "vocab.json").is_file() and (src / "merges.txt").is_file():
        pipeline = gpt2_pipeline(src, bool(tok_cfg.get("add_prefix_space", False)))
    else:
        raise TinytxError(f"{src}: has no tokenizer (tokenizer.json, or vocab.json + merges.txt); save it with the "
                          "model (tokenizer.save_pretrained)")

    def token(role: str) -> str | None:
        t = tok_cfg.get(f"{role}_token")
        t = t.get("content") if isinstance(t, dict) else t
        if t is None and cfg.get(f"{role}_token_id") is not None:
            t = pipeline.id_to_token(int(cfg[f"{role}_token_id"]))
        return t if isinstance(t, str) and pipeline.token_to_id(t) is not None else None

    specials = {role: token(role) for role in ("bos", "eos", "unk", "pad")}
    added = {a.content for a in pipeline.get_added_tokens_decoder().values()}
    missing = sorted({t for t in specials.values() if t is not None and t not in added})
    if missing:  # named only in the config (vocab.json + merges.txt): mark them special (decode skips them)
        pipeline.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in missing])
    size = pipeline.get_vocab_size(with_added_tokens=True)
    if size > model_vocab:
        raise TinytxError(f"{src}: the tokenizer has {size} tokens but the model only {model_vocab} embedding rows")
    return HFTokenizer(pipeline, specials, vocab_size=model_vocab)


def gpt2_pipeline(src: Path, add_prefix_space: bool) -> RustTokenizer:
    """GPT-2's byte-level BPE from vocab.json + merges.txt, as transformers builds it."""
    try:
        bpe = models.BPE.from_file(str(src / "vocab.json"), str(src / "merges.txt"))
    except Exception as e:
        raise TinytxError(f"{src}: vocab.json / merges.txt do not make a BPE tokenizer ({str(e).splitlines()[0]})") \
            from None
    pipeline = RustTokenizer(bpe)
    pipeline.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    pipeline.decoder = decoders.ByteLevel()
    pipeline.post_processor = processors.ByteLevel(trim_offsets=False)
    return pipeline
