"""`tinytx export RUN --format onnx`: onnxruntime gives the model's outputs (within 1e-4, fp32) on random inputs of
several batch sizes and lengths, for every exportable model family; the generation script needs no torch; errors
are one line; the examples in docs/export-onnx.md run."""
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tinytx import load_run  # noqa: E402
from tinytx.cli import main  # noqa: E402
from tinytx.predict import run_inputs  # noqa: E402
from tinytx.specials import BOS_ID, EOS_ID  # noqa: E402
from tinytx.translate import encode_sources  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures"
SCRIPT = ROOT / "scripts" / "onnx_generate.py"
TOL = 1e-4
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n") * 20
COMMON = ["--seed", "7", "--no-progress", "--device", "cpu", "--threads", "1"]
LM = ["--block-size", "16", "--n-layer", "2", "--n-head", "2", "--n-embd", "16", "--hidden-size", "16",
      "--batch-size", "4", "--eval-interval", "50", "--eval-batches", "1", "--warmup-steps", "2"]
CLASSIFY = ["--data", str(FIX / "classify" / "train.csv"), "--min-count", "1", "--n-embd", "16", "--n-head", "2",
            "--d-ff", "32", "--hidden-size", "8", "--batch-size", "8", "--max-len", "12", "--max-steps", "3"]
SEQ2SEQ = ["--src", str(FIX / "seq2seq" / "train.de"), "--tgt", str(FIX / "seq2seq" / "train.en"),
           "--vocab-size", "300", "--n-embd", "16", "--n-head", "2", "--d-ff", "32", "--batch-size", "8",
           "--max-len", "24", "--max-steps", "20", "--warmup-steps", "2"]
RUNS = {  # name -> the train command's arguments (tiny models, a few steps)
    "gpt": ["lm", "--model", "gpt", "--max-steps", "20", *LM],
    "gpt-sinusoidal": ["lm", "--model", "gpt", "--positions", "sinusoidal", "--no-bias", "--max-steps", "3", *LM],
    "gpt-bpe": ["lm", "--model", "gpt", "--tokenizer", "bpe", "--vocab-size", "300", "--max-steps", "20", *LM],
    "gru": ["lm", "--model", "gru", "--max-steps", "3", *LM],
    "lstm": ["lm", "--model", "lstm", "--max-steps", "3", *LM],
    "rnn": ["lm", "--model", "rnn", "--max-steps", "3", *LM],
    "bigram": ["lm", "--model", "bigram", "--max-steps", "3", *LM],
    "mlp_lm": ["lm", "--model", "mlp_lm", "--max-steps", "3", *LM],
    "bow": ["classify", "--model", "bow", "--hidden", "8", *CLASSIFY],
    "embedding": ["classify", "--model", "embedding", "--bigram-buckets", "50", *CLASSIFY],
    "gru-classifier": ["classify", "--model", "gru", *CLASSIFY],
    "gru-classifier-2": ["classify", "--model", "gru", "--n-layer", "2", "--no-bidirectional", *CLASSIFY],
    "transformer-classifier": ["classify", "--model", "transformer", *CLASSIFY],
    "transformer-classifier-mean": ["classify", "--model", "transformer", "--pooling", "mean", *CLASSIFY],
    "transformer-seq2seq": ["seq2seq", "--model", "transformer", "--n-layer", "2", "--shared-vocab", *SEQ2SEQ],
    "gru-seq2seq": ["seq2seq", "--model", "gru", *SEQ2SEQ],
    "tabular": ["tabular", "--data", str(ROOT / "data" / "tabular" / "line.csv"), "--target", "y", "--max-steps", "3"],
}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    (d / "corpus.txt").write_text(TEXT)
    return d


@pytest.fixture(scope="module")
def trained(work):
    """trained(name) -> the run directory, trained once per module."""

    def get(name: str) -> Path:
        out = work / "runs" / name
        if not out.exists():
            args = list(RUNS[name])
            if args[0] == "lm":
                args += ["--data", str(work / "corpus.txt")]
            assert main(["train", *args, *COMMON, "--out", str(out)]) == 0
        return out

    return get


@pytest.fixture(scope="module")
def exported(work, trained):
    """exported(name) -> (OUT.onnx path, its sidecar), exported once per module through the command line."""
    done = {}

    def get(name: str):
        if name not in done:
            out = work / "exports" / f"{name}.onnx"
            assert main(["export", str(trained(name)), "--format", "onnx", "-o", str(out)]) == 0
            done[name] = out, json.loads(out.with_suffix(".json").read_text())
        return done[name]

    return get


def session(path) -> "ort.InferenceSession":
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


