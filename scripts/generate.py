#!/usr/bin/env python
"""The text generation script: continue a prompt with a trained language-model run.

    python scripts/generate.py runs/shakespeare --prompt "ROMEO:" --max-new-tokens 200 --temperature 0.8 \
        --top-k 40 --seed 1 --stream

Same flags as `tinytx generate` (this is a thin wrapper over it and over tinytx.generate.generate_text).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinytx.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
