"""Hugging Face interop: `tinytx export RUN --format hf`, `tinytx import hf`, `train lm --init-from`, and
`tinytx tokenize export --format hf`. Everything is made locally (random GPT-2s saved with save_pretrained, tokenizers
trained on a few KB of Shakespeare): nothing is downloaded."""
import json
import re
import shlex
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tokenizers import Tokenizer as RustTokenizer  # noqa: E402
from tokenizers import decoders, models, pre_tokenizers, processors, trainers  # noqa: E402

from tinytx import load_run  # noqa: E402
from tinytx.cli import main  # noqa: E402
from tinytx.engine.checkpoint import WEIGHTS, save_weights  # noqa: E402
from tinytx.export.hf import export_hf, import_hf  # noqa: E402
from tinytx.export.tokenizer import to_hf  # noqa: E402
from tinytx.models import registry  # noqa: E402
from tinytx.options import LMOptions  # noqa: E402
from tinytx.rundir import RunDir, RunMeta  # noqa: E402
from tinytx.tokenizers import load_tokenizer, train_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = (ROOT / "data" / "tinyshakespeare" / "input.txt").read_text()[:20_000]
ODD = " Ünïcödé straße ½ x² don't İstanbul ΣΟΦΙΑ <0x41> [EOS] [x] <|endoftext|> \u2581 \ufdd0 😀 \u212a a\u0301\r\n\t"
TOLERANCE = 1e-4
EOT = "<|endoftext|>"


def one_line_error(rc, capsys, fragment: str) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("tinytx: error:") and fragment in err, err
    return err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "text.txt"
    path.write_text(SHAKESPEARE)
    return path


# --- making a GPT-2 directory the way a transformers user would ----------------------------------------------------

def gpt2_tokenizer():
    """A GPT-2 style byte-level BPE (300 tokens, <|endoftext|> special), as GPT2TokenizerFast wraps it."""
    tok = RustTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator([SHAKESPEARE], trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return transformers.GPT2TokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT, unk_token=EOT)


def save_gpt2(path: Path, seed: int = 0, tokenizer=True, **config) -> Path:
    """A randomly initialised GPT2LMHeadModel saved with save_pretrained. Weights are drawn wide (std 0.3, random
    biases and layer norms) so that logits are O(1..10) and any mismatch in the mapping shows far above 1e-4."""
    fast = gpt2_tokenizer()
    eot = fast.convert_tokens_to_ids(EOT)
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(**{**dict(vocab_size=len(fast), n_positions=32, n_embd=32, n_layer=2, n_head=4,
                                             initializer_range=0.3, bos_token_id=eot, eos_token_id=eot), **config})
    model = transformers.GPT2LMHeadModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
    model.save_pretrained(path)
    if tokenizer:
        fast.save_pretrained(path)
    return path


def hf_logits(path, ids: torch.Tensor) -> torch.Tensor:
    model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    with torch.no_grad():
        return model(ids).logits


