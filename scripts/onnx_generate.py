"""Generate text from a language model exported with `tinytx export RUN --format onnx -o OUT.onnx`, with
onnxruntime and numpy only: no torch, no tinytx.

    python scripts/onnx_generate.py OUT.onnx --prompt "ROMEO:" --max-new-tokens 200 --temperature 0.8 --top-k 20

Reads OUT.json (written beside the graph) for the tokenizer file, the special ids and the context size.
Tokenizers: char (read here from its JSON), bpe and the "hf" kind of an imported Hugging Face model (both through
the `tokenizers` library, which needs no torch either). Each step runs the graph on the last `context_size` tokens
(the whole text for models without a window) and samples the next token from the last position's logits: greedy
with --temperature 0, else softmax(logits / temperature), optionally restricted to the top-k tokens and to the
top-p probability mass (the same rules as `tinytx generate`). With --temperature 0 the text is the one
`tinytx generate --temperature 0 --no-cache` writes (that path crops the window the same way).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

N_SPECIAL = 5  # a char tokenizer has [PAD] [UNK] [BOS] [EOS] [MASK] at ids 0..4, then its characters


class Failure(Exception):
    """A problem to report in one line (exit code 2, as tinytx does)."""


class CharTokenizer:
    """tinytx's char tokenizer JSON: {"kind": "char", "chars": [...], "byte_fallback": bool}. Character i has id
    5 + i; with byte fallback, byte b has id 5 + len(chars) + b and a character outside the alphabet is written as
    its UTF-8 bytes (without it, as [UNK], id 1). Decoding joins characters and bytes and reads them as UTF-8."""

    def __init__(self, d: dict):
        self.chars = list(d["chars"])
        self.index = {c: N_SPECIAL + i for i, c in enumerate(self.chars)}
        self.byte_offset = N_SPECIAL + len(self.chars) if d.get("byte_fallback", False) else None

    def encode(self, text: str) -> list[int]:
        ids = []
        for c in text:
            i = self.index.get(c)
            if i is not None:
                ids.append(i)
            elif self.byte_offset is not None:
                ids.extend(self.byte_offset + b for b in c.encode("utf-8"))
            else:
                ids.append(1)  # [UNK]
        return ids

    def unknown_chars(self, text: str) -> list[str]:
        return sorted({c for c in text if c not in self.index})

    def decode(self, ids) -> str:
        ids = [i for i in ids if i >= N_SPECIAL]
        if self.byte_offset is None or all(i < self.byte_offset for i in ids):
            return "".join(self.chars[i - N_SPECIAL] for i in ids if i - N_SPECIAL < len(self.chars))
        return b"".join(self.chars[i - N_SPECIAL].encode("utf-8", "surrogatepass") if i < self.byte_offset
                        else bytes([i - self.byte_offset]) for i in ids).decode("utf-8", "replace")


class PipelineTokenizer:
    """A `tokenizers` pipeline: tinytx's byte-level BPE file is one; an "hf" file (an imported model's tokenizer)
    holds one under "tokenizer", and ids past its own vocabulary (padding rows of the model's embedding) decode to
    nothing."""

    def __init__(self, d: dict):
        from tokenizers import Tokenizer  # torch-free; only needed for these kinds

        self.hf = Tokenizer.from_str(json.dumps(d["tokenizer"] if d.get("kind") == "hf" else d))
        self.hf.encode_special_tokens = True  # "[EOS]" typed in a prompt is text, as in tinytx
        self.size = self.hf.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def unknown_chars(self, text: str) -> list[str]:
        return []  # what the pipeline cannot cover becomes its unknown id, if it has one

    def decode(self, ids) -> str:
        return self.hf.decode([i for i in ids if i < self.size], skip_special_tokens=True)


def load_export(path: str) -> tuple[dict, Path]:
    """(OUT.json, OUT.onnx) from either file's path."""
    p = Path(path)
    sidecar = p.with_suffix(".json")
    if not sidecar.is_file():
        raise Failure(f"{sidecar}: not found (tinytx export --format onnx writes it beside the .onnx file)")
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    if meta.get("task") != "lm":
        raise Failure(f"{sidecar}: a {meta.get('task')} export; this script generates from language models")
    graph = sidecar.parent / meta["graph"]["file"]
    if not graph.is_file():
        raise Failure(f"{graph}: not found")
    return meta, graph


def load_tokenizer(meta: dict, folder: Path):
    path = folder / meta["tokenizer"]
    kind = meta.get("tokenizer_kind")
    if kind not in ("char", "bpe", "hf"):
        raise Failure(f"{path}: a {kind} tokenizer; this script reads char, bpe and hf tokenizers")
    d = json.loads(path.read_text(encoding="utf-8"))
    return CharTokenizer(d) if kind == "char" else PipelineTokenizer(d)


def encode_prompt(tok, prompt: str, unknown: str, special: dict) -> list[int]:
    """As tinytx's encode_prompt: characters the tokenizer does not know (its unknown id, or outside a char
    tokenizer's alphabet, which byte fallback would spell as bytes the model never saw) are refused unless
    unknown == "unk"; an empty prompt starts from a newline, else [BOS]."""
    unk, bos = special.get("unk"), special.get("bos")
    if prompt == "":
        ids = tok.encode("\n")
        return ids if (ids and (unk is None or unk not in ids) and not tok.unknown_chars("\n")) or bos is None \
            else [bos]
    ids = tok.encode(prompt)
    if unknown == "error" and ((unk is not None and unk in ids) or tok.unknown_chars(prompt)):
        bad = sorted({c for c in prompt if unk is not None and unk in tok.encode(c)} | set(tok.unknown_chars(prompt)))
        raise Failure(f"the prompt contains characters the tokenizer does not know ({', '.join(map(repr, bad))}); "
                      "remove them or pass --unknown unk")
    if not ids:
        raise Failure("the prompt encodes to no tokens")
    return ids


def sample_next(logits: np.ndarray, temperature: float, top_k: int | None, top_p: float | None,
                rng: np.random.Generator) -> int:
    """One token id from the last position's logits (V,)."""
    if temperature == 0:
        return int(np.argmax(logits))
    logits = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < logits.size:
        kth = np.sort(logits)[-top_k]
        logits = np.where(logits < kth, -np.inf, logits)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-logits, kind="stable")
        p = np.exp(logits[order] - logits[order[0]])
        p /= p.sum()
        drop = np.cumsum(p) - p > top_p  # the mass before this token already reaches top_p
        logits[order[drop]] = -np.inf
    p = np.exp(logits - logits.max())
    return int(rng.choice(logits.size, p=p / p.sum()))


