"""`tinytx train tabular`, `tinytx eval`, `tinytx plot`: models learn, bad input is one line, resume is exact."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tinytx.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "tabular"
LINE, INSURANCE, BLOBS, SEPARABLE = (str(DATA / f) for f in ("line.csv", "insurance.csv", "blobs.csv", "separable.csv"))




@pytest.fixture
def cli(capsys):
    def run(*args):
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def train(cli, run, *args):
    rc, out, err = cli("train", "tabular", "-o", run, "--no-progress", *args)
    assert rc == 0, err
    return out


def evaluate(cli, run, data):
    rc, out, err = cli("eval", run, "--data", data, "--json")
    assert rc == 0, err
    return json.loads(out)


# --- each model learns its table ---------------------------------------------------------------------------

def test_linear_regression_recovers_the_line(cli, tmp_path):
    run = tmp_path / "line"
    out = train(cli, run, "--data", LINE, "--target", "y")
    slope, intercept = map(float, re.search(r"y = ([-\d.]+) \* x \+ ([-\d.]+)", out).groups())
    assert slope == pytest.approx(3.0, abs=0.05) and intercept == pytest.approx(2.0, abs=0.05)
    assert evaluate(cli, run, LINE)["mse"] < 0.05
    for name in ("config.json", "model.safetensors", "trainer_state.pt", "metrics.jsonl"):
        assert (run / name).exists()
    info = json.loads((run / "config.json").read_text())["info"]
    assert info["features"] == ["x"] and info["kind"] == "regression" and len(info["mean"]) == 1


@pytest.mark.parametrize("batch_size", ["full", "1", "8"])
def test_every_descent_flavour_converges(cli, tmp_path, batch_size):
    run = tmp_path / f"b{batch_size}"
    train(cli, run, "--data", LINE, "--target", "y", "--batch-size", batch_size, "--epochs", "60",
          "--lr", "0.05" if batch_size == "1" else "0.2", "--momentum", "0.5")
    assert evaluate(cli, run, LINE)["mse"] < 0.05


def test_logistic_regression_on_insurance_writes_a_confusion_matrix(cli, tmp_path):
    run = tmp_path / "ins"
    train(cli, run, "--model", "logistic", "--data", INSURANCE, "--target", "insured", "--schedule", "exponential",
          "--decay-steps", "100")
    assert evaluate(cli, run, INSURANCE)["accuracy"] >= 0.75
    cm = json.loads((run / "confusion_matrix.json").read_text())
    assert cm["labels"] == ["no", "yes"] and sum(map(sum, cm["matrix"])) == 12  # the 20% validation rows


def test_softmax_on_three_blobs(cli, tmp_path):
    run = tmp_path / "blobs"
    train(cli, run, "--model", "softmax", "--data", BLOBS, "--target", "color", "--batch-size", "16")
    metrics = evaluate(cli, run, BLOBS)
    assert metrics["accuracy"] > 0.95 and metrics["rows"] == 150


def test_perceptron_separates_the_separable_table(cli, tmp_path):
    run = tmp_path / "perc"
    train(cli, run, "--model", "perceptron", "--data", SEPARABLE, "--target", "label", "--val-fraction", "0")
    assert evaluate(cli, run, SEPARABLE)["accuracy"] == 1.0


def test_mlp_with_layers_activation_dropout_and_early_stopping(cli, tmp_path):
    run = tmp_path / "mlp"
    train(cli, run, "--model", "mlp", "--data", BLOBS, "--target", "color", "--hidden-sizes", "16,8", "--activation",
          "tanh", "--dropout", "0.1", "--patience", "5", "--l2", "1e-4", "--epochs", "30")
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["config"]["hidden_sizes"] == [16, 8] and config["train"]["patience"] == 5
    assert evaluate(cli, run, BLOBS)["accuracy"] > 0.95


def test_mlp_regression_and_feature_choice(cli, tmp_path):
    run = tmp_path / "mlpreg"
    train(cli, run, "--model", "mlp", "--data", BLOBS, "--target", "x2", "--features", "x1", "--epochs", "20")
    info = json.loads((run / "config.json").read_text())["info"]
    assert info["features"] == ["x1"] and info["kind"] == "regression"
    assert "mse" in evaluate(cli, run, BLOBS)


def test_multi_output_linear_regression(cli, tmp_path):
    run = tmp_path / "multi"
    rc, out, err = cli("train", "tabular", "-o", run, "--no-progress", "--data", LINE, "--target", "x,y",
                       "--features", "x")
    assert rc == 2 and "both feature and target" in err
    path = tmp_path / "two.csv"
    path.write_text("a,b,c\n" + "".join(f"{i},{2 * i + 1},{-i}\n" for i in range(-10, 10)))
    train(cli, run, "--data", path, "--target", "b,c", "--epochs", "200")
    assert evaluate(cli, run, path)["mse"] < 0.01


def test_random_restarts_keep_the_best(cli, tmp_path):
    run = tmp_path / "restarts"
    out = train(cli, run, "--model", "mlp", "--data", BLOBS, "--target", "color", "--restarts", "3",
                "--epochs", "5")
    assert "3 restarts" in out
    info = json.loads((run / "config.json").read_text())["info"]
    losses = [r["loss"] for r in info["restarts"]]
    assert len(losses) == 3 and [r["seed"] for r in info["restarts"]] == [1337, 1338, 1339]
    chosen = json.loads((run / "config.json").read_text())["train"]["seed"]
    assert info["restarts"][losses.index(min(losses))]["seed"] == chosen
    assert evaluate(cli, run, BLOBS)["accuracy"] > 0.8


# --- plots ---------------------------------------------------------------------------------------------------

def test_plots(cli, tmp_path):
    pytest.importorskip("matplotlib")
    line, blobs = tmp_path / "line", tmp_path / "blobs"
    train(cli, line, "--data", LINE, "--target", "y", "--epochs", "30")
    train(cli, blobs, "--model", "softmax", "--data", BLOBS, "--target", "color", "--epochs", "5")
    for args, out in [((line,), "loss.png"), ((line, "--cost-surface"), "surface.png"),
                      ((blobs, "--confusion"), "cm.svg")]:
        rc, stdout, err = cli("plot", *args, "-o", tmp_path / out)
        assert rc == 0, err
        assert (tmp_path / out).stat().st_size > 1000
    rc, _, err = cli("plot", blobs, "--cost-surface", "-o", tmp_path / "x.png")
    assert rc == 2 and "one feature" in err
    rc, _, err = cli("plot", line, "-o", tmp_path / "x.txt")
    assert rc == 2 and ".png" in err
    rc, _, err = cli("plot", line, "--confusion", "-o", tmp_path / "x.png")
    assert rc == 2 and "confusion_matrix.json" in err


def test_cost_surface_path_follows_descent(tmp_path, cli):
    from tinytx.recipes.tabular import cost_surface

    run = tmp_path / "line"
    train(cli, run, "--data", LINE, "--target", "y", "--epochs", "30", "--batch-size", "full")
    W, B, Z, path = cost_surface(run)
    assert len(path) == 31  # the initial weights + every full-batch step
    i, j = divmod(int(Z.argmin()), Z.shape[1])
    assert abs(path[-1, 0] - W[i, j]) < 0.2 and abs(path[-1, 1] - B[i, j]) < 0.2  # ends near the minimum


def test_plot_without_matplotlib_says_how_to_get_it(cli, tmp_path, monkeypatch):
    run = tmp_path / "line"
    train(cli, run, "--data", LINE, "--target", "y", "--epochs", "2")
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    rc, _, err = cli("plot", run, "-o", tmp_path / "loss.png")
    assert rc == 2 and "pip install 'tinytx[plot]'" in err
    assert not (tmp_path / "loss.png").exists()


# --- bad input: one line, exit 2, nothing written -----------------------------------------------------------

def _bad_tables(tmp):
    (tmp / "empty.csv").write_text("")
    (tmp / "header.csv").write_text("x,y\n")
    (tmp / "ragged.csv").write_text("x,y\n1,2\n3\n")  # a missing cell
    (tmp / "long.csv").write_text("x,y\n1,2\n3,4,5,6\n")  # a row longer than the header
    (tmp / "words.csv").write_text("x,y\n1,2\nthree,4\n")
    (tmp / "gap.csv").write_text("x,y\n1,2\n,4\n3,5\n")
    (tmp / "nan.csv").write_text("x,y\n1,2\nnan,4\n3,5\n")


BAD = [
    (["--data", "missing.csv", "--target", "y"], "no such file"),
    (["--data", "empty.csv", "--target", "y"], "empty"),
    (["--data", "header.csv", "--target", "y"], "no rows"),
    (["--data", "ragged.csv", "--target", "y"], "target column 'y' is not numeric (row 2 has an empty cell)"),
    (["--data", "long.csv", "--target", "y"], "line 3 has 4 fields, the header has 2"),
    (["--data", "words.csv", "--target", "y"], "'x' is not numeric"),
    (["--data", "gap.csv", "--target", "y"], "empty cell"),
    (["--data", "nan.csv", "--target", "y"], "is not numeric (row 2"),  # pandas reads "nan" as a missing value
    (["--data", LINE, "--target", "z"], "no column 'z'"),
    (["--data", LINE, "--target", "y", "--features", "w"], "no column 'w'"),
    (["--data", INSURANCE, "--target", "has_car"], "'insured' is not numeric"),
    (["--data", LINE, "--target", "y", "--lr", "0"], "learning rate must be > 0"),
    (["--data", LINE, "--target", "y", "--lr", "-0.1"], "learning rate must be > 0"),
    (["--data", LINE, "--target", "y", "--batch-size", "0"], "batch size"),
    (["--data", LINE, "--target", "y", "--batch-size", "64t"], "is for token recipes"),  # was a TypeError
    (["--data", LINE, "--target", "y", "--epochs", "0"], "epochs"),
    (["--data", LINE, "--target", "y", "--momentum", "1.5"], "momentum"),
    (["--data", LINE, "--target", "y", "--nesterov"], "nesterov"),
    (["--data", LINE, "--target", "y", "--val-fraction", "1"], "val-fraction must be in [0, 1)"),
    (["--data", LINE, "--target", "y", "--restarts", "0"], "restarts"),
    (["--data", LINE, "--target", "y", "--restarts", "2", "--val-fraction", "0"], "validation"),
    (["--data", LINE, "--target", "y", "--model", "mlp", "--dropout", "1"], "dropout"),
    (["--data", BLOBS, "--target", "color", "--model", "logistic"], "exactly 2 classes"),
    (["--data", BLOBS, "--target", "color"], "'color' is not numeric"),
    (["--data", LINE, "--target", "y", "--device", "nonsense"], "device"),
    (["--target", "y"], "--data is required"),
    (["--data", LINE], "--target is required"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_is_one_line_and_leaves_nothing(cli, tmp_path, monkeypatch, args, message):
    _bad_tables(tmp_path)
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli("train", "tabular", "-o", tmp_path / "run", "--no-progress", *args)
    assert rc == 2
    assert err.startswith("tinytx: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "run").exists()


def test_argument_type_errors_exit_2(cli, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli("train", "tabular", "-o", tmp_path / "r", "--data", LINE, "--target", "y", "--batch-size", "half")
    assert e.value.code == 2
    assert not (tmp_path / "r").exists()


def test_existing_run_is_not_overwritten(cli, tmp_path):
    run = tmp_path / "run"
    train(cli, run, "--data", LINE, "--target", "y", "--epochs", "2")
    before = (run / "model.safetensors").read_bytes()
    rc, _, err = cli("train", "tabular", "-o", run, "--data", LINE, "--target", "y")
    assert rc == 2 and "already holds a run" in err
    assert (run / "model.safetensors").read_bytes() == before


def test_eval_errors(cli, tmp_path):
    run = tmp_path / "run"
    train(cli, run, "--data", LINE, "--target", "y", "--epochs", "2")
    rc, _, err = cli("eval", run)
    assert rc == 2 and "--data is required" in err
    rc, _, err = cli("eval", run, "--data", SEPARABLE)
    assert rc == 2 and "no column 'x'" in err
    rc, _, err = cli("eval", tmp_path / "nope", "--data", LINE)
    assert rc == 2 and "no such run directory" in err
    blobs = tmp_path / "blobs"
    train(cli, blobs, "--model", "softmax", "--data", BLOBS, "--target", "color", "--epochs", "2")
    odd = tmp_path / "odd.csv"
    odd.write_text("x1,x2,color\n1,2,purple\n")
    rc, _, err = cli("eval", blobs, "--data", odd)
    assert rc == 2 and "never saw: purple" in err


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(cli, tmp_path):
    run = tmp_path / "run"
    rc, _, err = cli("train", "tabular", "-o", run, "--no-progress", "--data", LINE, "--target", "y", "--lr", "10",
                     "--batch-size", "1", "--checkpoint-interval", "3", "--log-interval", "1")
    assert rc == 2 and "loss became" in err and "last good checkpoint" in err and err.count("\n") == 1
    from tinytx.rundir import load_run

    model = load_run(run).model  # the kept checkpoint loads, and its weights are finite
    assert all(torch.isfinite(p).all() for p in model.parameters())


# --- resume after SIGKILL / SIGINT of the CLI process ---------------------------------------------------------

RESUME_ARGS = ["--model", "mlp", "--data", BLOBS, "--target", "color", "--hidden-sizes", "16", "--dropout", "0.2",
               "--batch-size", "4", "--optimizer", "adam", "--lr", "0.01", "--max-steps", "600",
               "--checkpoint-interval", "25", "--eval-interval", "200", "--no-progress"]


def _weights(run):
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


def _spawn(run, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tinytx", "train", "tabular", "-o", str(run), *RESUME_ARGS,
                             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop_after_first_checkpoint(proc, run, sig):
    state = run / "trainer_state.pt"
    deadline = time.time() + 60
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    if proc.poll() is not None:
        pytest.skip("training finished before it could be stopped (machine too fast for this test)")
    time.sleep(0.02)  # somewhere between two checkpoints
    proc.send_signal(sig)
    return proc.communicate(timeout=60)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The same run, never stopped; in process (one thread, like the OMP_NUM_THREADS=1 subprocesses)."""
    run = tmp_path_factory.mktemp("ref") / "run"
    assert main(["train", "tabular", "-o", str(run), *RESUME_ARGS]) == 0
    return _weights(run)