# --- the graphs compute what the models compute ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gpt", "gpt-sinusoidal", "gru", "lstm", "rnn", "bigram", "mlp_lm"])
def test_language_models_match(name, exported, trained):
    out, meta = exported(name)
    run = load_run(trained(name))
    s = session(out)
    assert [i.name for i in s.get_inputs()] == ["ids"] and [o.name for o in s.get_outputs()] == ["logits"]
    assert meta["task"] == "lm" and meta["vocab_size"] == run.tokenizer.vocab_size
    assert meta["context_size"] == (16 if name.startswith("gpt") else 1 if name == "bigram" else None)
    assert (out.parent / meta["tokenizer"]).read_bytes() == (run.path / "tokenizer.json").read_bytes()
    assert meta["graph"]["inputs"] == [{"name": "ids", "type": "int64", "shape": ["batch", "seq"]}]
    assert meta["graph"]["outputs"] == [{"name": "logits", "type": "float32",
                                         "shape": ["batch", "seq", meta["vocab_size"]]}]
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for batch, length in [(1, 1), (2, 7), (5, 16), (3, 11)]:
        ids = torch.randint(0, meta["vocab_size"], (batch, length), generator=g)
        with torch.no_grad():
            want = run.model(ids).numpy()
        got = s.run(["logits"], {"ids": ids.numpy()})[0]
        assert got.shape == want.shape == (batch, length, meta["vocab_size"])
        worst = max(worst, max_diff(got, want))
    assert worst < TOL, worst


@pytest.mark.parametrize("name", ["bow", "embedding", "gru-classifier", "gru-classifier-2", "transformer-classifier",
                                  "transformer-classifier-mean"])
def test_classifiers_match(name, exported, trained):
    out, meta = exported(name)
    run = load_run(trained(name))
    s = session(out)
    names = [i.name for i in s.get_inputs()]
    assert names == (["feat_ids", "feat_weights"] if name == "bow" else ["ids", "mask"])
    assert meta["labels"] == run.info["labels"]
    assert (out.parent / meta["features" if name == "bow" else "tokenizer"]).exists()
    texts = [line.split(",")[0] for line in (FIX / "classify" / "test.csv").read_text().splitlines()[1:]]
    inputs, worst = run_inputs(run), 0.0
    batches = [texts[:1], texts[1:5], texts[5:30]]
    if name != "bow":  # and random ids of random lengths (longer than max_len too: the model cuts, so must the graph)
        g = torch.Generator().manual_seed(0)
        for batch, length in [(1, 1), (4, 9), (6, 20)]:
            lengths = torch.randint(1, length + 1, (batch,), generator=g)
            mask = torch.arange(length)[None] < lengths[:, None]
            batches.append({"ids": torch.randint(5, run.tokenizer.vocab_size, (batch, length), generator=g) * mask,
                            "mask": mask})
    for part in batches:
        if isinstance(part, dict):
            batch = part
        else:
            batch = inputs.collate(inputs.examples(part, [0] * len(part)))
            batch.pop("y")
        with torch.no_grad():
            want = run.model(**batch).numpy()
        got = s.run(["logits"], {k: batch[k].numpy() for k in names})[0]
        assert got.shape == want.shape
        worst = max(worst, max_diff(got, want))
    assert worst < TOL, worst


@pytest.mark.parametrize("name", ["transformer-seq2seq", "gru-seq2seq"])
def test_seq2seq_matches_step_by_step(name, exported, trained):
    """Encoder graph = model.start, decoder graph = model.step: the same log-probabilities at every step, for
    batches of real sentences of several sizes, fed the tokens tinytx's greedy decoding picks."""
    out, meta = exported(name)
    run = load_run(trained(name))
    model = run.model
    enc, dec = session(out.with_suffix(".encoder.onnx")), session(out.with_suffix(".decoder.onnx"))
    enc_names = [o.name for o in enc.get_outputs()]
    assert enc_names == meta["context"] + meta["state"]
    assert [i.name for i in dec.get_inputs()] == ["tokens", *meta["context"], *meta["state"]]
    assert [o.name for o in dec.get_outputs()] == ["logprobs", *[f"next_{x}" for x in meta["state"]]]
    axes = {d for g in ("encoder", "decoder") for part in ("inputs", "outputs") for x in meta[g][part]
            for d in x["shape"] if isinstance(d, str)}
    assert axes <= {"batch", "src_len", "past_len", "next_len"}, axes  # no exporter-internal axis names
    shared = run.src_tokenizer is None  # --shared-vocab: one tokenizer file serves both sides
    assert (meta["src_tokenizer"] == meta["tokenizer"]) == shared
    assert (out.parent / meta["src_tokenizer"]).read_bytes() == (
        run.path / ("tokenizer.json" if shared else "src_tokenizer.json")).read_bytes()
    sentences = (FIX / "seq2seq" / "test.de").read_text().splitlines()
    worst = 0.0
    for rows in (sentences[:1], sentences[1:4], sentences[4:12]):
        ids, _ = encode_sources(run.src_tokenizer or run.tokenizer, rows, model.max_len)
        src = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
        for r, x in enumerate(ids):
            src[r, : len(x)] = torch.tensor(x)
        values = dict(zip(enc_names, enc.run(None, {"src": src.numpy()})))
        with torch.no_grad():
            state = model.start(src)
        tokens = torch.full((len(ids),), BOS_ID)
        for _ in range(12):
            got = dec.run(None, {"tokens": tokens.numpy(), **values})
            with torch.no_grad():
                want, state = model.step(tokens, state)
            worst = max(worst, max_diff(got[0], want.numpy()))
            values.update(zip(meta["state"], got[1:]))
            tokens = want.argmax(-1)
    assert worst < TOL, worst


