"""The Trainer's knobs behave: LR schedules, momentum, gradient accumulation, early stopping, L2, NaN."""
import json
import math

import pytest
import torch

from tinytx.engine import Callback, Regression, TrainConfig, Trainer
from tinytx.engine.optim import lr_at
from tinytx.errors import TinytxError, TrainingDiverged
from tinytx.models import build




def cfg(**kw):
    return TrainConfig(**{"optimizer": "sgd", "lr": 0.1, "progress": False, "device": "cpu", **kw})


def line(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 4 - 2
    return {"x": x, "y": 3 * x[:, 0] + 2}


def linear(seed=0, zero=False):
    torch.manual_seed(seed)
    return build("linear", {"in_features": 1, "zero_init": zero})


# --- learning-rate schedules: a pure function of the step ------------------------------------------------

def test_lr_schedules_values():
    at = lambda step, **kw: lr_at(step, TrainConfig(lr=1.0, **kw), max_steps=100)
    assert [at(s) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert [at(s, schedule="step", decay_rate=0.5, decay_steps=10) for s in (0, 9, 10, 25)] == [1, 1, 0.5, 0.25]
    assert at(10, schedule="exponential", decay_rate=0.5, decay_steps=10) == pytest.approx(0.5)
    assert at(5, schedule="exponential", decay_rate=0.5, decay_steps=10) == pytest.approx(math.sqrt(0.5))
    assert at(12, schedule="invsqrt", decay_steps=4) == pytest.approx(0.5)
    cos = dict(schedule="cosine", min_lr=0.1)
    assert at(0, **cos) == pytest.approx(1.0)
    assert at(50, **cos) == pytest.approx(0.55)
    assert at(100, **cos) == pytest.approx(0.1)
    # warmup: linear from lr/w up to lr, then the schedule starts from its beginning
    assert [at(s, warmup_steps=4, schedule="step", decay_steps=10) for s in (0, 1, 3, 4, 14)] == [0.25, 0.5, 1, 1, 0.5]


def test_trainer_uses_the_scheduled_lr_every_step():
    c = cfg(batch_size=8, max_steps=12, log_interval=1, schedule="step", decay_rate=0.1, decay_steps=5, warmup_steps=2)
    trainer = Trainer(linear(), Regression(), line(), None, c)
    trainer.fit()
    assert [h["lr"] for h in trainer.history] == pytest.approx([lr_at(s, c, 12) for s in range(12)])


# --- momentum --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_update_matches_the_formula(nesterov):
    """v <- mu v + g ; w <- w - lr v   (Nesterov: w <- w - lr (g + mu v))."""
    data, mu, lr = line(16), 0.9, 0.05
    model = linear()
    w = {k: v.detach().clone() for k, v in model.named_parameters()}
    Trainer(model, Regression(), data, None, cfg(batch_size="full", max_steps=3, lr=lr, momentum=mu,
                                                    nesterov=nesterov)).fit()
    v = {k: torch.zeros_like(p) for k, p in w.items()}
    for _ in range(3):
        params = {k: p.clone().requires_grad_() for k, p in w.items()}
        pred = data["x"] @ params["linear.weight"].T + params["linear.bias"]
        torch.nn.functional.mse_loss(pred[:, 0], data["y"]).backward()
        for k in w:
            g = params[k].grad
            v[k] = mu * v[k] + g
            w[k] = w[k] - lr * ((g + mu * v[k]) if nesterov else v[k])
    for k, p in model.named_parameters():
        assert torch.allclose(p.detach(), w[k], atol=1e-6)


def test_momentum_converges_faster_on_an_ill_conditioned_problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g) * torch.tensor([1.0, 0.1])  # one steep and one flat direction
    data = {"x": x, "y": x @ torch.tensor([1.0, 5.0])}

    def final_loss(momentum):
        torch.manual_seed(0)
        model = build("linear", {"in_features": 2})
        t = Trainer(model, Regression(), data, None, cfg(batch_size="full", max_steps=100, lr=0.5, momentum=momentum))
        t.fit()
        return t.evaluate(t.train_data)["loss"]

    assert final_loss(0.9) < 0.1 * final_loss(0.0)


# --- gradient accumulation = a bigger batch --------------------------------------------------------------

def test_gradient_accumulation_equals_a_bigger_batch():
    data = {"x": torch.randn(64, 3), "y": torch.randint(0, 3, (64,))}
    from tinytx.engine import Classification

    def train(batch_size, accum):
        torch.manual_seed(0)
        model = build("mlp", {"in_features": 3, "out_features": 3, "hidden_sizes": [8]})
        Trainer(model, Classification(3), data, None,
                cfg(batch_size=batch_size, grad_accum=accum, max_steps=6, optimizer="adam", lr=0.01)).fit()
        return model.state_dict()

    big, accumulated = train(16, 1), train(4, 4)
    for k in big:
        assert torch.allclose(big[k], accumulated[k], atol=1e-6), k


# --- early stopping restores the best weights --------------------------------------------------------------

class Snapshots(Callback):
    def __init__(self):
        self.weights = {}

    def on_eval_end(self, trainer, metrics):
        self.weights[trainer.step] = {k: v.clone() for k, v in trainer.raw_model.state_dict().items()}


@pytest.mark.parametrize("patience", [3, None], ids=["stopped-early", "ran-to-the-end"])
def test_early_stopping_ends_on_the_best_weights(patience, tmp_path):
    # train on y = 3x + 2 from w = 0, validate on y = 2: validation only gets worse after the first steps
    train, val = line(), dict(line(16, seed=1))
    val["y"] = torch.full_like(val["y"], 2.0)
    snaps = Snapshots()
    model = linear(zero=True)
    trainer = Trainer(model, Regression(), train, val, cfg(batch_size="full", max_steps=20, eval_interval=1,
                                                           patience=patience), out_dir=tmp_path,
                      callbacks=[snaps])
    result = trainer.fit()
    best = result["best_step"]
    assert 0 < best < 10
    assert result["step"] == (best + patience if patience else 20)
    assert (result["stopped"] is not None) == (patience is not None)
    for k, v in model.state_dict().items():
        assert torch.equal(v, snaps.weights[best][k])
    assert (tmp_path / "best.safetensors").exists()


def test_l2_gives_the_ridge_solution():
    """loss = mean((wx + b - y)^2) + l2/2 w^2  is minimised by  w = cov(x, y) / (var(x) + l2/2)."""
    data, l2 = line(), 1.0
    torch.manual_seed(0)
    model = build("linear", {"in_features": 1})
    Trainer(model, Regression(), data, None, cfg(batch_size="full", max_steps=300, l2=l2)).fit()
    x, y = data["x"][:, 0].double(), data["y"].double()
    cov, var = ((x - x.mean()) * (y - y.mean())).mean(), x.var(unbiased=False)
    assert model.weight.item() == pytest.approx(float(cov / (var + l2 / 2)), abs=1e-4)
    assert model.weight.item() < 0.8 * 3.0


# --- divergence ----------------------------------------------------------------------------------------------

def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    model = linear()
    trainer = Trainer(model, Regression(), line(), None,
                      cfg(batch_size=1, max_steps=500, lr=50.0, log_interval=1, checkpoint_interval=2),
                      out_dir=tmp_path)
    with pytest.raises(TrainingDiverged, match="loss became .* at step .* lower learning rate"):
        trainer.fit()
    state = torch.load(tmp_path / "trainer_state.pt", weights_only=True)
    assert 0 < state["step"] < trainer.step
    from tinytx.engine.checkpoint import load_weights

    again = linear()
    load_weights(again, tmp_path / "model.safetensors")
    assert all(torch.isfinite(p).all() for p in again.parameters())
    logged = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["train_loss"]) for r in logged)


