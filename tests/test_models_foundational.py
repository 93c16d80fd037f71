"""The foundational models learn their textbook problems through the one Trainer."""
from pathlib import Path

import pytest
import torch

from tinytx.engine import BinaryClassification, Classification, Perceptron, Regression, TrainConfig, Trainer
from tinytx.models import build
from tinytx.options import TabularOptions, make
from tinytx.recipes.tabular import RECIPE

DATA = Path(__file__).resolve().parents[1] / "data" / "tabular"


def prepare(**given):
    """The tabular recipe's reading of a table: (options, Prepared), nothing written."""
    opts = make(TabularOptions, given)
    return opts, RECIPE.prepare(opts, run=None, fitted=False)




def fit(model, task, train, val=None, **cfg):
    cfg = TrainConfig(**{"optimizer": "sgd", "lr": 0.1, "progress": False, "device": "cpu", **cfg})
    trainer = Trainer(model, task, train, val, cfg)
    trainer.fit()
    return trainer


def line_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 4 - 2
    return {"x": x, "y": 3 * x[:, 0] + 2}


@pytest.mark.parametrize("batch_size", ["full", 1, 8], ids=["batch-GD", "SGD", "mini-batch"])
def test_linear_regression_recovers_line_with_every_descent_flavour(batch_size):
    torch.manual_seed(0)
    model = build("linear", {"in_features": 1})
    steps = {"full": 300, 1: 600, 8: 300}[batch_size]
    fit(model, Regression(), line_data(), batch_size=batch_size, max_steps=steps, lr=0.1 if batch_size != 1 else 0.05)
    assert model.weight.item() == pytest.approx(3.0, abs=0.02)
    assert model.bias.item() == pytest.approx(2.0, abs=0.02)


def test_linear_regression_many_features_many_outputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 3, generator=g)
    A = torch.tensor([[1.0, -2.0], [0.5, 0.0], [-1.5, 3.0]])
    c = torch.tensor([0.5, -1.0])
    torch.manual_seed(0)
    model = build("linear", {"in_features": 3, "out_features": 2})
    fit(model, Regression(), {"x": x, "y": x @ A + c}, batch_size="full", max_steps=400)
    assert torch.allclose(model.weight.detach(), A.T, atol=1e-3)
    assert torch.allclose(model.bias.detach(), c, atol=1e-3)


def test_logistic_regression_on_the_insurance_table():
    opts, p = prepare(data=str(DATA / "insurance.csv"), target="insured", model="logistic", val_fraction=0)
    assert p.info["labels"] == ["no", "yes"]  # label-encoded: no -> 0, yes -> 1
    torch.manual_seed(0)
    model = RECIPE.build_model(opts, p)
    trainer = fit(model, BinaryClassification(), p.train, batch_size="full", max_steps=300, lr=0.5)
    metrics = trainer.evaluate(trainer.train_data)
    assert metrics["accuracy"] >= 0.75
    w_age, w_car = model.weight.detach()[0].tolist()
    assert w_age > 0 and w_car > 0  # older people and car owners are more likely to be insured
    prob_old_car = model.predict_proba(torch.tensor([[2.0, 1.0]]))  # standardised: old, has a car
    assert prob_old_car.item() > 0.8


def test_softmax_regression_separates_three_blobs():
    opts, p = prepare(data=str(DATA / "blobs.csv"), target="color", model="softmax", val_fraction=0.2)
    torch.manual_seed(0)
    model = RECIPE.build_model(opts, p)
    trainer = fit(model, Classification(3), p.train, p.val, batch_size=16, epochs=20)
    assert trainer.evaluate()["accuracy"] > 0.95
    probs = model.predict_proba(p.val["x"])
    assert torch.allclose(probs.sum(-1), torch.ones(len(probs)))


def test_perceptron_reaches_zero_errors_on_separable_data():
    opts, p = prepare(data=str(DATA / "separable.csv"), target="label", model="perceptron", val_fraction=0)
    model = RECIPE.build_model(opts, p)
    assert model.weight.abs().sum() == 0  # Rosenblatt starts from zero
    trainer = fit(model, Perceptron(), p.train, batch_size=1, lr=1.0, epochs=30)
    assert trainer.evaluate(trainer.train_data)["errors"] == 0


