"""The Python examples in docs/classify.md run (in a temp directory, with the fixture paths made absolute)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_python_examples_run(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "classify.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code.replace('"tests/fixtures', f'"{ROOT}/tests/fixtures'), "docs/classify.md", "exec"), {})
    assert (tmp_path / "runs" / "topics" / "features.json").exists()
    assert (tmp_path / "runs" / "w2v" / "tokenizer.json").exists()
