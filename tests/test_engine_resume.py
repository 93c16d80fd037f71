"""Exact resume, in process: a run stopped at step k (Ctrl-C, or a crash between checkpoints) and resumed reaches
bit-identical weights at step n to a run that never stopped (CPU)."""
import json
import os
import signal

import pytest
import torch

from tinytx.engine import Callback, Classification, TrainConfig, Trainer
from tinytx.models import build

N_STEPS = 30




def data(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(48, 4, generator=g)
    return {"x": x, "y": (x[:, 0] + x[:, 1] * x[:, 2] > 0).long()}


def make_trainer(out_dir, callbacks=(), resume=False, **kw):
    torch.manual_seed(0)
    # dropout uses the RNG, the data is reshuffled every epoch, the lr warms up then follows a cosine:
    # everything that could drift on resume is in play
    model = build("mlp", {"in_features": 4, "out_features": 2, "hidden_sizes": [16], "dropout": 0.2})
    config = TrainConfig(max_steps=N_STEPS, batch_size=8, optimizer="adamw", lr=0.01, weight_decay=0.01,
                         schedule="cosine", warmup_steps=5, eval_interval=4, log_interval=3, progress=False,
                         device="cpu", **kw)
    return Trainer(model, Classification(2), data(0), data(1), config, out_dir=out_dir, callbacks=callbacks,
                   resume=resume)


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def comparable_metrics(run_dir):
    """Validation records and the logged lr of each step. (A train_loss is a mean over the log window, and the
    window that spans a stop is cut short, so those values may differ right after a resume.)"""
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k.startswith("val_") or k in ("step", "lr")} for r in rows]


class At(Callback):
    def __init__(self, step, action):
        self.step, self.action = step, action

    def on_step_end(self, trainer, logs):
        if trainer.step == self.step:
            self.action(trainer)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    trainer = make_trainer(out)
    trainer.fit()
    return trainer, out


def test_ctrl_c_checkpoints_and_resumes_exactly(tmp_path, reference):
    ref, ref_dir = reference
    first = make_trainer(tmp_path, callbacks=[At(13, lambda t: os.kill(os.getpid(), signal.SIGINT))])
    result = first.fit()
    assert first.interrupted == signal.SIGINT and result["step"] == 13 and "SIGINT" in result["stopped"]
    assert torch.load(tmp_path / "trainer_state.pt", weights_only=True)["step"] == 13
    resumed = make_trainer(tmp_path, resume=True)
    assert resumed.step == 13
    resumed.fit()
    assert resumed.step == N_STEPS
    assert_same_weights(resumed.raw_model, ref.raw_model)
    assert comparable_metrics(tmp_path) == comparable_metrics(ref_dir)


def test_crash_between_checkpoints_resumes_exactly(tmp_path, reference):
    ref, ref_dir = reference

    def crash(trainer):
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        make_trainer(tmp_path, callbacks=[At(19, crash)], checkpoint_interval=5).fit()
    # last checkpoint: step 16 (an evaluation); steps 17-19 are lost and redone
    assert torch.load(tmp_path / "trainer_state.pt", weights_only=True)["step"] == 16
    resumed = make_trainer(tmp_path, resume=True, checkpoint_interval=5)
    resumed.fit()
    assert_same_weights(resumed.raw_model, ref.raw_model)
    val = lambda rows: [r for r in rows if "val_loss" in r]  # checkpoints add log lines; evaluations are the same
    assert val(comparable_metrics(tmp_path)) == val(comparable_metrics(ref_dir))


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    from tinytx.errors import TinytxError

    with pytest.raises(TinytxError, match="nothing to resume"):
        make_trainer(tmp_path, resume=True)
