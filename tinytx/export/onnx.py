"""`tinytx export RUN --format onnx -o OUT.onnx`: a run's model as ONNX graph(s) that onnxruntime runs without torch.

    language models (gpt, rnn, gru, lstm, bigram, mlp_lm)
        OUT.onnx: ids (B, T) int64 -> logits (B, T, V) float32
    token classifiers (embedding, gru, transformer)
        OUT.onnx: ids (B, L) int64, mask (B, L) bool (True = real token) -> logits (B, K) float32
    bag-of-words classifiers (bow)
        OUT.onnx: feat_ids (B, L) int64, feat_weights (B, L) float32 (a sparse row, padded with 0) -> logits (B, K)
    seq2seq (transformer, gru)
        OUT.encoder.onnx: src (B, S) int64 -> the context and the first state
        OUT.decoder.onnx: tokens (B,) int64 + context + state -> logprobs (B, V) float32 + next_<state>...

Beside the graph(s): OUT.json, what a consumer needs (input/output names, types and shapes, special ids, vocabulary
and context size, labels, the seq2seq context/state names), and the run's tokenizer (OUT.tokenizer.json,
OUT.src_tokenizer.json) or bag-of-words features (OUT.features.json). Batch and sequence axes are dynamic; fp32;
opset OPSET. docs/export.md shows how to use them.

The seq2seq pair is the model's own decoding contract (tinytx.models.seq2seq: `start(src)` then `step(tokens,
state)`), with the state as explicit tensors: the encoder graph is `start`, the decoder graph is one `step`. Every
context/state tensor is batch-first, so beam search reorders them all with one index.

We use torch's TorchScript exporter (`torch.onnx.export(dynamo=False)`): it exports every tinytx model, including
the packed GRU classifier (torch.export cannot trace pack_padded_sequence's data-dependent lengths), offline, in
about a second per graph. Models are traced as they are; where a forward has Python-side options (a cache object)
or an op the exporter cannot handle, a small export-only wrapper below feeds it tensors or spells the op out,
without changing what it computes.
Every export is checked with onnxruntime against the model on inputs of several shapes before anything is written.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import __version__
from ..errors import TinytxError
from ..io import atomic_path, write_json
from ..rundir import FEATURES, OWN_FILES, SRC_TOKENIZER, TASK_NAMES, TOKENIZER, Run, RunDir, load_run, require
from ..specials import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID
from ..translate import NEVER

OPSET = 17  # LayerNormalization is a single op from 17; onnxruntime >= 1.14 runs it
FORMAT = "tinytx-onnx/1"
TOLERANCE = 1e-4  # fp32: onnxruntime and torch agree to ~1e-6 on these models; more means a wrong graph
EXTRA = "pip install 'tinytx[onnx]'"
SPECIAL_IDS = {"pad": PAD_ID, "unk": UNK_ID, "bos": BOS_ID, "eos": EOS_ID}  # tinytx's own kinds; see _special_ids
LM_MODELS = ("gpt", "rnn", "gru", "lstm", "bigram", "mlp_lm")
CLASSIFIERS = ("bow", "embedding", "gru_classifier", "transformer_classifier")
SEQ2SEQ = ("transformer_seq2seq", "gru_seq2seq")


# --- export-only wrappers ------------------------------------------------------------------------------------------

class MLPLMWindows(nn.Module):
    """mlp_lm: the model's forward with `Tensor.unfold` (which the exporter cannot give a dynamic length) written as
    a gather of the same windows; then the model's own embedding and MLP."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids):
        m, k = self.model, self.model.config.block_size
        seq = torch.cat([ids.new_full((ids.size(0), k - 1), m.start), ids], dim=1)  # (B, k-1+T)
        index = torch.arange(ids.size(1), device=ids.device)[:, None] + torch.arange(k, device=ids.device)
        return m.mlp(m.emb(seq[:, index]).flatten(2))  # windows (B, T, k): window t ends at token t


