"""The README's code runs (docs that run never rot)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_engine_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    engine = next(b for b in blocks if "Trainer(" in b)
    scope = {}
    exec(compile(engine, "README.md", "exec"), scope)
    w = scope["model"].linear.weight.item()
    assert w == pytest.approx(3.0, abs=0.05)


def test_readme_commands_exist():
    from tinytx.cli import build_parser

    parser, _ = build_parser()
    for line in re.findall(r"^tinytx (\w+)", README, re.M):
        assert line in parser._subparsers._group_actions[0].choices, line


def test_ci_reads_the_readme_test_command():
    out = subprocess.run(
        ["awk", "/<!-- test-command -->/{getline; getline; print; exit}", "README.md"],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True,
    ).stdout
    assert "pytest" in out and sys.executable
