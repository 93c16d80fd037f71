"""The NumPy two-layer net: hand-written backprop equals torch autograd, and plain gradient descent learns."""
import numpy as np
import pytest
import torch

from tinytx.scratch import TwoLayerNet, train


def autograd_grads(net: TwoLayerNet, x, y):
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in net.params().items()}
    xt = torch.tensor(x, dtype=torch.float64)
    z1 = xt @ params["W1"] + params["b1"]
    h = torch.tanh(z1) if net.activation == "tanh" else torch.sigmoid(z1)
    z2 = h @ params["W2"] + params["b2"]
    if net.loss_kind == "softmax":
        loss = torch.nn.functional.cross_entropy(z2, torch.tensor(y))
    else:
        loss = 0.5 * ((z2 - torch.tensor(y)) ** 2).sum(1).mean()
    loss.backward()
    return float(loss.detach()), {k: p.grad.numpy() for k, p in params.items()}


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("loss_kind", ["softmax", "mse"])
def test_hand_written_backprop_equals_autograd(activation, loss_kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(17, 5))
    y = rng.integers(0, 3, 17) if loss_kind == "softmax" else rng.normal(size=(17, 3))
    net = TwoLayerNet.init(5, 7, 3, seed=1, activation=activation, loss_kind=loss_kind)
    loss, grads = net.gradients(x, y)
    ref_loss, ref = autograd_grads(net, x, y)
    assert loss == pytest.approx(ref_loss, abs=1e-12)
    for name in ("W1", "b1", "W2", "b2"):
        assert grads[name].shape == ref[name].shape
        assert np.abs(grads[name] - ref[name]).max() < 1e-6, name


def test_gradient_descent_learns_a_nonlinear_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)  # XOR-like quadrants: no linear model can do this
    net = TwoLayerNet.init(2, 8, 2, seed=0)
    history = train(net, x, y, lr=1.0, steps=1500)
    assert history[-1] < 0.25 * history[0]
    assert (net.predict(x) == y).mean() >= 0.95