class EmbeddingBagMean(nn.Module):
    """embedding classifier: `EmbeddingBag(mode="mean", padding_idx=0)` (which the exporter refuses) written as the
    mean of the gathered rows that are not padding; an all-padding row gives zeros, as the bag does."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        m = self.model
        ids = torch.where(mask, ids, torch.zeros_like(ids))
        if m.config.bigram_buckets:
            ids = torch.cat([ids, m.bigram_ids(ids, mask)], dim=1)  # (B, 0) extra columns for one-token rows
        keep = (ids != 0).unsqueeze(-1).to(m.emb.weight.dtype)
        mean = (F.embedding(ids, m.emb.weight) * keep).sum(1) / keep.sum(1).clamp(min=1)
        return m.head(m.drop(mean))


class PackedGRUClassifier(nn.Module):
    """gru classifier: the same packed GRU, with the states after each row's last real token read from its padded
    output (forward direction: at the row's last token; backward direction: at its first). The model takes them from
    the GRU's final state and leaves the output unused, and the exporter's packing pass needs the output used (with
    it unused the pass fails on one-layer GRUs)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        m = self.model
        lengths = mask.sum(1).clamp(min=1)  # an empty text still runs one (padding) step, as in the model
        packed = pack_padded_sequence(m.drop(m.emb(ids)), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(m.gru(packed)[0], batch_first=True)  # (B, T, directions * H)
        if getattr(m.config, "pooling", "last") != "last":  # max / mean of the outputs: the model's own pooling
            return m.head(m.drop(m.pool(out, mask[:, : out.size(1)])))
        h = m.config.hidden_size
        last = out[torch.arange(out.size(0)), lengths - 1, :h]
        state = torch.cat([last, out[:, 0, h:]], dim=-1) if m.config.bidirectional else last
        return m.head(m.drop(state))


class _StepLayer:
    """One decoder layer's cache inside the step graph: the self-attention keys/values so far come in as tensors and
    the new ones are concatenated (tinytx's LayerCache writes into a growing buffer, which a graph cannot keep
    between calls); `cross_kv` holds the memory's keys/values. Duck-types tinytx's LayerCache."""

    def __init__(self, k=None, v=None, cross_kv=None):
        self.k, self.v, self.cross_kv = k, v, cross_kv

    def append(self, k, v):
        self.k, self.v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        return self.k, self.v


class _StepCache:
    """Duck-types tinytx's KVCache: `layer(i)`, and `length` (the position of the next token) from the keys so far."""

    def __init__(self, layers: list[_StepLayer]):
        self.layers = layers

    def layer(self, i: int) -> _StepLayer:
        return self.layers[i]

    @property
    def length(self):
        return self.layers[0].k.size(2)


class TransformerStart(nn.Module):
    """transformer_seq2seq's `start`: src (B, S) -> src_mask (B, S), the memory's cross-attention keys and values
    per decoder layer (B, H, S, Dh), and empty self-attention keys/values (B, H, 0, Dh) to start the state."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, src):
        m = self.model
        memory, mask = m.encode(src)
        heads, d = m.config.n_head, m.config.d_model
        memory_kv, state = [], []
        for block in m.decoder.blocks:
            layer = _StepLayer()
            # the layer's own cross-attention projects the memory into layer.cross_kv (as on the model's first
            # decoding step); the query and the attention output are not graph outputs, so the exporter drops them
            block.cross(memory[:, :1], context=memory, cache=layer)
            memory_kv += list(layer.cross_kv)
            state += [memory.new_zeros(src.size(0), heads, 0, d // heads) for _ in range(2)]
        return (mask, *memory_kv, *state)


class TransformerStep(nn.Module):
    """transformer_seq2seq's `step` for one token per row: tokens (B,), src_mask, the memory's keys/values and the
    self-attention keys/values so far -> log-probabilities (B, V) and the keys/values with this token appended."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens, src_mask, *tensors):
        n = len(self.model.decoder.blocks)
        memory_kv, past = tensors[: 2 * n], tensors[2 * n:]
        cache = _StepCache([_StepLayer(past[2 * i], past[2 * i + 1], (memory_kv[2 * i], memory_kv[2 * i + 1]))
                            for i in range(n)])
        # "memory" is never read (its keys/values are in the cache); a cross-attention block only checks it is given
        logprobs, _ = self.model.step(tokens, {"memory": memory_kv[0], "mask": src_mask, "cache": cache})
        return (logprobs, *[t for layer in cache.layers for t in (layer.k, layer.v)])


class GRUStart(nn.Module):
    """gru_seq2seq's `start`: src (B, S) -> src_mask (B, S), attention keys (B, S, H) and values (B, S, 2H) of the
    encoder states, and the decoder's first hidden state, batch-first (B, L, H)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, src):
        s = self.model.start(src)
        return s["mask"], s["keys"], s["values"], s["hidden"].transpose(0, 1)


class GRUStep(nn.Module):
    """gru_seq2seq's `step`: tokens (B,), src_mask, keys, values, hidden (B, L, H) -> log-probabilities (B, V) and
    the next hidden state (B, L, H)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens, src_mask, keys, values, hidden):
        state = {"mask": src_mask, "keys": keys, "values": values, "hidden": hidden.transpose(0, 1).contiguous()}
        logprobs, state = self.model.step(tokens, state)
        return logprobs, state["hidden"].transpose(0, 1)


# --- what to export, per model -------------------------------------------------------------------------------------

Sample = Callable[[int, int, torch.Generator], tuple]  # (batch, length, generator) -> example inputs


@dataclass
class Graph:
    """One ONNX file: the module to trace, its input/output names, which axes are dynamic, and example inputs."""

    suffix: str  # OUT with ".onnx" replaced by this
    module: nn.Module
    inputs: list[str]
    outputs: list[str]
    axes: dict[str, dict[int, str]]
    sample: Sample
    trace_shape: tuple[int, int] = (2, 3)
    check_shapes: tuple[tuple[int, int], ...] = ((1, 1), (3, 7), (2, 12))


@dataclass
class Plan:
    graphs: list[Graph]
    describe: str  # "gpt language model", ...
    info: dict[str, Any] = field(default_factory=dict)  # task-specific sidecar entries


def _ids(batch: int, length: int, vocab: int, g: torch.Generator, low: int = 0) -> torch.Tensor:
    return torch.randint(low, vocab, (batch, length), generator=g)


def _padded(batch: int, length: int, vocab: int, g: torch.Generator, eos: bool = False,
            low: int = len(SPECIAL_TOKENS)) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rows of ids in [low, vocab) of random lengths (the first row full), padded with 0: (ids, mask)."""
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    lengths[0] = length
    mask = torch.arange(length)[None, :] < lengths[:, None]
    ids = _ids(batch, length, vocab, g, low=min(low, vocab - 1))
    if eos:
        ids[torch.arange(batch), lengths - 1] = EOS_ID
    return ids * mask, mask


def _lm_plan(run: Run) -> Plan:
    model, name = run.model, run.meta.model["name"]
    vocab = model.config.vocab_size
    context = getattr(model, "context_size", None)
    module = MLPLMWindows(model) if name == "mlp_lm" else model
    longest = min(12, context) if context else 12  # a GPT's positions end at its block size
    axes = {"ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    graph = Graph(".onnx", module, ["ids"], ["logits"], axes, lambda b, t, g: (_ids(b, t, vocab, g),),
                  trace_shape=(2, min(3, longest)), check_shapes=((1, 1), (3, min(7, longest)), (2, longest)))
    return Plan([graph], f"{name} language model", {"vocab_size": vocab, "context_size": context})


def _classify_plan(run: Run) -> Plan:
    model, name = run.model, run.meta.model["name"]
    labels = list(run.info.get("labels", []))
    out_axes = {"logits": {0: "batch"}}
    if name == "bow":
        features = model.config.num_features

        def bow_sample(b, t, g):
            ids, mask = _padded(b, t, features, g, low=1)  # feature ids, padded with 0 (weight 0)
            return ids, torch.rand(b, t, generator=g) * mask

        axes = {"feat_ids": {0: "batch", 1: "features"}, "feat_weights": {0: "batch", 1: "features"}, **out_axes}
        graph = Graph(".onnx", model, ["feat_ids", "feat_weights"], ["logits"], axes, bow_sample)
        return Plan([graph], "bow classifier", {"labels": labels, "num_features": features})
    vocab = model.config.vocab_size
    module = {"embedding": EmbeddingBagMean, "gru_classifier": PackedGRUClassifier}.get(name, lambda m: m)(model)
    axes = {"ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}, **out_axes}
    graph = Graph(".onnx", module, ["ids", "mask"], ["logits"], axes, lambda b, t, g: _padded(b, t, vocab, g))
    return Plan([graph], f"{name.removesuffix('_classifier')} classifier",
                {"labels": labels, "max_len": run.options.max_len})


def _seq2seq_plan(run: Run) -> Plan:
    model, name = run.model, run.meta.model["name"]
    c = model.config
    if name == "transformer_seq2seq":
        start, step = TransformerStart(model), TransformerStep(model)
        n = len(model.decoder.blocks)
        context = ["src_mask"] + [f"memory_{kv}_{i}" for i in range(n) for kv in ("key", "value")]
        state = [f"{kv}_{i}" for i in range(n) for kv in ("key", "value")]
        axes = {"src_mask": {0: "batch", 1: "src_len"}, **{x: {0: "batch", 2: "src_len"} for x in context[1:]}}
        state_axes = {x: {0: "batch", 2: "past_len"} for x in state}
        next_axes = {f"next_{x}": {0: "batch", 2: "next_len"} for x in state}
        heads, dh = c.n_head, c.d_model // c.n_head

        def past(b, t, g):
            return tuple(torch.randn(b, heads, t, dh, generator=g) for _ in state)
    else:
        start, step = GRUStart(model), GRUStep(model)
        context, state = ["src_mask", "memory_keys", "memory_values"], ["hidden"]
        axes = {x: {0: "batch", 1: "src_len"} for x in context}
        state_axes, next_axes = {"hidden": {0: "batch"}}, {"next_hidden": {0: "batch"}}

        def past(b, t, g):
            return (torch.randn(b, c.n_layer, c.hidden_size, generator=g),)

    def src_sample(b, t, g):
        return (_padded(b, t, c.src_vocab_size, g, eos=True)[0],)

    def step_sample(b, t, g):
        # a real context from the encoder (source length t + 2), and t tokens decoded so far
        with torch.no_grad():
            ctx = start(*src_sample(b, t + 2, g))[: len(context)]
        return (_ids(b, 1, c.tgt_vocab_size, g)[:, 0], *ctx, *past(b, t, g))

    enc = Graph(".encoder.onnx", start, ["src"], context + state,
                {"src": {0: "batch", 1: "src_len"}, **axes, **{x: {0: "batch"} for x in state}}, src_sample)
    # traced with tokens already decoded (past length 3): the step's causal mask is then built for any length
    dec = Graph(".decoder.onnx", step, ["tokens", *context, *state], ["logprobs", *[f"next_{x}" for x in state]],
                {"tokens": {0: "batch"}, **axes, **state_axes, "logprobs": {0: "batch"}, **next_axes}, step_sample,
                trace_shape=(2, 3), check_shapes=((1, 0), (3, 1), (2, 9)))
    family = name.removesuffix("_seq2seq")
    return Plan([enc, dec], f"{family} seq2seq model",
                {"context": context, "state": state, "max_len": model.max_len, "never": list(NEVER)})


def _refuse_early(run_dir: Path) -> tuple[str, str]:
    """(task, model name) of a run that can be exported; anything else is refused in one line, before loading."""
    meta = require(run_dir)
    supported = {"lm": LM_MODELS, "classify": CLASSIFIERS, "seq2seq": SEQ2SEQ}
    if meta.task not in supported:
        raise TinytxError(f"{run_dir}: a {TASK_NAMES.get(meta.task, meta.task)} run has no ONNX export (export "
                          "supports language-model, classification and seq2seq runs)")
    if not meta.model:
        raise TinytxError(f"{run_dir}: has no model yet (the run never reached its first checkpoint)")
    name = meta.model["name"]
    if name not in supported[meta.task]:
        raise TinytxError(f"{run_dir}: no ONNX export for a {name!r} model")
    if meta.model["config"].get("hand_cell"):
        raise TinytxError(f"{run_dir}: its GRU is the hand-written cell (a Python loop over time), which a traced "
                          "graph would fix to one sequence length; retrain without hand_cell to export it")
    return meta.task, name


# --- export, check, write ------------------------------------------------------------------------------------------

def _require_extra():
    """(onnx, onnxruntime), imported when an export runs: they are an optional extra."""
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise TinytxError(f"ONNX export needs the onnx extra ({e.name or 'onnx'} is not installed): {EXTRA}") from None
    return onnx, onnxruntime


@contextlib.contextmanager
def _quiet():
    """The exporter's warnings (deprecation, tracer notes, shape-inference notes printed by C++ on stderr) say
    nothing a user can act on; errors still raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)