def tinytx_logits(run, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return run.model(ids)


SHAPES = [(1, 1), (2, 7), (3, 32)]


def max_diff(run_path, hf_path, vocab: int, context: int) -> float:
    run, g, worst = load_run(run_path), torch.Generator().manual_seed(1), 0.0
    for b, t in SHAPES:
        ids = torch.randint(0, vocab, (b, min(t, context)), generator=g)
        worst = max(worst, (tinytx_logits(run, ids) - hf_logits(hf_path, ids)).abs().max().item())
    return worst


# --- import ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpt2(tmp_path_factory) -> Path:
    return save_gpt2(tmp_path_factory.mktemp("hf") / "gpt2")


@pytest.fixture(scope="module")
def imported(gpt2, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "imported"
    import_hf(gpt2, out)
    return out


def test_an_imported_gpt2_gives_transformers_logits_and_ids(gpt2, imported):
    diff = max_diff(imported, gpt2, 300, 32)
    assert diff < TOLERANCE, diff
    run, hf_tok = load_run(imported), transformers.AutoTokenizer.from_pretrained(gpt2)
    for text in ["ROMEO: what light", SHAKESPEARE[:500], ODD.replace(EOT, "")]:
        assert run.tokenizer.encode(text) == hf_tok(text)["input_ids"]
        assert run.tokenizer.decode(run.tokenizer.encode(text)) == text
    assert run.tokenizer.kind == "hf" and run.tokenizer.unk_id is None and run.tokenizer.eos_id == 0
    config = json.loads((imported / "config.json").read_text())
    assert config["model"]["config"]["activation"] == "gelu_tanh" and config["options"]["n_layer"] == 2


def test_the_comparison_would_see_a_wrong_activation(gpt2, imported, tmp_path):
    """The tolerance means something: the same weights with exact GELU in place of GPT-2's tanh approximation
    are more than 1e-4 away."""
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for f in gpt2.iterdir():
        (wrong / f.name).write_bytes(f.read_bytes())
    config = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**config, "activation_function": "gelu"}))
    assert max_diff(imported, wrong, 300, 32) > 1e-3