def test_perceptron_step_is_rosenblatts_rule():
    """With SGD, batch 1, lr 1: a mistake on (x, t) moves w by t*x and b by t; a correct point moves nothing."""
    model = build("perceptron", {"in_features": 2})
    x = torch.tensor([[1.0, -2.0]])
    fit(model, Perceptron(), {"x": x, "y": torch.tensor([1])}, batch_size=1, lr=1.0, max_steps=1)
    assert model.weight.detach().tolist() == [[1.0, -2.0]] and model.bias.item() == 1.0
    fit(model, Perceptron(), {"x": x, "y": torch.tensor([1])}, batch_size=1, lr=1.0, max_steps=1)
    assert model.weight.detach().tolist() == [[1.0, -2.0]]  # now classified right: no update


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu"])
def test_mlp_learns_xor_with_every_activation(activation):
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]).repeat(8, 1)
    y = (x[:, 0] != x[:, 1]).long()
    torch.manual_seed(0)
    model = build("mlp", {"in_features": 2, "out_features": 2, "hidden_sizes": [16], "activation": activation})
    trainer = fit(model, Classification(2), {"x": x, "y": y}, batch_size="full", max_steps=300, optimizer="adam",
                  lr=0.05)
    assert trainer.evaluate(trainer.train_data)["accuracy"] == 1.0


def test_dropout_is_off_in_eval_mode():
    torch.manual_seed(0)
    model = build("mlp", {"in_features": 4, "hidden_sizes": [64, 64], "dropout": 0.5})
    plain = build("mlp", {"in_features": 4, "hidden_sizes": [64, 64], "dropout": 0.0})
    plain.load_state_dict(model.state_dict())
    x = torch.randn(16, 4)
    model.train()
    assert not torch.equal(model(x), model(x))  # training: a fresh mask every call
    model.eval()
    assert torch.equal(model(x), model(x))
    assert torch.allclose(model(x), plain.eval()(x))  # eval: dropout is the identity


def test_l1_drives_irrelevant_weights_to_zero():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 5, generator=g)
    y = 2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.05 * torch.randn(256, generator=g)

    def train(l1):
        torch.manual_seed(0)
        model = build("linear", {"in_features": 5})
        fit(model, Regression(), {"x": x, "y": y}, batch_size="full", max_steps=600, lr=0.05, l1=l1)
        return model.weight.detach()[0]

    free, lasso = train(0.0), train(0.05)
    assert lasso[2:].abs().max() < 5e-3  # irrelevant features: ~0 with L1
    assert free[2:].abs().max() > lasso[2:].abs().max()
    assert lasso[0] == pytest.approx(2.0, abs=0.1) and lasso[1] == pytest.approx(-1.0, abs=0.1)


def test_registered_models_rebuild_from_their_description():
    from tinytx.models import registry

    for name, cfg in [("linear", {"in_features": 2, "out_features": 3}), ("logistic", {"in_features": 2}),
                      ("softmax", {"in_features": 2, "num_classes": 4}), ("perceptron", {"in_features": 2}),
                      ("mlp", {"in_features": 2, "hidden_sizes": [8, 4], "activation": "elu", "dropout": 0.1})]:
        model = build(name, cfg)
        again = registry.build(**registry.describe(model))
        assert again.config == model.config
        out = model.eval()(torch.zeros(5, 2))
        assert out.shape[0] == 5


def test_bad_model_configs_are_refused():
    with pytest.raises(ValueError, match="activation"):
        build("mlp", {"in_features": 2, "activation": "swishy"})
    with pytest.raises(ValueError, match="2 classes"):
        build("softmax", {"in_features": 2, "num_classes": 1})


def test_the_guide_runs():
    """docs/guide.md's Python blocks, run top to bottom as one script (docs that run never rot)."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "guide.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 12
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/guide.md", "exec"), namespace)