def _export(graph: Graph, path: str) -> None:
    args = graph.sample(*graph.trace_shape, torch.Generator().manual_seed(0))
    graph.module.eval()
    with torch.no_grad(), _quiet():
        torch.onnx.export(graph.module, args, path, input_names=graph.inputs, output_names=graph.outputs,
                          dynamic_axes=graph.axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)


def _session(ort, path: str):
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _check(ort, graph: Graph, path: str) -> tuple[float, dict[str, set[tuple[int, ...]]]]:
    """Largest |onnxruntime - torch| over every output, on inputs of several shapes (boolean outputs must match),
    and the shapes each input and output took."""
    session, worst, seen = _session(ort, path), 0.0, {}
    g = torch.Generator().manual_seed(1)
    for shape in graph.check_shapes:
        args = graph.sample(*shape, g)
        with torch.no_grad():
            expected = graph.module(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = session.run(graph.outputs, {n: a.numpy() for n, a in zip(graph.inputs, args)})
        for name, a in zip(graph.inputs, args):
            seen.setdefault(name, set()).add(tuple(a.shape))
        for name, want, have in zip(graph.outputs, expected, got):
            want = want.numpy()
            if want.shape != have.shape:
                raise TinytxError(f"the exported graph's {name} has shape {have.shape}, the model's {want.shape} "
                                  f"(inputs of shape {shape}); nothing was written")
            seen.setdefault(name, set()).add(have.shape)
            if want.dtype == np.bool_:
                worst = max(worst, float((want != have).any()))
            elif want.size:
                worst = max(worst, float(np.abs(want - have).max()))
    return worst, seen


def _name_axes(onnx, path: str, graph: Graph, seen: dict[str, set[tuple[int, ...]]]) -> None:
    """Declare each input/output axis as we mean it: our name for a dynamic axis, the number for a fixed one (the
    exporter leaves internal names such as 'Transposehidden_dim_1' where its shape inference gave up)."""
    model = onnx.load(path)
    for value in [*model.graph.input, *model.graph.output]:
        if value.name not in seen:
            continue  # a weight listed as an input by old exporters
        dynamic = graph.axes.get(value.name, {})
        for j, dim in enumerate(value.type.tensor_type.shape.dim):
            sizes = {shape[j] for shape in seen[value.name]}
            if j in dynamic:
                dim.dim_param = dynamic[j]
            elif len(sizes) == 1:
                dim.dim_value = sizes.pop()
    onnx.save(model, path)


def _describe(ort, path: Path) -> dict[str, Any]:
    """Input and output names, types and shapes (axis names for the dynamic ones), as onnxruntime reads them."""
    s = _session(ort, str(path))

    def spec(x):
        kind = x.type.removeprefix("tensor(").removesuffix(")")
        kind = {"float": "float32", "double": "float64"}.get(kind, kind)
        return {"name": x.name, "type": kind, "shape": list(x.shape)}

    return {"file": path.name, "inputs": [spec(x) for x in s.get_inputs()],
            "outputs": [spec(x) for x in s.get_outputs()]}


def _shapes(entries: list[dict]) -> str:
    return ", ".join(f"{e['name']} {e['type']} ({', '.join(map(str, e['shape']))})" for e in entries)


def _special_ids(tokenizer) -> dict[str, int | None]:
    """tinytx's fixed special ids, or an imported tokenizer's own (None where it has none: GPT-2 has no [PAD])."""
    return {role: getattr(tokenizer, f"{role}_id", fixed) for role, fixed in SPECIAL_IDS.items()}


def _copy(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def export_onnx(run_dir: str | os.PathLike, out: str | os.PathLike) -> list[str]:
    """Export the run's model to `out` (a .onnx file; seq2seq: OUT.encoder.onnx and OUT.decoder.onnx) with OUT.json
    and the run's tokenizer or features beside it. Returns the lines to print."""
    onnx, ort = _require_extra()
    run_dir, out = Path(run_dir), Path(out)
    if out.suffix != ".onnx":
        raise TinytxError(f"{out}: give a .onnx file name (the JSON sidecar and the tokenizer are written beside it)")
    if out.is_dir():
        raise TinytxError(f"{out}: is a directory; give a .onnx file name")
    task, name = _refuse_early(run_dir)
    stem = out.with_suffix("")
    names = [f"{stem.name}{x}" for x in (".json", ".tokenizer.json", ".src_tokenizer.json", ".features.json")]
    if RunDir(out.parent).is_ours() and (clash := [x for x in names if x in OWN_FILES]):
        raise TinytxError(f"{out}: would overwrite the run's own {clash[0]}; choose another name")
    run = load_run(run_dir, device="cpu")
    plan = {"lm": _lm_plan, "classify": _classify_plan, "seq2seq": _seq2seq_plan}[task](run)

    # export and check every graph into temp files first: a failure writes nothing
    files, worst, described = [], 0.0, {}
    with contextlib.ExitStack() as stack:
        for graph in plan.graphs:
            dest = Path(f"{stem}{graph.suffix}")
            tmp = stack.enter_context(atomic_path(dest))
            try:
                _export(graph, tmp)
            except Exception as e:  # the exporter raises many kinds; say which, in one line
                first = (str(e).strip().splitlines() or [""])[0][:200]
                raise TinytxError(f"{run_dir}: the {name} model did not export to ONNX ({type(e).__name__}: "
                                  f"{first})") from None
            diff, seen = _check(ort, graph, tmp)
            if not diff <= TOLERANCE:
                raise TinytxError(f"{run_dir}: the exported {dest.name} disagrees with the model (max |diff| "
                                  f"{diff:.2g} > {TOLERANCE:g}); nothing was written")
            _name_axes(onnx, tmp, graph, seen)
            worst = max(worst, diff)
            described[graph.suffix] = _describe(ort, Path(tmp)) | {"file": dest.name}
            files.append(dest)

    sidecar: dict[str, Any] = {
        "format": FORMAT, "tinytx_version": __version__, "task": task, "model": name, "opset": OPSET,
        "dtype": "float32", "run": str(run_dir), "special_ids": _special_ids(run.tokenizer),
    }
    if task == "seq2seq":
        sidecar["encoder"], sidecar["decoder"] = described[".encoder.onnx"], described[".decoder.onnx"]
    else:
        sidecar["graph"] = described[".onnx"]
    sidecar.update(plan.info)
    extra = []
    if run.featurizer is not None:
        _copy(run_dir / FEATURES, Path(f"{stem}.features.json"))
        sidecar["features"] = f"{stem.name}.features.json"
        extra.append(sidecar["features"])
    if (run_dir / TOKENIZER).exists():
        _copy(run_dir / TOKENIZER, Path(f"{stem}.tokenizer.json"))
        sidecar["tokenizer"] = f"{stem.name}.tokenizer.json"
        sidecar["tokenizer_kind"] = run.tokenizer.kind
        extra.append(sidecar["tokenizer"])
    if task == "seq2seq":
        if (run_dir / SRC_TOKENIZER).exists():
            _copy(run_dir / SRC_TOKENIZER, Path(f"{stem}.src_tokenizer.json"))
            sidecar["src_tokenizer"] = f"{stem.name}.src_tokenizer.json"
            extra.append(sidecar["src_tokenizer"])
        else:  # one shared vocabulary
            sidecar["src_tokenizer"] = sidecar.get("tokenizer")
    write_json(f"{stem}.json", sidecar)

    lines = [f"{run_dir}: {plan.describe} -> {', '.join(str(f) for f in files)} (ONNX opset {OPSET}, fp32)"]
    if task == "seq2seq":
        enc, dec = described[".encoder.onnx"], described[".decoder.onnx"]
        lines.append(f"  {enc['file']}: {_shapes(enc['inputs'])} -> context {', '.join(plan.info['context'])}; "
                     f"state {', '.join(plan.info['state'])}")
        lines.append(f"  {dec['file']}: {_shapes(dec['inputs'][:1])} + context + state -> "
                     f"{_shapes(dec['outputs'][:1])} + {', '.join(o['name'] for o in dec['outputs'][1:])}")
    else:
        d = described[".onnx"]
        lines.append(f"  {_shapes(d['inputs'])} -> {_shapes(d['outputs'])}")
    lines.append(f"  onnxruntime agrees with the model: max |diff| {worst:.1e} on inputs of several shapes")
    lines.append(f"  wrote {', '.join([f'{stem.name}.json', *extra])} beside it")
    return lines

