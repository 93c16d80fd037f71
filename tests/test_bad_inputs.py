"""Bad inputs to the commands that need no training recipe but lm: `tokenize`, `train lm`, `eval` of an lm run,
`generate`, `demo`, and the run directory underneath. Every one is a one-line error with exit code 2 (never a
traceback, never a silently wrong answer); faults (an unwritable directory, a full disk, a kill -9 mid-write,
corrupted weights or trainer state) are injected with chmod or a patched writer.

All in-process through `tinytx.cli.main`, on a tiny corpus and tiny models: the whole file runs in seconds.
"""
import errno
import json
import os
import shutil
import stat

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import tinytx.io
from tinytx.cli import main

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n") * 20
OTHER = "xyz qrs tuv\n" * 50  # shares only ' ' and '\n' with TEXT
TINY = ("--block-size 16 --n-layer 1 --n-head 2 --n-embd 16 --hidden-size 16 --batch-size 4 --eval-interval 5 "
        "--eval-batches 2 --no-progress --device cpu").split()


# --- fixtures -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    paths = {
        "corpus": d / "corpus.txt", "other": d / "other.txt", "binary": d / "binary.dat", "latin1": d / "latin1.txt",
        "empty": d / "empty.txt", "dir": d / "a_dir", "file": d / "a_file", "nonempty": d / "nonempty",
        "notjson": d / "notjson.json", "corrupt_tok": d / "corrupt_tok.json", "onechar": d / "onechar.txt",
        "tok": d / "tok.json", "othertok": d / "othertok.json", "bin": d / "ids.bin",
    }
    paths["corpus"].write_text(TEXT)
    paths["other"].write_text(OTHER)
    paths["binary"].write_bytes(b"abc\x00\x01\x02" * 100)
    paths["latin1"].write_bytes("café naïve\n".encode("latin-1") * 50)
    paths["empty"].write_text("")
    paths["dir"].mkdir()
    paths["file"].write_text("x")
    paths["nonempty"].mkdir()
    (paths["nonempty"] / "keep.txt").write_text("precious")
    paths["notjson"].write_text("{nope")
    paths["corrupt_tok"].write_text('{"kind": "char"}')
    paths["onechar"].write_text("a")
    assert main(["tokenize", "train", str(paths["corpus"]), "--kind", "char", "-o", str(paths["tok"])]) == 0
    assert main(["tokenize", "train", str(paths["other"]), "--kind", "char", "--no-byte-fallback", "-o",
                 str(paths["othertok"])]) == 0  # unseen characters: [UNK]
    assert main(["tokenize", "encode", str(paths["corpus"]), "--tokenizer", str(paths["tok"]), "-o",
                 str(paths["bin"]), "--quiet"]) == 0
    side = json.loads((d / "ids.bin.json").read_text())
    for name, data, meta in [
        ("noside", paths["bin"].read_bytes(), None),
        ("trunc", paths["bin"].read_bytes()[:-3], side),
        ("baddtype", paths["bin"].read_bytes(), {**side, "dtype": "float99"}),
        ("nofields", paths["bin"].read_bytes(), {"dtype": side["dtype"], "count": side["count"]}),
        ("oor", np.array([5, 9999, 6], dtype=np.uint16).tobytes(), {**side, "count": 3}),
    ]:
        paths[f"bin_{name}"] = d / f"{name}.bin"
        paths[f"bin_{name}"].write_bytes(data)
        if meta is not None:
            (d / f"{name}.bin.json").write_text(json.dumps(meta))
    return paths


@pytest.fixture(scope="module")
def run(files, tmp_path_factory):
    """A good gpt run: 10 steps, checkpoints at 5 and 10."""
    out = tmp_path_factory.mktemp("runs") / "gpt"
    assert main(["train", "lm", "--data", str(files["corpus"]), "--out", str(out), "--max-steps", "10", *TINY]) == 0
    return out


def expand(template: str, paths: dict) -> list[str]:
    return [word.format(**{k: str(v) for k, v in paths.items()}) for word in template.split()]