def test_an_imported_run_generates_and_evaluates_from_the_command_line(imported, corpus, capsys):
    assert main(["generate", str(imported), "--prompt", "ROMEO:", "--max-new-tokens", "5", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("ROMEO:")
    assert main(["generate", str(imported), "--prompt", 'A "quoted" prompt!', "--max-new-tokens", "2"]) == 0
    capsys.readouterr()
    assert main(["eval", str(imported), "--data", str(corpus), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["tokens"] > 1000 and metrics["loss"] > 0
    one_line_error(main(["eval", str(imported)]), capsys, "give --data")


@pytest.mark.parametrize("variant", [
    dict(tie_word_embeddings=False), dict(n_inner=48, activation_function="gelu"),
    dict(activation_function="gelu_pytorch_tanh", n_layer=1),
])
def test_gpt2_variants_import_exactly(variant, tmp_path):
    src = save_gpt2(tmp_path / "gpt2", seed=3, **variant)
    import_hf(src, tmp_path / "run")
    assert max_diff(tmp_path / "run", src, 300, 32) < TOLERANCE


def test_a_directory_without_tokenizer_json_uses_vocab_and_merges(gpt2, tmp_path):
    src = tmp_path / "old-style"
    src.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
        (src / name).write_bytes((gpt2 / name).read_bytes())
    pipeline = json.loads((gpt2 / "tokenizer.json").read_text())
    (src / "vocab.json").write_text(json.dumps(pipeline["model"]["vocab"]))
    (src / "merges.txt").write_text("#version: 0.2\n" + "".join(
        " ".join(m) + "\n" if isinstance(m, list) else m + "\n" for m in pipeline["model"]["merges"]))
    import_hf(src, tmp_path / "run")
    tok, hf_tok = load_run(tmp_path / "run").tokenizer, transformers.AutoTokenizer.from_pretrained(gpt2)
    assert tok.encode(SHAKESPEARE[:2000]) == hf_tok(SHAKESPEARE[:2000])["input_ids"]
    assert tok.decode([tok.eos_id]) == "" and tok.eos_id == hf_tok.eos_token_id


def test_a_pytorch_bin_checkpoint_is_read_without_running_code(gpt2, tmp_path):
    src = tmp_path / "bin"
    src.mkdir()
    for f in gpt2.iterdir():
        if f.name != "model.safetensors":
            (src / f.name).write_bytes(f.read_bytes())
    from safetensors.torch import load_file

    torch.save(load_file(gpt2 / "model.safetensors"), src / "pytorch_model.bin")
    import_hf(src, tmp_path / "run")
    assert max_diff(tmp_path / "run", gpt2, 300, 32) < TOLERANCE


@pytest.mark.parametrize("change, fragment", [
    ({"model_type": "llama"}, "GPT-2 layout only"),
    ({"activation_function": "relu"}, "activation_function 'relu'"),
    ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon 1e-06"),
    ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
    ({"scale_attn_weights": False}, "scale_attn_weights"),
    ({"n_head": 5}, "multiple of n_head"),
])
def test_what_tinytx_cannot_compute_is_refused_in_one_line(gpt2, tmp_path, capsys, change, fragment):
    src = tmp_path / "src"
    src.mkdir()
    for f in gpt2.iterdir():
        (src / f.name).write_bytes(f.read_bytes())
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, **change}))
    one_line_error(main(["import", "hf", str(src), "-o", str(tmp_path / "run")]), capsys, fragment)
    assert not (tmp_path / "run").exists()


def test_import_refusals(gpt2, imported, tmp_path, capsys):
    one_line_error(main(["import", "hf", str(tmp_path / "nope"), "-o", str(tmp_path / "r")]), capsys,
                   "nothing is downloaded")
    one_line_error(main(["import", "hf", str(imported), "-o", str(tmp_path / "r")]), capsys, "is a tinytx run")
    bare = tmp_path / "bare"
    save_gpt2(bare, tokenizer=False)
    one_line_error(main(["import", "hf", str(bare), "-o", str(tmp_path / "r")]), capsys, "has no tokenizer")
    assert not (tmp_path / "r").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    one_line_error(main(["import", "hf", str(gpt2), "-o", str(tmp_path / "busy")]), capsys, "not a tinytx run")
    one_line_error(main(["import", "hf", str(gpt2), "-o", str(imported)]), capsys, "already holds a run")


# --- export ---------------------------------------------------------------------------------------------------------

def tokenizer_of(kind: str):
    text = SHAKESPEARE[:8000]
    if kind == "bpe":
        return train_tokenizer("bpe", [text], vocab_size=400)
    if kind == "unigram":
        return train_tokenizer("unigram", [text], vocab_size=400)
    if kind == "word":
        return train_tokenizer("word", [text], lowercase=True)
    return train_tokenizer("char", [text])


def make_gpt_run(path: Path, tokenizer, **config) -> Path:
    """A tinytx GPT run with wide random weights (every parameter, so biases and layer norms are not 0 and 1)."""
    shape = dict(block_size=16, n_layer=2, n_head=2, n_embd=16)
    model = registry.build("gpt", dict(vocab_size=tokenizer.vocab_size, **shape, **config))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    opts = LMOptions(data="text.txt", **shape, bias=config.get("bias", True),
                     positions=config.get("positions", "learned"))
    run = RunDir(path)
    run.create(RunMeta("lm", registry.describe(model), opts))
    run.save_tokenizer(tokenizer)
    save_weights(model, run / WEIGHTS)
    return path


EXPORTS = [
    ("char", dict()),
    ("bpe", dict(activation="gelu_tanh", bias=False, positions="sinusoidal", tie_weights=False, d_ff=24)),
    ("word", dict(bias=False)),
    ("unigram", dict(activation="gelu_tanh", positions="sinusoidal")),
]


@pytest.mark.parametrize("kind, config", EXPORTS, ids=[k for k, _ in EXPORTS])
def test_an_exported_gpt_gives_the_same_logits_and_ids_in_transformers(kind, config, tmp_path, capsys):
    tok = tokenizer_of(kind)
    run = make_gpt_run(tmp_path / "run", tok, **config)
    out = tmp_path / "hf"
    assert main(["export", str(run), "--format", "hf", "-o", str(out)]) == 0
    assert "GPT-2 layout" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json",
                                                     "tokenizer_config.json"]
    diff = max_diff(run, out, tok.vocab_size, 16)
    assert diff < TOLERANCE, diff
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    for text in ["ROMEO: what light", SHAKESPEARE[8000:9000], ODD, "[EOS] typed is text [PAD]"]:
        assert hf_tok(text)["input_ids"] == tok.encode(text), text
    assert hf_tok.eos_token_id == tok.eos_id == 3 and hf_tok.pad_token_id == 0


