"""Model registry: a name maps to (config dataclass, model class).

A model module registers itself with `@register("gpt")`; the class must have a `config_class` attribute (a
dataclass) and take an instance of it as its only constructor argument. The registry finds every module under
tinytx.models by walking the package, so adding a model needs no edit here. Checkpoints store the name and the
config as JSON, which is enough to rebuild the model without the code that trained it.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import TinytxError

_MODELS: dict[str, type[nn.Module]] = {}
_discovered = False


def register(name: str):
    def wrap(cls):
        if not dataclasses.is_dataclass(getattr(cls, "config_class", None)):
            raise TypeError(f"{cls.__name__} needs a dataclass `config_class` to be registered")
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        cls.registry_name = name
        _MODELS[name] = cls
        return cls

    return wrap


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    # walk this package's folder by path: importing the package itself from here would be a cycle
    for info in pkgutil.walk_packages([str(Path(__file__).parent)], prefix=f"{__package__}."):
        importlib.import_module(info.name)
    _discovered = True


def names() -> list[str]:
    _discover()
    return sorted(_MODELS)


def get(name: str) -> type[nn.Module]:
    _discover()
    if name not in _MODELS:
        raise TinytxError(f"unknown model {name!r}; known models: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def build(name: str, config: dict | Any) -> nn.Module:
    """Rebuild a model from its registered name and its config (a dataclass or its dict form)."""
    cls = get(name)
    if isinstance(config, dict):
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = set(config) - fields
        if unknown:
            raise TinytxError(f"config for model {name!r} has unknown fields: {', '.join(sorted(unknown))}")
        config = cls.config_class(**config)
    return cls(config)


def describe(model: nn.Module) -> dict:
    """The JSON form of a registered model: enough to rebuild it with `build`."""
    name = getattr(type(model), "registry_name", None)
    if name is None or not hasattr(model, "config"):
        raise TypeError(f"{type(model).__name__} is not a registered tinytx model (see tinytx.models.registry)")
    return {"name": name, "config": config_to_dict(model.config)}
