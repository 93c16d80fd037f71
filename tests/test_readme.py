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


def doc_commands(prefix: str = "tinytx "):
    """Every `tinytx ...` line shown in README.md and docs/*.md (continuations joined, comments dropped)."""
    root = Path(__file__).parent.parent
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = path.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip().lstrip("$ ").split("  #")[0].strip()
            if line.startswith(prefix) and "RECIPE" not in line and "..." not in line:
                yield path.name, line


def test_every_train_command_in_the_docs_parses():
    """A flag shown in the docs is a flag that exists (`a|b` alternatives: the first; [optional] parts dropped)."""
    import shlex

    from tinytx.cli import build_parser

    parser, _ = build_parser()
    seen = 0
    for name, line in doc_commands("tinytx train "):
        line = re.sub(r"\[[^\]]*\]", "", line)
        words = [w.split("|")[0] for w in shlex.split(line)[1:]]
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"{name}: {line}")
        seen += 1
    assert seen >= 6