@pytest.mark.slow
def test_sigkill_between_checkpoints_then_resume_is_bit_identical(tmp_path, uninterrupted):
    run = tmp_path / "run"
    _stop_after_first_checkpoint(_spawn(run), run, signal.SIGKILL)
    step = torch.load(run / "trainer_state.pt", weights_only=True)["step"]
    assert 0 < step < 600
    resumed = subprocess.run([sys.executable, "-m", "tinytx", "train", "tabular", "-o", str(run), "--resume",
                              "--no-progress"], env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "step 600" in resumed.stdout
    weights = _weights(run)
    assert all(torch.equal(weights[k], uninterrupted[k]) for k in uninterrupted)


@pytest.mark.slow
def test_sigint_checkpoints_and_resume_is_bit_identical(tmp_path, uninterrupted, cli):
    run = tmp_path / "run"
    proc = _spawn(run)
    _, err = _stop_after_first_checkpoint(proc, run, signal.SIGINT)
    assert proc.returncode == 130 and "interrupted: SIGINT: checkpoint saved" in err
    step = torch.load(run / "trainer_state.pt", weights_only=True)["step"]
    assert 0 < step < 600
    out = train(cli, run, "--resume")  # in process this time
    assert "step 600" in out
    weights = _weights(run)
    assert all(torch.equal(weights[k], uninterrupted[k]) for k in uninterrupted)


def test_cli_doc_tabular_examples_run(cli, tmp_path, monkeypatch):
    """docs/cli.md's `tinytx train tabular` / `eval` / `plot` examples run as written (runs/ -> a temp dir)."""
    import shlex

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    text = (root / "docs" / "cli.md").read_text().replace("\\\n", " ")
    commands = [line.split("#")[0].strip().lstrip("$ ").replace("runs/", f"{tmp_path}/")
                for line in text.splitlines()
                if line.lstrip("$ ").startswith(("tinytx train tabular --model", "tinytx eval runs/"))
                and "data/tabular/" in line]
    assert len(commands) >= 6
    for command in commands:
        rc, out, err = cli(*shlex.split(command)[1:], *(["--no-progress"] if " train " in command else []))
        assert rc == 0, (command, err)
