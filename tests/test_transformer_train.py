"""A tiny GPT learns a tiny text through the one Trainer; divergence stops cleanly."""
import pytest
import torch

from tinytx.engine import TrainConfig, Trainer
from tinytx.engine.tasks import LanguageModeling
from tinytx.errors import TrainingDiverged
from tinytx.models import build

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def _windows(block=16):
    chars = sorted(set(TEXT))
    ids = torch.tensor([chars.index(c) for c in TEXT])
    starts = torch.arange(0, len(ids) - block - 1)
    x = torch.stack([ids[s : s + block] for s in starts])
    y = torch.stack([ids[s + 1 : s + block + 1] for s in starts])
    return {"idx": x, "targets": y}, len(chars)


@pytest.mark.parametrize("name,cfg", [
    ("gpt", {"block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 32}),
    ("gru", {"n_embd": 16, "hidden_size": 64}),
])
def test_tiny_lm_learns_tiny_text(name, cfg):
    data, vocab = _windows()
    torch.manual_seed(0)
    model = build(name, {"vocab_size": vocab, **cfg})
    config = TrainConfig(max_steps=150, batch_size=32, lr=1e-2, eval_interval=150, eval_batches=4,
                         progress=False, device="cpu", seed=0)
    result = Trainer(model, LanguageModeling(), data, data, config).fit()
    assert result["val"]["loss"] < 0.35  # unigram entropy of this text is ~2.7 nats
    assert result["val"]["perplexity"] < 1.5


def test_absurd_lr_stops_with_message_and_keeps_checkpoint(tmp_path):
    data, vocab = _windows()
    torch.manual_seed(0)
    model = build("gpt", {"vocab_size": vocab, "block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16})
    config = TrainConfig(max_steps=40, batch_size=8, lr=1e30, log_interval=1, checkpoint_interval=1,
                         progress=False, device="cpu")
    with pytest.raises(TrainingDiverged, match="lower learning rate"):
        Trainer(model, LanguageModeling(), data, None, config, out_dir=tmp_path,
                run_info={"task": "lm"}).fit()
    from tinytx.engine.checkpoint import load_weights

    good = build("gpt", {"vocab_size": vocab, "block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16})
    load_weights(good, tmp_path / "model.safetensors")
    assert all(torch.isfinite(p).all() for p in good.parameters())