def generate(session, ids: list[int], max_new_tokens: int, context: int | None, temperature: float,
             top_k: int | None, top_p: float | None, seed: int | None) -> list[int]:
    rng = np.random.default_rng(seed)
    ids = list(ids)
    for _ in range(max_new_tokens):
        window = ids[-context:] if context else ids
        logits = session.run(["logits"], {"ids": np.array([window], dtype=np.int64)})[0]
        ids.append(sample_next(logits[0, -1], temperature, top_k, top_p, rng))
    return ids


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="generate text from a tinytx language model exported to ONNX")
    p.add_argument("model", help="OUT.onnx (or OUT.json) written by `tinytx export RUN --format onnx -o OUT.onnx`")
    p.add_argument("--prompt", default="", help="text to continue (empty: start from a newline)")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None, help="the same seed gives the same text")
    p.add_argument("--unknown", choices=("error", "unk"), default="error",
                   help="prompt characters the tokenizer does not know: refuse, or go on ([UNK] in their place, or "
                        "their bytes for a char tokenizer with byte fallback)")
    args = p.parse_args(argv)
    try:
        if args.max_new_tokens < 0:
            raise Failure(f"max new tokens must be >= 0, got {args.max_new_tokens}")
        if not 0 <= args.temperature < float("inf"):
            raise Failure(f"temperature must be a number >= 0 (0 = greedy), got {args.temperature}")
        if args.top_k is not None and args.top_k < 1:
            raise Failure(f"top-k must be >= 1, got {args.top_k}")
        if args.top_p is not None and not 0 < args.top_p <= 1:
            raise Failure(f"top-p must be in (0, 1], got {args.top_p}")
        meta, graph = load_export(args.model)
        tok = load_tokenizer(meta, graph.parent)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        ids = encode_prompt(tok, args.prompt, args.unknown, meta.get("special_ids", {}))
        out = generate(session, ids, args.max_new_tokens, meta.get("context_size"), args.temperature, args.top_k,
                       args.top_p, args.seed)
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(args.prompt + tok.decode(out[len(ids):]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
