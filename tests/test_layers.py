"""The package's layers, checked from the source: no import cycles (imports inside functions count), and no module
imports a floor above its own. Floors, top to bottom:

    cli  ->  recipes, export  ->  rundir  ->  engine, data, features, options, generate/translate/predict, metrics
         ->  tokenizers, models  ->  errors, io, specials
"""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "tinytx"

FLOORS = [  # (prefix, floor); the longest matching prefix wins
    ("tinytx.cli", 6), ("tinytx.__main__", 6),
    ("tinytx.recipes", 5), ("tinytx.export", 5),
    ("tinytx.rundir", 4),
    ("tinytx.engine", 3), ("tinytx.data", 3), ("tinytx.features", 3), ("tinytx.options", 3),
    ("tinytx.generate", 3), ("tinytx.translate", 3), ("tinytx.predict", 3), ("tinytx.metrics", 3),
    ("tinytx.scratch", 3),
    ("tinytx.tokenizers", 2), ("tinytx.models", 2),
    ("tinytx.errors", 1), ("tinytx.io", 1), ("tinytx.specials", 1), ("tinytx", 0),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def floor_of(name: str) -> int:
    best = max((p for p, _ in FLOORS if name == p or name.startswith(p + ".")), key=len)
    return dict(FLOORS)[best]


def imports(name: str) -> list[tuple[str, int, bool]]:
    """(imported tinytx module, line, inside a function) for every import statement in the module."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("tinytx"):
                    for alias in child.names:  # `from . import x` may name a submodule
                        sub = f"{target}.{alias.name}"
                        found.append((sub if sub in MODULES else target, child.lineno, inner))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("tinytx"):
                        found.append((alias.name, child.lineno, inner))
            elif isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue  # type-only imports never run
            visit(child, inner)

    visit(tree, False)
    return [(t, line, inner) for t, line, inner in found if t in MODULES and t != name]


GRAPH = {name: imports(name) for name in MODULES}


def test_no_module_imports_a_floor_above_its_own():
    bad = [f"{name}:{line} imports {target} (floor {floor_of(target)} > {floor_of(name)})"
           for name, edges in GRAPH.items() for target, line, _ in edges
           if target != "tinytx" and floor_of(target) > floor_of(name)]
    assert not bad, "\n".join(bad)


def test_engine_knows_no_tokenizer_run_dir_recipe_or_cli():
    bad = [f"{name} imports {target}" for name, edges in GRAPH.items() if name.startswith("tinytx.engine")
           for target, _, _ in edges
           if target.startswith(("tinytx.tokenizers", "tinytx.rundir", "tinytx.recipes", "tinytx.cli",
                                 "tinytx.models"))]
    assert not bad, "\n".join(bad)


def test_models_and_tokenizers_stay_in_their_lane():
    bad = []
    for name, edges in GRAPH.items():
        for target, _, _ in edges:
            if name.startswith("tinytx.models") and not target.startswith(
                    ("tinytx.models", "tinytx.specials", "tinytx.errors")):
                bad.append(f"{name} imports {target}")
            if name.startswith("tinytx.tokenizers") and not target.startswith(
                    ("tinytx.tokenizers", "tinytx.specials", "tinytx.errors", "tinytx.io")):
                bad.append(f"{name} imports {target}")
    assert not bad, "\n".join(bad)


def test_tokenizers_import_no_torch():
    for name, path in MODULES.items():
        if name.startswith("tinytx.tokenizers"):
            tree = ast.parse(path.read_text())
            names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
            names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
            assert not any(n == "torch" or n.startswith("torch.") for n in names), name


def test_no_import_cycles():
    edges = {name: sorted({t for t, _, _ in GRAPH[name] if t != "tinytx"}) for name in GRAPH}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            strongconnect(v)
    assert not cycles, cycles


def test_imports_inside_functions_only_where_they_keep_start_up_light():
    """cli/ imports the API when a command runs (so `tinytx --help` never loads torch); elsewhere an import
    inside a function would hide a dependency from the file's header."""
    allowed = ("tinytx.cli", "tinytx.recipes")  # recipes/__init__ loads a recipe module by name on first use
    bad = [f"{name}:{line} imports {target} inside a function" for name, edges in GRAPH.items()
           for target, line, inner in edges if inner and not name.startswith(allowed)]
    assert not bad, "\n".join(bad)


def test_command_line_and_tokenize_load_no_torch(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tinytx.cli import build_parser, main\n"
        "from tinytx.tokenizers import train_tokenizer\n"
        "build_parser()\n"
        f"train_tokenizer('char', ['hello world']).save({str(tmp_path / 'tok.json')!r})\n"
        f"assert main(['tokenize', 'show', '--tokenizer', {str(tmp_path / 'tok.json')!r}, 'hello']) == 0\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