def one_line_error(rc, capsys, fragment: str = "") -> str:
    """exit 2, and stderr is exactly one line `tinytx: error: ...` holding `fragment`."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("tinytx: error:"), err
    assert "Traceback" not in err
    assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]


def copy_run(run, tmp_path, name="copy"):
    dst = tmp_path / name
    shutil.copytree(run, dst)
    return dst


# --- the table: command -> the one line it must give ----------------------------------------------------------

LM = "train lm --data {corpus} --out {new} --max-steps 6 " + " ".join(TINY)

BAD = [
    # tokenize train
    ("tok-train missing file", "tokenize train {new}.txt --kind char -o {new}.json", "file not found"),
    ("tok-train a directory", "tokenize train {dir} --kind char -o {new}.json", "is a directory"),
    ("tok-train binary", "tokenize train {binary} --kind char -o {new}.json", "binary file"),
    ("tok-train non-UTF-8", "tokenize train {latin1} --kind bpe -o {new}.json", "not UTF-8"),
    ("tok-train unigram non-UTF-8", "tokenize train {latin1} --kind unigram -o {new}.json", "not UTF-8"),
    ("tok-train empty", "tokenize train {empty} --kind char -o {new}.json", "empty"),
    ("tok-train unknown kind", "tokenize train {corpus} --kind foo -o {new}.json", "unknown tokenizer kind 'foo'"),
    ("tok-train -o directory", "tokenize train {corpus} --kind char -o {dir}", "is a directory"),
    ("tok-train -o below a file", "tokenize train {corpus} --kind char -o {file}/t.json", "is a file"),
    ("tok-train vocab 0", "tokenize train {corpus} --kind bpe --vocab-size 0 -o {new}.json", "vocab size"),
    ("tok-train vocab 3 unigram", "tokenize train {corpus} --kind unigram --vocab-size 3 -o {new}.json", "no room"),
    ("tok-train vocab 10 bpe", "tokenize train {corpus} --kind bpe --vocab-size 10 -o {new}.json", "byte alphabet"),
    ("tok-train min-frequency 0", "tokenize train {corpus} --kind word --min-frequency 0 -o {new}.json",
     "min frequency"),
    ("tok-train min-frequency -1", "tokenize train {corpus} --kind bpe --min-frequency -1 -o {new}.json",
     "min frequency"),
    # tokenize encode
    ("tok-encode missing tokenizer", "tokenize encode {corpus} --tokenizer {new}.json -o {new}.bin", "not found"),
    ("tok-encode tokenizer not JSON", "tokenize encode {corpus} --tokenizer {notjson} -o {new}.bin", "not a tokenizer"),
    ("tok-encode corrupt tokenizer", "tokenize encode {corpus} --tokenizer {corrupt_tok} -o {new}.bin",
     "corrupt char tokenizer"),
    ("tok-encode binary text", "tokenize encode {binary} --tokenizer {tok} -o {new}.bin", "binary file"),
    ("tok-encode non-UTF-8", "tokenize encode {latin1} --tokenizer {tok} -o {new}.bin", "not UTF-8"),
    ("tok-encode empty", "tokenize encode {empty} --tokenizer {tok} -o {new}.bin", "empty"),
    ("tok-encode -o directory", "tokenize encode {corpus} --tokenizer {tok} -o {dir}", "is a directory"),
    ("tok-encode -o below a file", "tokenize encode {corpus} --tokenizer {tok} -o {file}/e.bin", "is a file"),
    ("tok-encode val-fraction nan", "tokenize encode {corpus} --tokenizer {tok} -o {new}.bin --val-fraction nan",
     "--val-fraction"),
    ("tok-encode val-fraction 1", "tokenize encode {corpus} --tokenizer {tok} -o {new}.bin --val-fraction 1",
     "--val-fraction"),
    ("tok-encode too little to split", "tokenize encode {onechar} --tokenizer {tok} -o {new}.bin --val-fraction 0.5",
     "too little text"),
    # tokenize decode
    ("tok-decode missing", "tokenize decode {new}.bin --tokenizer {tok} -o {new}.txt", "not found"),
    ("tok-decode no sidecar", "tokenize decode {bin_noside} --tokenizer {tok} -o {new}.txt", "no sidecar"),
    ("tok-decode truncated", "tokenize decode {bin_trunc} --tokenizer {tok} -o {new}.txt", "truncated"),
    ("tok-decode bad dtype", "tokenize decode {bin_baddtype} --tokenizer {tok} -o {new}.txt", "dtype"),
    ("tok-decode sidecar lacks tokenizer", "tokenize decode {bin_nofields} --tokenizer {tok} -o {new}.txt",
     "does not name the tokenizer"),
    ("tok-decode ids out of range", "tokenize decode {bin_oor} --tokenizer {tok} -o {new}.txt", "beyond"),
    ("tok-decode other tokenizer", "tokenize decode {bin} --tokenizer {othertok} -o {new}.txt", "different tokenizer"),
    ("tok-decode -o directory", "tokenize decode {bin} --tokenizer {tok} -o {dir}", "is a directory"),
    ("tok-decode text as tokens", "tokenize decode {corpus} --tokenizer {tok} -o {new}.txt", "no sidecar"),
    # tokenize show
    ("tok-show missing tokenizer", "tokenize show hello --tokenizer {new}.json", "not found"),
    ("tok-show corrupt tokenizer", "tokenize show hello --tokenizer {corrupt_tok}", "corrupt"),
    # train lm: data
    ("lm no --data", "train lm --out {new} --max-steps 6", "--data is required"),
    ("lm data missing", LM.replace("{corpus}", "{new}.txt"), "no such text file"),
    ("lm data directory", LM.replace("{corpus}", "{dir}"), "no such text file"),
    ("lm data empty", LM.replace("{corpus}", "{empty}"), "empty"),
    ("lm data binary", LM.replace("{corpus}", "{binary}"), "binary file"),
    ("lm data non-UTF-8", LM.replace("{corpus}", "{latin1}"), "not UTF-8"),
    ("lm data binary bpe", LM.replace("{corpus}", "{binary}") + " --tokenizer bpe", "binary file"),
    ("lm block-size > text", LM + " --block-size 100000", "fewer than one window"),
    ("lm val split too small", LM + " --val-fraction 0.0001", "fewer than one window"),
    # train lm: model options
    ("lm block-size 0", LM + " --block-size 0", "--block-size must be >= 1"),
    ("lm block-size -3", LM + " --block-size -3", "--block-size must be >= 1"),
    ("lm n-layer 0", LM + " --n-layer 0", "--n-layer must be >= 1"),
    ("lm n-head 0", LM + " --n-head 0", "--n-head must be >= 1"),
    ("lm n-embd 0", LM + " --n-embd 0", "--n-embd must be >= 1"),
    ("lm n-embd not divisible", LM + " --n-embd 15", "divisible"),
    ("lm gru hidden 0", LM + " --model gru --hidden-size 0", "--hidden-size must be >= 1"),
    ("lm dropout 1.5", LM + " --dropout 1.5", "--dropout"),
    ("lm dropout nan", LM + " --dropout nan", "--dropout"),
    ("lm val-fraction nan", LM + " --val-fraction nan", "--val-fraction"),
    ("lm val-fraction 0", LM + " --val-fraction 0", "--val-fraction"),
    ("lm bpe vocab 0", LM + " --tokenizer bpe --vocab-size 0", "vocab size"),
    ("lm tokenizer missing", LM + " --tokenizer {new}.json", "--tokenizer must be"),
    ("lm tokenizer not JSON", LM + " --tokenizer {notjson}", "not a tokenizer"),
    ("lm tokenizer corrupt", LM + " --tokenizer {corrupt_tok}", "corrupt"),
    # train lm: training options (NaN among them)
    ("lm lr nan", LM + " --lr nan", "lr is NaN"),
    ("lm lr inf", LM + " --lr inf", "learning rate"),
    ("lm lr 0", LM + " --lr 0", "learning rate"),
    ("lm weight-decay nan", LM + " --weight-decay nan", "NaN"),
    ("lm grad-clip nan", LM + " --grad-clip nan", "NaN"),
    ("lm min-lr nan", LM + " --min-lr nan", "NaN"),
    ("lm minutes nan", LM + " --minutes nan", "NaN"),
    ("lm momentum nan", LM + " --momentum nan", "NaN"),
    ("lm decay-rate nan", LM + " --decay-rate nan", "NaN"),
    ("lm decay-rate -1", LM + " --decay-rate -1", "decay rate"),
    ("lm betas nan", LM + " --betas nan,nan", "betas"),
    ("lm betas one", LM + " --betas 0.9", "betas"),
    ("lm batch-size 0", LM + " --batch-size 0", "batch size"),
    ("lm batch-size full", LM + " --batch-size full", "--batch-size"),
    ("lm batch-size tokens", LM + " --batch-size 4096t", "--batch-size"),
    ("lm epochs", LM + " --epochs 1", "no epochs"),
    ("lm max-steps 0", LM + " --max-steps 0", "max steps"),
    ("lm minutes 0", LM + " --minutes 0", "minutes"),
    ("lm warmup -1", LM + " --warmup-steps -1", "warmup"),
    ("lm eval-interval 0", LM + " --eval-interval 0", "eval interval"),
    ("lm checkpoint-interval 0", LM + " --checkpoint-interval 0", "checkpoint interval"),
    ("lm threads 0", LM + " --threads 0", "threads"),
    ("lm seed -1", LM + " --seed -1", "seed"),
    ("lm seed 2**70", LM + f" --seed {2**70}", "seed"),
    ("lm device foo", LM + " --device foo", "unknown device"),
    ("lm fp16 on cpu", LM + " --dtype fp16", "fp16"),
    # train lm: the run directory
    ("lm out is a file", LM.replace("{new}", "{file}"), "is a file"),
    ("lm out below a file", LM.replace("{new}", "{file}/run"), "not a directory"),
    ("lm out not a run", LM.replace("{new}", "{nonempty}"), "not empty and is not a tinytx run"),
    ("lm resume nothing", LM + " --resume", "no such run directory"),
    ("lm resume not a run", LM.replace("{new}", "{nonempty}") + " --resume", "not a tinytx run"),
    # eval
    ("eval missing run", "eval {new}", "no such run directory"),
    ("eval not a run", "eval {nonempty}", "not a tinytx run"),
    ("eval batch-size 0", "eval {run} --batch-size 0", "--batch-size"),
    ("eval batch-size -1", "eval {run} --batch-size -1", "--batch-size"),
    ("eval device foo", "eval {run} --device foo", "unknown device"),
    ("eval data missing", "eval {run} --data {new}.txt --device cpu", "no such text file"),
    ("eval data empty", "eval {run} --data {empty} --device cpu", "empty"),
    ("eval data binary", "eval {run} --data {binary} --device cpu", "binary file"),
    ("eval data non-UTF-8", "eval {run} --data {latin1} --device cpu", "not UTF-8"),
    ("eval data one token", "eval {run} --data {onechar} --device cpu", "not enough text"),
    # generate
    ("gen missing run", "generate {new}", "no such run directory"),
    ("gen not a run", "generate {nonempty}", "not a tinytx run"),
    ("gen temperature nan", "generate {run} --temperature nan --device cpu", "temperature"),
    ("gen temperature inf", "generate {run} --temperature inf --device cpu", "temperature"),
    ("gen temperature -1", "generate {run} --temperature -1 --device cpu", "temperature"),
    ("gen top-p nan", "generate {run} --top-p nan --device cpu", "top-p"),
    ("gen top-p 0", "generate {run} --top-p 0 --device cpu", "top-p"),
    ("gen top-p 1.5", "generate {run} --top-p 1.5 --device cpu", "top-p"),
    ("gen top-k 0", "generate {run} --top-k 0 --device cpu", "top-k"),
    ("gen max-new-tokens -1", "generate {run} --max-new-tokens -1 --device cpu", "max new tokens"),
    ("gen seed 2**70", f"generate {{run}} --seed {2**70} --device cpu", "seed"),
    ("gen unknown prompt", "generate {run} --prompt \u4e2d --device cpu", "does not know"),
    ("gen device foo", "generate {run} --device foo", "unknown device"),
    # demo
    ("demo out is a file", "demo --out {file} --data {corpus} --max-steps 2 --no-progress --device cpu", "is a file"),
    ("demo out below a file", "demo --out {file}/x --data {corpus} --max-steps 2 --no-progress --device cpu",
     "not a directory"),
    ("demo data missing", "demo --out {new} --data {new}.txt --max-steps 2 --no-progress --device cpu",
     "no such text file"),
    ("demo data binary", "demo --out {new} --data {binary} --max-steps 2 --no-progress --device cpu", "binary"),
    ("demo minutes nan", "demo --out {new} --data {corpus} --minutes nan --no-progress --device cpu", "NaN"),
    ("demo max-steps 0", "demo --out {new} --data {corpus} --max-steps 0 --no-progress --device cpu", "max steps"),
    ("demo max-new-tokens -1",
     "demo --out {new} --data {corpus} --max-steps 2 --max-new-tokens -1 --no-progress --device cpu",
     "--max-new-tokens"),
]


@pytest.mark.parametrize("template,fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line(template, fragment, files, run, tmp_path, capsys):
    new = tmp_path / "new"
    argv = expand(template, {**files, "run": run, "new": new})
    one_line_error(main(argv), capsys, fragment)
    # a command that failed leaves nothing behind: no half-made run, no partial output file
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("new")]


ARGPARSE = [
    "tokenize train {corpus} --kind char --vocab-size abc -o {new}.json",
    "train lm --data {corpus} --out {new} --lr abc",
    "train lm --data {corpus} --out {new} --batch-size abc",
    "train lm --data {corpus} --out {new} --betas a,b",
    "generate {run} --top-k abc",
]


@pytest.mark.parametrize("template", ARGPARSE)
def test_unparsable_flag_is_a_usage_error(template, files, run, tmp_path, capsys):
    """A flag argparse cannot parse: exit 2 and one line, like every other error."""
    with pytest.raises(SystemExit) as e:
        main(expand(template, {**files, "run": run, "new": tmp_path / "new"}))
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("tinytx: error:")


# --- corrupted runs ------------------------------------------------------------------------------------------------

def _cut_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _clobber_header(path):
    data = bytearray(path.read_bytes())
    data[:16] = b"\xff" * 16
    path.write_bytes(bytes(data))


def _nan_weight(path):
    tensors = load_file(path)
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, path)


def _int_weights(path):
    save_file({k: v.to(torch.int32) for k, v in load_file(path).items()}, path)


def _wrong_shape(path):
    tensors = load_file(path)
    tensors[next(iter(tensors))] = torch.zeros(2, 2)
    save_file(tensors, path)


def _edit_config(change):
    def edit(path):
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return edit


def _state_edit(change):
    def edit(path):
        state = torch.load(path, weights_only=True)
        change(state)
        torch.save(state, path)
    return edit


def _nan_state(state):
    for t in state["model"].values():
        if t.is_floating_point():
            t.fill_(float("nan"))


def _wrong_state_shape(state):
    state["model"][next(iter(state["model"]))] = torch.zeros(3)


WEIGHTS_FAULTS = [
    ("truncated", _cut_half, "truncated or corrupt"),
    ("header overwritten", _clobber_header, "truncated or corrupt"),
    ("empty", lambda p: p.write_bytes(b""), "truncated or corrupt"),
    ("NaN weight", _nan_weight, "NaN"),
    ("integer weights", _int_weights, "does not belong"),
    ("wrong shape", _wrong_shape, "do not fit"),
    ("missing", lambda p: p.unlink(), "has no model.safetensors"),
]


@pytest.mark.parametrize("command", ["eval", "generate"])
@pytest.mark.parametrize("fault,fragment", [f[1:] for f in WEIGHTS_FAULTS], ids=[f[0] for f in WEIGHTS_FAULTS])
def test_corrupt_weights(command, fault, fragment, run, tmp_path, capsys):
    bad = copy_run(run, tmp_path)
    fault(bad / "model.safetensors")
    one_line_error(main([command, str(bad), "--device", "cpu"]), capsys, fragment)


RUN_FAULTS = [  # (file in the run, fault, fragment); eval and generate both load the run
    ("tokenizer.json", lambda p: p.write_text("{x"), "not a tokenizer"),
    ("tokenizer.json", lambda p: shutil.copy(p.parent.parent / "other_tok.json", p), "does not belong"),
    ("config.json", lambda p: p.write_text("[]"), "not a run configuration"),
    ("config.json", lambda p: p.write_text('{"task": "lm"}'), "not a run this tinytx can read"),
    ("config.json", _edit_config(lambda c: {k: v for k, v in c.items() if k != "model"}), "corrupt run configuration"),
    ("config.json", _edit_config(lambda c: {**c, "model": [1]}), "corrupt run configuration"),
    ("config.json", _edit_config(lambda c: {**c, "model": {"name": "zzz", "config": {}}}), "unknown model"),
    ("config.json", _edit_config(lambda c: {**c, "model": {"name": "gpt", "config": {"n_layer": 1}}}),
     "does not build"),
    ("config.json", _edit_config(lambda c: {**c, "train": {"lr": "fast"}}), "corrupt run configuration"),
    ("config.json", _edit_config(lambda c: {**c, "task": "classify"}), "not a language-model run"),
]


RUN_CASES = [(command, *fault) for fault in RUN_FAULTS for command in ("eval", "generate")
             if not (command == "eval" and "language-model" in fault[2])]  # eval of a classify run: not lm's


@pytest.mark.parametrize("command,name,fault,fragment", RUN_CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(RUN_CASES)])
def test_corrupt_run_files(command, name, fault, fragment, run, files, tmp_path, capsys):
    bad = copy_run(run, tmp_path)
    shutil.copy(files["othertok"], tmp_path / "other_tok.json")
    fault(bad / name)
    one_line_error(main([command, str(bad), "--device", "cpu"]), capsys, fragment)


STATE_FAULTS = [
    ("truncated", "trainer_state.pt", _cut_half, "truncated, corrupt"),
    ("header overwritten", "trainer_state.pt", _clobber_header, "truncated, corrupt"),
    ("junk", "trainer_state.pt", lambda p: p.write_bytes(b"not a checkpoint" * 10), "truncated, corrupt"),
    ("empty", "trainer_state.pt", lambda p: p.write_bytes(b""), "truncated, corrupt"),
    ("not a state", "trainer_state.pt", lambda p: torch.save({}, p), "missing step, model"),
    ("NaN weights", "trainer_state.pt", _state_edit(_nan_state), "NaN"),
    ("wrong shapes", "trainer_state.pt", _state_edit(_wrong_state_shape), "does not fit"),
    ("missing", "trainer_state.pt", lambda p: p.unlink(), "nothing to resume"),
    ("no tokenizer", "tokenizer.json", lambda p: p.unlink(), "has no tokenizer.json"),
    ("token file cut", "data/train.bin", _cut_half, "truncated"),
    ("config not JSON", "config.json", lambda p: p.write_text("{bad"), "not valid JSON"),
    ("options not an object", "config.json", _edit_config(lambda c: {**c, "options": [1]}), "must be an object"),
    ("options replaced", "config.json", _edit_config(lambda c: {**c, "options": {}}), "corrupt run configuration"),
]


@pytest.mark.parametrize("name,fault,fragment", [f[1:] for f in STATE_FAULTS], ids=[f[0] for f in STATE_FAULTS])
def test_corrupt_trainer_state_on_resume(name, fault, fragment, run, tmp_path, capsys):
    bad = copy_run(run, tmp_path)
    fault(bad / name)
    before = sorted(p.name for p in bad.iterdir())
    rc = main(["train", "lm", "--out", str(bad), "--resume", "--max-steps", "20", "--no-progress", "--device", "cpu"])
    one_line_error(rc, capsys, fragment)
    assert sorted(p.name for p in bad.iterdir()) == before  # a refused resume deletes nothing


def test_resume_refuses_changed_flag_and_finished_run(run, tmp_path, capsys):
    bad = copy_run(run, tmp_path)
    base = ["train", "lm", "--out", str(bad), "--resume", "--no-progress", "--device", "cpu"]
    one_line_error(main(base + ["--max-steps", "20", "--n-layer", "2"]), capsys, "--n-layer 2 differs")
    one_line_error(main(base + ["--max-steps", "10"]), capsys, "already at step 10")


# --- fault injection: unwritable outputs, a full disk ------------------------------------------------------------

def _raiser(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


def _writers(files, out):
    return {
        "tokenize train": ["tokenize", "train", str(files["corpus"]), "--kind", "char", "-o", str(out / "t.json")],
        "tokenize encode": ["tokenize", "encode", str(files["corpus"]), "--tokenizer", str(files["tok"]), "-o",
                            str(out / "e.bin"), "--quiet"],
        "tokenize decode": ["tokenize", "decode", str(files["bin"]), "--tokenizer", str(files["tok"]), "-o",
                            str(out / "d.txt")],
        "train lm": ["train", "lm", "--data", str(files["corpus"]), "--out", str(out / "run"), "--max-steps", "6",
                     *TINY],
        "demo": ["demo", "--out", str(out / "demo"), "--data", str(files["corpus"]), "--max-steps", "2",
                 "--no-progress", "--device", "cpu", "--prompt", "All"],
    }


@pytest.mark.parametrize("command", ["tokenize train", "tokenize encode", "tokenize decode", "train lm", "demo"])
def test_unwritable_directory_chmod(command, files, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes (the patched-writer tests cover this)")
        one_line_error(main(_writers(files, out)[command]), capsys, "cannot write")
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o700)


@pytest.mark.parametrize("code,fragment", [(errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only"),
                                           (errno.ENOSPC, "disk full")], ids=["EACCES", "EROFS", "ENOSPC"])
@pytest.mark.parametrize("where", ["mkstemp", "replace"])
@pytest.mark.parametrize("command", ["tokenize train", "tokenize encode", "tokenize decode", "train lm", "demo"])
def test_unwritable_output_patched(command, where, code, fragment, files, tmp_path, monkeypatch, capsys):
    """A read-only / unwritable / full destination, as the atomic writer sees it: nothing is left behind."""
    out = tmp_path / "out"
    out.mkdir()
    argv = _writers(files, out)[command]
    if where == "mkstemp":
        monkeypatch.setattr(tinytx.io.tempfile, "mkstemp", _raiser(code))
    else:
        monkeypatch.setattr(tinytx.io.os, "replace", _raiser(code))
    one_line_error(main(argv), capsys, fragment)
    monkeypatch.undo()
    assert list(out.iterdir()) == []  # no partial file, no half-made run directory, no temp file


def test_disk_full_at_a_checkpoint_keeps_the_previous_one(files, tmp_path, monkeypatch, capsys):
    """ENOSPC at the 2nd checkpoint (step 10): exit 2, the step-5 checkpoint is whole, and --resume finishes the
    run exactly as a run that never failed."""
    out = tmp_path / "full"
    argv = ["train", "lm", "--data", str(files["corpus"]), "--out", str(out), "--max-steps", "20", *TINY]
    real_replace, saves = os.replace, []

    def replace(src, dst):
        if str(dst).endswith("trainer_state.pt"):
            saves.append(dst)
            if len(saves) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(tinytx.io.os, "replace", replace)
    line = one_line_error(main(argv), capsys, "disk full")
    assert "trainer_state.pt" in line
    monkeypatch.undo()
    assert not list(out.glob(".*.tmp"))
    state = torch.load(out / "trainer_state.pt", weights_only=True)
    assert state["step"] == 5
    assert all(torch.isfinite(t).all() for t in load_file(out / "model.safetensors").values())
    # the run can go on, and ends exactly where a run that never failed ends
    assert main(["train", "lm", "--out", str(out), "--resume", "--max-steps", "20", "--no-progress", "--device",
                 "cpu"]) == 0
    assert main(argv[:5] + [str(tmp_path / "straight")] + argv[6:]) == 0
    a, b = load_file(out / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_disk_full_writing_metrics(files, tmp_path, monkeypatch, capsys):
    import builtins

    real_open = builtins.open

    def full_open(path, mode="r", *args, **kwargs):
        if "a" in mode and str(path).endswith("metrics.jsonl"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    out = tmp_path / "run"
    monkeypatch.setattr(builtins, "open", full_open)
    rc = main(["train", "lm", "--data", str(files["corpus"]), "--out", str(out), "--max-steps", "6", *TINY])
    monkeypatch.undo()
    line = one_line_error(rc, capsys, "No space left")
    assert "no checkpoint was written" in line and not out.exists()


# --- never lose work, never leave debris -------------------------------------------------------------------------

def test_failed_start_leaves_nothing_that_blocks_a_retry(files, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "lm", "--data", str(files["corpus"]), "--out", str(out), "--max-steps", "6", *TINY,
            "--block-size", "100000"]
    for _ in range(2):  # the same error both times, not "already holds a run"
        one_line_error(main(argv), capsys, "fewer than one window")
        assert not out.exists()


def test_divergence_claims_only_checkpoints_that_exist(files, tmp_path, capsys):
    base = ["train", "lm", "--data", str(files["corpus"]), "--max-steps", "20", *TINY, "--lr", "1e6",
            "--log-interval", "1"]
    # diverges before any checkpoint: says so, and the run directory is gone
    line = one_line_error(main(base + ["--out", str(tmp_path / "a")]), capsys, "loss became")
    assert "no checkpoint was written" in line and not (tmp_path / "a").exists()
    # a checkpoint every step: the step it names is the one on disk, and it is finite
    out = tmp_path / "b"
    line = one_line_error(main(base + ["--out", str(out), "--checkpoint-interval", "1"]), capsys, "loss became")
    if "no checkpoint" in line:
        assert not out.exists()
    else:
        step = int(line.split("checkpoint (step ")[1].split(")")[0])
        assert torch.load(out / "trainer_state.pt", weights_only=True)["step"] == step


def test_resume_removes_stale_temp_files(run, tmp_path, capsys):
    """What a kill -9 in the middle of a checkpoint leaves: temp files beside whole previous versions."""
    out = copy_run(run, tmp_path)
    stale = [out / ".model.safetensors.abc123.tmp", out / ".trainer_state.pt.x.tmp", out / "data" / ".train.bin.q.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    (out / "metrics.jsonl").write_bytes((out / "metrics.jsonl").read_bytes() + b'{"step": 11, "train_lo')
    assert main(["train", "lm", "--out", str(out), "--resume", "--max-steps", "15", "--no-progress", "--device",
                 "cpu"]) == 0
    assert not any(p.exists() for p in stale) and not list(out.rglob("*.tmp"))
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 15  # the cut line is gone, the log goes on


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_files_follow_the_umask(umask, files, tmp_path):
    old = os.umask(umask)
    try:
        assert main(["train", "lm", "--data", str(files["corpus"]), "--out", str(tmp_path / "run"), "--max-steps",
                     "5", *TINY]) == 0
        assert main(["tokenize", "train", str(files["corpus"]), "--kind", "char", "-o", str(tmp_path / "t.json")]) == 0
    finally:
        os.umask(old)
    written = [p for p in [tmp_path / "t.json", *(tmp_path / "run").rglob("*")] if p.is_file()]
    assert len(written) > 5
    for p in written:  # mkstemp's 0600 must not leak
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p


def test_demo_never_touches_a_directory_it_did_not_make(files, run, tmp_path, capsys):
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    (mine / "config.json").write_text('{"a": 1}')  # a config.json that is not a tinytx run
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    argv = ["demo", "--data", str(files["corpus"]), "--max-steps", "2", "--no-progress", "--device", "cpu",
            "--prompt", "All"]
    one_line_error(main(argv + ["--out", str(mine)]), capsys, "not a tinytx run")
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    # nor a run of its own kind that the demo did not make
    other = copy_run(run, tmp_path, "lm_run")
    state = (other / "trainer_state.pt").read_bytes()
    one_line_error(main(argv + ["--out", str(other)]), capsys, "demo did not make")
    assert (other / "trainer_state.pt").read_bytes() == state


# --- never silently wrong: text the tokenizer does not cover -----------------------------------------------------

def test_uncovered_text_warns_with_the_unk_rate(files, run, tmp_path, capsys):
    from tinytx.data.encode import load_tokens
    from tinytx.specials import UNK_ID

    out = tmp_path / "run"
    assert main(["train", "lm", "--data", str(files["corpus"]), "--out", str(out), "--tokenizer",
                 str(files["othertok"]), "--max-steps", "5", *TINY]) == 0
    err = capsys.readouterr().err
    tokens = np.asarray(load_tokens(out / "data" / "train.bin"))
    rate = float((tokens == UNK_ID).mean())
    assert rate > 0.5 and f"{rate:.1%} of the training tokens are [UNK]" in err
    # eval --data and tokenize encode say it too; a covered text says nothing
    assert main(["eval", str(out), "--data", str(files["corpus"]), "--device", "cpu"]) == 0
    assert "[UNK]" in capsys.readouterr().err
    assert main(["tokenize", "encode", str(files["corpus"]), "--tokenizer", str(files["othertok"]), "-o",
                 str(tmp_path / "o.bin"), "--quiet"]) == 0
    assert "[UNK]" in capsys.readouterr().err
    assert main(["eval", str(run), "--data", str(files["corpus"]), "--device", "cpu"]) == 0
    assert capsys.readouterr().err == ""


def test_run_killed_before_its_first_checkpoint(files, run, tmp_path, capsys):
    """kill -9 while the data was being prepared: config.json with no model yet, no checkpoint. Nothing claims a
    checkpoint, and the same command (or the demo) simply starts again."""
    out = copy_run(run, tmp_path)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "model": {}, "info": {}}))
    for name in ("trainer_state.pt", "model.safetensors", "metrics.jsonl"):
        (out / name).unlink()
    one_line_error(main(["train", "lm", "--out", str(out), "--resume", "--max-steps", "6", "--no-progress"]), capsys,
                   "never reached its first checkpoint")
    one_line_error(main(["eval", str(out), "--device", "cpu"]), capsys, "never reached its first checkpoint")
    demo = shutil.copytree(out, tmp_path / "demo")
    assert main(["train", "lm", "--data", str(files["corpus"]), "--out", str(out), "--max-steps", "6", *TINY]) == 0
    assert main(["demo", "--out", str(demo), "--data", str(files["corpus"]), "--max-steps", "2", "--no-progress",
                 "--device", "cpu", "--prompt", "All", "--max-new-tokens", "3"]) == 0