def greedy_onnx(out: Path, meta: dict, src_ids: list[int], max_len_a=1.5, max_len_b=10) -> list[int]:
    """Greedy decoding with the two graphs and numpy only (tinytx's rules: length limit, banned ids)."""
    enc, dec = session(out.with_suffix(".encoder.onnx")), session(out.with_suffix(".decoder.onnx"))
    names = [o.name for o in enc.get_outputs()]
    values = dict(zip(names, enc.run(None, {"src": np.array([src_ids], dtype=np.int64)})))
    limit = min(int(max_len_a * len(src_ids) + max_len_b), meta["max_len"] - 1)
    token, result = BOS_ID, []
    for step in range(limit + 1):
        logprobs, *state = dec.run(None, {"tokens": np.array([token], dtype=np.int64), **values})
        logprobs[:, meta["never"]] = -np.inf
        token = EOS_ID if step == limit else int(logprobs[0].argmax())
        if token == EOS_ID:
            break
        result.append(token)
        values.update(zip(meta["state"], state))
    return result


@pytest.mark.parametrize("name", ["transformer-seq2seq", "gru-seq2seq"])
def test_seq2seq_greedy_translation_is_tinytx_s(name, exported, trained):
    out, meta = exported(name)
    run = load_run(trained(name))
    sentences = (FIX / "seq2seq" / "test.de").read_text().splitlines()[:5]
    ids, _ = encode_sources(run.src_tokenizer or run.tokenizer, sentences, run.model.max_len)
    got = [run.tokenizer.decode(greedy_onnx(out, meta, x)).strip() for x in ids]
    assert got == run.translate(sentences, beam=1)


# --- text generation without torch ----------------------------------------------------------------------------------

