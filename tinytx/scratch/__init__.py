"""NumPy versions of the basics, for learning: a two-layer net with hand-written backprop (twolayer.py)."""
from .twolayer import TwoLayerNet, train

__all__ = ["TwoLayerNet", "train"]