def test_bad_training_options_are_one_line_errors():
    for bad in (dict(lr=0), dict(lr=-1), dict(batch_size=0), dict(batch_size="half"), dict(momentum=1.0),
                dict(optimizer="lbfgs"), dict(schedule="sawtooth"), dict(nesterov=True)):
        with pytest.raises(TinytxError, match="invalid training option"):
            TrainConfig(**bad)


# --- a time budget sizes the schedule ---------------------------------------------------------------------------

class FakeClock:
    """perf_counter that advances a fixed amount per call: 'time' is a count of calls, not of seconds."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def __call__(self):
        self.now += self.tick
        return self.now


def test_minutes_alone_sizes_max_steps_and_resume_keeps_it(tmp_path, monkeypatch):
    import tinytx.engine.trainer as trainer_module

    monkeypatch.setattr(trainer_module.time, "perf_counter", FakeClock(0.01))
    config = cfg(batch_size=8, minutes=0.05, schedule="cosine", eval_interval=10**6)  # a 3 s budget
    trainer = Trainer(linear(), Regression(), line(), None, config, out_dir=tmp_path)
    assert trainer.sizing
    result = trainer.fit()
    sized = result["max_steps"]
    assert 3 < sized < 10**6 and result["step"] <= sized  # measured, then fixed; the budget is kept
    saved = json.loads((tmp_path / "config.json").read_text())["train"]
    assert saved["max_steps"] == sized and saved["minutes"] == 0.05  # resume continues the same schedule
    resumed = Trainer(linear(), Regression(), line(), None, TrainConfig.from_dict(saved), out_dir=tmp_path, resume=True)
    assert not resumed.sizing and resumed.max_steps == sized


class SlowStartClock:
    """Each call advances `slow` seconds for the first `calls` calls, then `fast`: steps that speed up after a start."""

    def __init__(self, slow: float, fast: float, calls: int):
        self.now, self.slow, self.fast, self.left = 0.0, slow, fast, calls

    def __call__(self):
        self.left -= 1
        self.now += self.slow if self.left > 0 else self.fast
        return self.now


def test_a_sized_schedule_caps_its_warmup_and_rechecks_its_pace(monkeypatch):
    import tinytx.engine.trainer as trainer_module

    # sized on slow first steps to ~280 steps; from 2 s into the 30 s budget the steps run 10x faster
    monkeypatch.setattr(trainer_module.time, "perf_counter", SlowStartClock(0.1, 0.01, 20))
    config = cfg(batch_size=8, minutes=0.5, schedule="cosine", warmup_steps=400, eval_interval=10**6, compile=False)
    trainer = Trainer(linear(), Regression(), line(), None, config)
    fits = []  # (step, max_steps, warm-up) after each fit of the schedule
    set_max_steps = trainer._set_max_steps
    monkeypatch.setattr(trainer, "_set_max_steps", lambda steps: (
        set_max_steps(steps), fits.append((trainer.step, trainer.max_steps, trainer.config.warmup_steps))))
    result = trainer.fit()
    step, steps, warmup = fits[0]
    assert steps < 400 and warmup == int(steps * trainer_module.SIZED_WARMUP_MAX)  # the first fit: held to a share
    assert result["max_steps"] > 1000  # re-fitted to the faster pace early in the run, while still warming up...
    assert trainer.config.warmup_steps == 400  # ...so the warm-up asked for is given back
    assert all(b[2] == a[2] for a, b in zip(fits, fits[1:]) if b[0] >= a[2])  # never changed once over
    assert result["step"] == result["max_steps"] and "time budget" not in str(result.get("stopped"))  # in budget


def test_a_sized_schedule_too_short_for_its_warmup_keeps_a_share_of_it(monkeypatch):
    import tinytx.engine.trainer as trainer_module

    monkeypatch.setattr(trainer_module.time, "perf_counter", FakeClock(0.05))  # one pace: ~280 steps in 30 s
    config = cfg(batch_size=8, minutes=0.5, schedule="cosine", warmup_steps=400, eval_interval=10**6, compile=False)
    trainer = Trainer(linear(), Regression(), line(), None, config)
    result = trainer.fit()
    assert 50 < result["max_steps"] < 1000
    # held to a share of the steps (as they were fitted when the warm-up ended; a later re-check may trim them)
    assert 0.3 * result["max_steps"] < trainer.config.warmup_steps < 0.5 * result["max_steps"]


def test_minutes_with_max_steps_only_limits(tmp_path, monkeypatch):
    import tinytx.engine.trainer as trainer_module

    monkeypatch.setattr(trainer_module.time, "perf_counter", FakeClock(1.0))
    trainer = Trainer(linear(), Regression(), line(), None, cfg(max_steps=10**6, minutes=0.5))  # 30 "seconds"
    result = trainer.fit()
    assert result["max_steps"] == 10**6 and result["step"] < 100 and "time budget" in result["stopped"]


def test_dtype_auto_picks_bf16_only_where_it_pays(monkeypatch):
    import tinytx.engine.trainer as trainer_module

    cpu = torch.device("cpu")
    wide = build("gpt", {"vocab_size": 11, "block_size": 8, "n_layer": 1, "n_head": 4, "n_embd": 128})
    narrow = build("gpt", {"vocab_size": 11, "block_size": 8, "n_layer": 1, "n_head": 4, "n_embd": 64})
    monkeypatch.setattr(trainer_module, "cpu_has_bf16_matmul", lambda: True)
    assert trainer_module.resolve_dtype("auto", cpu, wide) == "bf16"
    assert trainer_module.resolve_dtype("auto", cpu, narrow) == "fp32"  # MLP's 256-wide input does not count
    assert trainer_module.resolve_dtype("fp32", cpu, wide) == "fp32"
    monkeypatch.setattr(trainer_module, "cpu_has_bf16_matmul", lambda: False)
    assert trainer_module.resolve_dtype("auto", cpu, wide) == "fp32"


def test_dtype_auto_keeps_small_mlps_in_fp32(monkeypatch):
    import tinytx.engine.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "cpu_has_bf16_matmul", lambda: True)
    mlp = build("mlp", {"in_features": 64, "out_features": 10, "hidden_sizes": [256, 256]})
    assert trainer_module.resolve_dtype("auto", torch.device("cpu"), mlp) == "fp32"


def test_autocompile_keeps_compile_only_where_it_pays():
    from tinytx.engine.autocompile import TIMED, AutoCompile

    cpu = torch.device("cpu")
    assert AutoCompile(True, cpu).state == "on" and AutoCompile(False, cpu).state == "off"

    def run(eager_s, compiled_s, steps_left):
        auto = AutoCompile(None, cpu)
        auto.state = "eager"  # as if a compiler were found
        actions = [auto.record(eager_s, steps_left, None) for _ in range(TIMED + 1)]
        if auto.state == "trial":
            actions += [auto.record(20.0, steps_left, None)]  # the compile itself is not counted
            actions += [auto.record(compiled_s, steps_left, None) for _ in range(TIMED)]
        return [a for a in actions if a], auto.state

    assert run(0.05, 0.03, 10**5) == (["compile"], "on")
    assert run(0.05, 0.06, 10**5) == (["compile", "revert"], "off")
    assert run(0.05, 0.03, 100) == ([], "off")  # 5 s of eager steps left: a compile cannot pay


def test_a_failing_compile_falls_back_to_eager(monkeypatch, capsys):
    import tinytx.engine.autocompile as autocompile
    import tinytx.engine.trainer as trainer_module

    def broken_compile(model):
        def call(*args, **kwargs):
            raise RuntimeError("no C++ compiler")
        return call

    monkeypatch.setattr(trainer_module.torch, "compile", broken_compile)
    monkeypatch.setattr(autocompile, "MIN_REMAINING_S", 0.0)  # try even on this short run
    monkeypatch.setattr(autocompile, "can_compile", lambda device: True)
    trainer = Trainer(linear(), Regression(), line(), None, cfg(max_steps=40, batch_size=8))
    result = trainer.fit()
    assert result["step"] == 40 and not result["compiled"]
    assert "torch.compile failed (RuntimeError: no C++ compiler)" in capsys.readouterr().err


# --- weights files --------------------------------------------------------------------------------------------

class TiedAndFlat(torch.nn.Module):
    """A tied embedding/output pair, and two weights that are views of one flat buffer (as cuDNN keeps a CUDA GRU's)."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(5, 3)
        self.out = torch.nn.Linear(3, 5, bias=False)
        self.out.weight = self.emb.weight
        flat = torch.randn(12)
        self.a = torch.nn.Parameter(flat[:6].view(2, 3))
        self.b = torch.nn.Parameter(flat[6:].view(3, 2))


def test_weights_round_trip_tied_once_and_views_of_one_buffer(tmp_path):
    from safetensors import safe_open

    from tinytx.engine.checkpoint import load_weights, save_weights

    model = TiedAndFlat()
    assert model.a.untyped_storage().data_ptr() == model.b.untyped_storage().data_ptr()
    save_weights(model, tmp_path / "w.safetensors")
    with safe_open(str(tmp_path / "w.safetensors"), framework="pt") as f:
        assert sorted(f.keys()) == ["a", "b", "emb.weight"]  # the tie stored once
    again = TiedAndFlat()
    load_weights(again, tmp_path / "w.safetensors")
    for name, t in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], t), name
    assert again.out.weight is again.emb.weight  # still tied after loading