def generate_script(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("name", ["gpt", "gpt-bpe", "lstm"])
def test_generate_script_greedy_is_tinytx_generate(name, exported, trained):
    """Past the context window (16) too: the script crops the window as tinytx's uncached generation does."""
    out, meta = exported(name)
    run = load_run(trained(name))
    for prompt in ("All:", "Zoë, "):  # characters the text never had: [UNK], or their bytes with byte fallback
        r = generate_script(out, "--prompt", prompt, "--unknown", "unk", "--max-new-tokens", 40, "--temperature", 0)
        assert r.returncode == 0, r.stderr
        want = run.generate(prompt, max_new_tokens=40, temperature=0, use_cache=False, unknown="unk")
        assert r.stdout == want + "\n"


def test_generate_script_samples_repeatably(exported):
    out, _ = exported("gpt")
    args = ("--prompt", "First", "--max-new-tokens", 30, "--temperature", 0.8, "--top-k", 5, "--top-p", 0.9)
    a, b = generate_script(out, *args, "--seed", 3), generate_script(out, *args, "--seed", 3)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.startswith("First") and len(a.stdout) > len("First\n")
    empty = generate_script(out.with_suffix(".json"), "--max-new-tokens", 5, "--seed", 1)  # no prompt: from "\n"
    assert empty.returncode == 0 and empty.stdout.strip()


def test_generate_script_imports_no_torch(exported):
    out, _ = exported("gpt")
    r = subprocess.run([sys.executable, "-X", "importtime", str(SCRIPT), str(out), "--prompt", "All",
                        "--max-new-tokens", "3"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    modules = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert "onnxruntime" in modules and "numpy" in modules
    assert not [m for m in modules if m == "torch" or m.startswith(("torch.", "tinytx"))]


def test_generate_script_errors_are_one_line(exported, work, tmp_path):
    out, meta = exported("gpt")
    # a char tokenizer without byte fallback maps unseen characters to [UNK], which a prompt may not contain
    shutil.copy(out, tmp_path / out.name)
    (tmp_path / out.with_suffix(".json").name).write_text(json.dumps(meta))
    tok = json.loads((out.parent / meta["tokenizer"]).read_text())
    (tmp_path / meta["tokenizer"]).write_text(json.dumps({**tok, "byte_fallback": False}))
    for args, message in [((tmp_path / out.name, "--prompt", "Zq"), "does not know ('Z', 'q')"),
                          ((out, "--prompt", "Zq"), "does not know ('Z', 'q')"),
                          ((work / "nothing.onnx",), "not found"),
                          ((exported("bow")[0],), "generates from language models"),
                          ((out, "--top-k", 0), "top-k must be >= 1")]:
        r = generate_script(*args)
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


# --- refusals: one line, nothing written ------------------------------------------------------------------------------

def one_line_error(argv, capsys, expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err


def test_runs_that_cannot_be_exported_are_refused_in_one_line(trained, work, tmp_path, capsys):
    out = tmp_path / "x.onnx"
    export = ["export", "--format", "onnx", "-o", str(out)]
    one_line_error([*export, str(trained("tabular"))], capsys, "a tabular run has no ONNX export")
    one_line_error([*export, str(tmp_path / "missing")], capsys, "no such run directory")
    one_line_error(["export", str(trained("gru")), "--format", "onnx", "-o", str(tmp_path / "x.bin")], capsys,
                   "give a .onnx file name")
    run = trained("gru")
    before = (run / "config.json").read_bytes()
    one_line_error(["export", str(run), "--format", "onnx", "-o", str(run / "config.onnx")], capsys,
                   "would overwrite the run's own config.json")
    assert (run / "config.json").read_bytes() == before and not (run / "config.onnx").exists()
    hand = tmp_path / "hand-gru"
    hand.mkdir()
    config = json.loads((trained("gru") / "config.json").read_text())
    config["model"]["config"]["hand_cell"] = True
    (hand / "config.json").write_text(json.dumps(config))
    one_line_error([*export, str(hand)], capsys, "hand-written cell")
    assert not list(tmp_path.glob("x*"))


def test_missing_extra_says_what_to_install(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    one_line_error(["export", str(trained("gru")), "--format", "onnx", "-o", str(tmp_path / "x.onnx")], capsys,
                   "pip install 'tinytx[onnx]'")


def test_a_graph_that_disagrees_is_not_written(trained, tmp_path, capsys, monkeypatch):
    import tinytx.export.onnx as onnx_export

    monkeypatch.setattr(onnx_export, "_check", lambda *a: (1e-3, {}))  # as a wrong graph would
    one_line_error(["export", str(trained("gru")), "--format", "onnx", "-o", str(tmp_path / "x.onnx")], capsys,
                   "disagrees with the model")
    assert not list(tmp_path.iterdir())


# --- the docs run ---------------------------------------------------------------------------------------------------

def onnx_section() -> str:
    text = (ROOT / "docs" / "export-onnx.md").read_text()
    start = text.index("\n## ONNX")
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else len(text)]


def test_docs_examples_run(tmp_path, monkeypatch, capsys):
    """Every command and Python block of the ONNX section, in order, in a scratch directory: training shortened to 2
    steps, the parallel text swapped for the small fixture (same languages), `tinytx` run in-process."""
    for name in ("data", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    section = onnx_section().replace("data/multi30k/train.de.gz", "tests/fixtures/seq2seq/train.de")
    section = section.replace("data/multi30k/train.en.gz", "tests/fixtures/seq2seq/train.en")
    blocks = re.findall(r"```(bash|python)\n(.*?)```", section, flags=re.S)
    assert [kind for kind, _ in blocks].count("python") == 2 and len(blocks) >= 5
    outputs = []
    for kind, code in blocks:
        if kind == "python":
            exec(compile(code, "docs/export-onnx.md", "exec"), {"__name__": "__doc__"})
            outputs.append(capsys.readouterr().out)
            continue
        for line in code.strip().splitlines():
            words = shlex.split(line)
            if words[0] == "python":  # the generation script: a process of its own, without torch
                words[:2] = [sys.executable, str(ROOT / words[1])]
                r = subprocess.run(words, capture_output=True, text=True)
                assert r.returncode == 0, f"{line}\n{r.stderr}"
                outputs.append(r.stdout)
                continue
            assert words[0] == "tinytx"
            if words[1] == "train":
                words[words.index("--max-steps") + 1] = "2"
                words += ["--device", "cpu", "--no-progress", "--eval-batches", "1", "--threads", "1"]
            assert main(words[1:]) == 0, f"{line}\n{capsys.readouterr().err}"
            capsys.readouterr()
    assert (tmp_path / "exports" / "tiny-gpt.onnx").exists()
    assert sum(o.startswith("ROMEO:") for o in outputs) == 1
    labels = json.loads((tmp_path / "exports" / "topics.json").read_text())["labels"]
    predicted = [o for o in outputs if o.startswith("[")]
    assert len(predicted) == 1 and all(lab in labels for lab in eval(predicted[0]))
    run = load_run(tmp_path / "runs" / "de-en-small")
    assert outputs[-1] == run.translate("Ein Mann fährt Fahrrad.", beam=1) + "\n"
