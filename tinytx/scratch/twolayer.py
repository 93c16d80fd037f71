"""A two-layer neural network in plain NumPy, with the backward pass written out by hand.

For learning: this is what autograd does for you. The forward pass is

    z1 = x @ W1 + b1          (B, H)   hidden pre-activation
    h  = sigmoid(z1)  or tanh (B, H)   hidden activation
    z2 = h @ W2 + b2          (B, K)   logits (K outputs)
    loss = mean_i -log softmax(z2)[i, y_i]          classification (y: integer labels)
         = mean_i 1/2 * sum_k (z2[i, k] - y[i, k])^2   regression (loss_kind="mse", y: (B, K) floats)

and backprop is the chain rule applied from the loss back to each parameter. tests/test_scratch.py checks every
gradient against torch autograd (float64, max abs difference < 1e-6). Training it uses plain gradient descent in
`train`, which is the one loop in tinytx that is not the engine: it exists only to show the arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)  # subtracting the row max changes nothing but avoids overflow
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class TwoLayerNet:
    """Parameters of x -> activation(x W1 + b1) W2 + b2."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    activation: str = "tanh"  # "tanh" or "sigmoid"
    loss_kind: str = "softmax"  # "softmax" (cross-entropy on integer labels) or "mse" (regression)

    @classmethod
    def init(cls, n_in: int, n_hidden: int, n_out: int, seed: int = 0, **kw) -> "TwoLayerNet":
        rng = np.random.default_rng(seed)
        # scale by 1/sqrt(fan_in) so activations neither vanish nor saturate at the start
        return cls(
            W1=rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_hidden)),
            b1=np.zeros(n_hidden),
            W2=rng.normal(0, 1 / np.sqrt(n_hidden), (n_hidden, n_out)),
            b2=np.zeros(n_out),
            **kw,
        )

    def params(self) -> dict[str, np.ndarray]:
        return {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    # --- forward -------------------------------------------------------------------------------------------

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, dict]:
        """Logits (or predictions) and the intermediate values backprop needs."""
        z1 = x @ self.W1 + self.b1
        h = np.tanh(z1) if self.activation == "tanh" else sigmoid(z1)
        z2 = h @ self.W2 + self.b2
        return z2, {"x": x, "h": h}

    def loss(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        z2, cache = self.forward(x)
        n = len(x)
        if self.loss_kind == "softmax":
            p = softmax(z2)
            loss = -np.log(p[np.arange(n), y]).mean()
            cache["p"] = p
        else:
            loss = 0.5 * ((z2 - y) ** 2).sum(axis=1).mean()
            cache["z2"] = z2
        cache["y"] = y
        return float(loss), cache

    # --- backward: the chain rule, one line per step ---------------------------------------------------------

    def backward(self, cache: dict) -> dict[str, np.ndarray]:
        x, h, y = cache["x"], cache["h"], cache["y"]
        n = len(x)
        if self.loss_kind == "softmax":
            # d(cross-entropy)/d(logits) = softmax - one_hot(y), averaged over the batch
            dz2 = cache["p"].copy()
            dz2[np.arange(n), y] -= 1.0
        else:
            # d(1/2 (z2 - y)^2)/d(z2) = z2 - y
            dz2 = cache["z2"] - y
        dz2 /= n
        dW2 = h.T @ dz2  # z2 = h W2 + b2
        db2 = dz2.sum(axis=0)
        dh = dz2 @ self.W2.T
        # through the activation: tanh' = 1 - tanh^2, sigmoid' = s (1 - s)
        dz1 = dh * (1 - h**2) if self.activation == "tanh" else dh * h * (1 - h)
        dW1 = x.T @ dz1  # z1 = x W1 + b1
        db1 = dz1.sum(axis=0)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        loss, cache = self.loss(x, y)
        return loss, self.backward(cache)

    def predict(self, x: np.ndarray) -> np.ndarray:
        z2, _ = self.forward(x)
        return z2.argmax(axis=1) if self.loss_kind == "softmax" else z2


def train(net: TwoLayerNet, x: np.ndarray, y: np.ndarray, lr: float = 0.5, steps: int = 500) -> list[float]:
    """Full-batch gradient descent: w <- w - lr * dL/dw. Returns the loss before each step."""
    history = []
    for _ in range(steps):
        loss, grads = net.gradients(x, y)
        history.append(loss)
        for name, p in net.params().items():
            p -= lr * grads[name]  # in place: the dataclass fields are updated
    return history
