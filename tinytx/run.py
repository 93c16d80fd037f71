"""A trained run, loaded: model + tokenizer + config. The Python API's entry point for using a model.

    run = tinytx.load_run("runs/shakespeare")
    print(run.generate("ROMEO:", max_new_tokens=100))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from .engine import checkpoint as ckpt
from .engine.trainer import pick_device
from .errors import TinytxError

TOKENIZER = "tokenizer.json"


@dataclass
class Run:
    path: Path
    config: dict[str, Any]
    model: nn.Module
    tokenizer: Any = None  # a tinytx tokenizer, when the run has tokenizer.json
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.config.get("task", "")

    def generate(self, prompt: str, max_new_tokens: int = 100, **kwargs) -> str:
        """Continue `prompt` (language-model runs). See tinytx.generate.generate_text for the options."""
        from .generate import generate_text

        return generate_text(self, prompt, max_new_tokens=max_new_tokens, **kwargs)

    def predict(self, texts):
        """Label and probability for each text (classification runs)."""
        from .classify import predict

        return predict(self, texts)

    def translate(self, sentences, beam: int = 4, **kwargs):
        """Translate sentences (seq2seq runs)."""
        from .translate import translate

        return translate(self, sentences, beam=beam, **kwargs)


def load_run(path: str | Path, device: str = "cpu", weights: str = ckpt.WEIGHTS) -> Run:
    """Load a run directory; checks that the tokenizer and the model agree on the vocabulary."""
    path = Path(path)
    model, config = ckpt.load_model_from_run(path, weights)
    model.to(pick_device(device)).eval()
    tokenizer = None
    if (path / TOKENIZER).exists():
        from .tokenizers import load_tokenizer

        tokenizer = load_tokenizer(path / TOKENIZER)
        model_vocab = getattr(model.config, "vocab_size", None)
        if model_vocab is not None and tokenizer.vocab_size != model_vocab:
            raise TinytxError(
                f"{path}: tokenizer has {tokenizer.vocab_size} tokens but the model was built for {model_vocab}; "
                "the tokenizer.json does not belong to this model"
            )
    return Run(path=path, config=config, model=model, tokenizer=tokenizer, extra=config.get("extra", {}))