def test_export_and_import_round_trip(gpt2, imported, tmp_path):
    """GPT-2 -> tinytx -> GPT-2: the same function and the same tokenizer ids."""
    out = tmp_path / "again"
    lines = export_hf(imported, out)
    assert "hf tokenizer" in lines[0]
    assert max_diff(imported, out, 300, 32) < TOLERANCE
    original, again = (transformers.AutoTokenizer.from_pretrained(p) for p in (gpt2, out))
    assert again(SHAKESPEARE[:3000])["input_ids"] == original(SHAKESPEARE[:3000])["input_ids"]
    assert again.eos_token_id == original.eos_token_id


def test_export_refusals(imported, corpus, tmp_path, capsys):
    rnn = tmp_path / "rnn"
    assert main(["train", "lm", "--data", str(corpus), "--model", "gru", "--out", str(rnn), "--max-steps", "1",
                 "--n-embd", "8", "--hidden-size", "8", "--n-layer", "1", "--block-size", "8", "--eval-batches",
                 "1", "--no-progress", "--device", "cpu"]) == 0
    capsys.readouterr()
    one_line_error(main(["export", str(rnn), "--format", "hf", "-o", str(tmp_path / "x")]), capsys,
                   "holds only tinytx's GPT")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    one_line_error(main(["export", str(imported), "--format", "hf", "-o", str(tmp_path / "busy")]), capsys,
                   "not an earlier export")
    one_line_error(main(["export", str(imported), "--format", "hf", "-o", str(rnn)]), capsys, "is a tinytx run")
    assert main(["export", str(imported), "--format", "hf", "-o", str(tmp_path / "x")]) == 0
    assert main(["export", str(imported), "--format", "hf", "-o", str(tmp_path / "x")]) == 0  # over an export


# --- train lm --init-from ---------------------------------------------------------------------------------------

def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


FINE_TUNE = ["--max-steps", "30", "--eval-interval", "10", "--eval-batches", "4", "--batch-size", "8", "--lr", "3e-3",
             "--warmup-steps", "0", "--no-progress", "--device", "cpu"]


def test_fine_tuning_an_imported_gpt2_lowers_the_loss(imported, corpus, tmp_path, capsys):
    out = tmp_path / "tuned"
    assert main(["train", "lm", "--init-from", str(imported), "--data", str(corpus), "--out", str(out),
                 *FINE_TUNE]) == 0
    val = [m["val_loss"] for m in metrics(out) if "val_loss" in m]
    assert len(val) == 3 and val[-1] < val[0] - 0.1, val
    saved = json.loads((out / "config.json").read_text())
    assert saved["options"]["n_layer"] == 2 and saved["options"]["block_size"] == 32
    assert saved["model"]["config"]["activation"] == "gelu_tanh" and saved["model"]["config"]["vocab_size"] == 300
    assert load_tokenizer(out / "tokenizer.json").to_dict() == load_tokenizer(imported / "tokenizer.json").to_dict()
    capsys.readouterr()
    assert main(["generate", str(out), "--prompt", "ROMEO:", "--max-new-tokens", "3"]) == 0
    # resume needs only the run, not the one it started from
    assert main(["train", "lm", "--out", str(out), "--resume", "--max-steps", "35", "--no-progress",
                 "--device", "cpu"]) == 0


def test_init_from_starts_from_the_source_weights(imported, corpus, tmp_path):
    from tinytx.recipes.lm import adopt_shape, pretrained

    opts = LMOptions(data=str(corpus), init_from=str(imported))
    adopt_shape(opts)
    assert opts.n_embd == 32 and opts.block_size == 32 and opts.dropout == 0.1  # GPT-2's, as none was given
    opts = LMOptions(data=str(corpus), init_from=str(imported), dropout=0.05)
    adopt_shape(opts)
    model, source = pretrained(opts, 300), load_run(imported).model
    assert model.config.dropout == 0.05
    for (name, a), (_, b) in zip(model.state_dict().items(), source.state_dict().items()):
        assert torch.equal(a, b), name


