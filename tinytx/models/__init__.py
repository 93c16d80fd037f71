"""Models: every family is a plain nn.Module registered by name (see registry.py)."""
from .registry import build, get, names, register

__all__ = ["build", "get", "names", "register"]