def test_init_from_refusals(imported, corpus, tmp_path, capsys):
    base = ["train", "lm", "--data", str(corpus), "--init-from", str(imported), "--max-steps", "1", "--no-progress"]
    one_line_error(main([*base, "--out", str(tmp_path / "a"), "--n-layer", "3"]), capsys,
                   "--n-layer 3 differs from")
    one_line_error(main([*base, "--out", str(tmp_path / "a"), "--model", "gru"]), capsys, "--model gru differs")
    one_line_error(main([*base, "--out", str(tmp_path / "a"), "--tokenizer", "bpe"]), capsys, "own tokenizer")
    assert not (tmp_path / "a").exists()
    one_line_error(main(["train", "lm", "--data", str(corpus), "--init-from", str(tmp_path / "nope"), "--out",
                         str(tmp_path / "a"), "--max-steps", "1"]), capsys, "no such run directory")


# --- tokenize export: same ids on any text ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported_tokenizers(tmp_path_factory):
    """Every kind (and option) that can be expressed, trained on Shakespeare + odd characters, exported through the
    command line, loaded back with tokenizers.Tokenizer.from_file."""
    folder = tmp_path_factory.mktemp("tok")
    text = SHAKESPEARE[:6000] + ODD.replace("ΣΟΦΙΑ", "")  # a lowercased vocabulary with sigmas is refused
    made = {
        "bpe": train_tokenizer("bpe", [text], vocab_size=400),
        "char": train_tokenizer("char", [text]),  # byte fallback
        "char-unk": train_tokenizer("char", [text], unknown="unk"),
        "word": train_tokenizer("word", [text]),
        "word-lower-stop": train_tokenizer("word", [text], lowercase=True, stop_words=True),
        "word-stop": train_tokenizer("word", [text], stop_words=True),
        "unigram": train_tokenizer("unigram", [text], vocab_size=450),
    }
    out = {}
    for name, tok in made.items():
        tok.save(folder / f"{name}.json")
        assert main(["tokenize", "export", "--tokenizer", str(folder / f"{name}.json"), "--format", "hf", "-o",
                     str(folder / f"{name}.hf.json")]) == 0
        out[name] = (load_tokenizer(folder / f"{name}.json"), RustTokenizer.from_file(str(folder / f"{name}.hf.json")))
    return out


CHARS = sorted(set(SHAKESPEARE[:6000] + ODD)) + list("Σσς[]<>İK\u212a\u0301²_'")
ANY_TEXT = st.one_of(
    st.text(max_size=120),  # any Unicode (no surrogates)
    st.text(alphabet=st.sampled_from(CHARS), max_size=120),  # mostly known characters, and the awkward ones
    st.integers(0, 19_000).map(lambda i: SHAKESPEARE[i : i + 600]),  # real text
    st.lists(st.sampled_from(["[EOS]", "[PAD]", "<0x41>", "\u2581", " ", "  ", "\n", "don't", "THE", "The", "ΣΑΣ",
                              "<|endoftext|>"]), max_size=12).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=ANY_TEXT)
def test_exported_tokenizers_give_the_same_ids_on_any_text(exported_tokenizers, text):
    for name, (tok, rust) in exported_tokenizers.items():
        assert rust.encode(text).ids == tok.encode(text), name


def test_an_imported_tokenizer_exports_too(imported, tmp_path):
    tok = load_run(imported).tokenizer
    out = tmp_path / "gpt2.hf.json"
    assert main(["tokenize", "export", "--tokenizer", str(imported / "tokenizer.json"), "-o", str(out)]) == 0
    rust = RustTokenizer.from_file(str(out))
    for text in [SHAKESPEARE[:3000], ODD]:
        assert rust.encode(text).ids == tok.encode(text)


def test_char_unknown_handling_is_kept():
    """Unseen characters: byte fallback, [UNK], or an error, in tokenizers as in tinytx."""
    from tinytx.tokenizers import CharTokenizer

    def exported(tok):
        return RustTokenizer.from_str(json.dumps(to_hf(tok)))

    for unknown in ("bytes", "unk"):
        tok = CharTokenizer("abc", unknown=unknown)
        for text in ["abz", "a😀b\u0301c", "<0x41>[PAD]", ""]:
            assert exported(tok).encode(text).ids == tok.encode(text), (unknown, text)
    assert CharTokenizer("abc", unknown="bytes").encode("z") == [5 + 3 + ord("z")]  # the byte token of "z"
    refusing = CharTokenizer("abc", unknown="error")
    assert exported(refusing).encode("cab").ids == refusing.encode("cab") == [7, 5, 6]
    with pytest.raises(Exception):
        exported(refusing).encode("abz")


def test_what_cannot_be_expressed_is_refused(tmp_path, capsys):
    normalized = train_tokenizer("unigram", [SHAKESPEARE[:6000]], vocab_size=400, normalize=True)
    normalized.save(tmp_path / "nfkc.json")
    one_line_error(main(["tokenize", "export", "--tokenizer", str(tmp_path / "nfkc.json"), "-o",
                         str(tmp_path / "x.json")]), capsys, "normalize=True")
    greek = train_tokenizer("word", ["ΣΟΦΙΑ σοφία ς"], lowercase=True)
    greek.save(tmp_path / "greek.json")
    one_line_error(main(["tokenize", "export", "--tokenizer", str(tmp_path / "greek.json"), "-o",
                         str(tmp_path / "x.json")]), capsys, "Lowercase normalizer")
    assert not (tmp_path / "x.json").exists()


# --- the docs run -----------------------------------------------------------------------------------------------------

def hf_section() -> str:
    text = (ROOT / "docs" / "export-hf.md").read_text()
    start = text.index("\n## Hugging Face")
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else len(text)]


def test_docs_examples_run(tmp_path, monkeypatch, capsys):
    """Every command and Python block of the Hugging Face section, in order, in a scratch directory (in this process;
    training shortened to 2 steps, Shakespeare to its first 20,000 characters)."""
    (tmp_path / "data" / "tinyshakespeare").mkdir(parents=True)
    (tmp_path / "data" / "tinyshakespeare" / "input.txt").write_text(SHAKESPEARE)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```(bash|python)\n(.*?)```", hf_section(), flags=re.S)
    assert [kind for kind, _ in blocks].count("python") >= 2 and [kind for kind, _ in blocks].count("bash") >= 2
    outputs = []
    for kind, code in blocks:
        if kind == "python":
            exec(compile(code, "docs/export-hf.md", "exec"), {})
            outputs.append(capsys.readouterr().out)
            continue
        for line in code.strip().splitlines():
            words = shlex.split(line)
            assert words[0] == "tinytx", line
            if words[1:3] == ["train", "lm"]:
                words[words.index("--max-steps") + 1] = "2"
                words += ["--device", "cpu", "--no-progress", "--eval-batches", "1"]
            captured = capsys.readouterr()
            assert main(words[1:]) == 0, f"{line}\n{captured.err}"
            outputs.append(capsys.readouterr().out)
    line = next(line for o in outputs for line in o.splitlines() if line.startswith("max logit difference"))
    assert float(line.split()[-1]) < TOLERANCE
    assert (tmp_path / "runs" / "gpt2-tuned" / "model.safetensors").exists()
    assert outputs[-1].strip() == "True"  # the tokenizer file's ids are tinytx's
