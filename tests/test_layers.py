"""The package's layers: imports point downward only and no module imports itself in a circle.

Layers, lowest first (a module may import its own layer and lower ones)::

    core < penalties < models < attributions < data < training < lightning < callbacks
         < runs < evaluation < report < app

(models below attributions: the transformer methods in ``attributions/transformer/`` read the
trace of :class:`priors.models.vit.ViT`; no model imports an attribution method.)

A module's layer is its first folder below ``priors/`` (``priors.attributions.transformer.rules``
is in ``attributions``). The graph is read from the source with :mod:`ast`, relative imports
resolved; ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module,
else of ``pkg``. What counts, and why:

* **module-level imports** (also those inside ``if``/``try`` at module level): they run when
  the module is imported, so they make circles and they are what a layer depends on. Both the
  circle check and the direction check use them.
* **function-level imports** run only when the function is called (the usual way to defer a
  heavy or optional dependency); they cannot make an import-time circle and are not counted.
* ``priors/__init__.py`` (lazy exports, imports nothing at module level but the old-path
  finder), ``priors/_old_paths.py`` (aliases of moved modules, imported on demand) and the
  thin re-export files at old top-level paths (:data:`OLD_PATH_SHIMS`: imports only) are the
  exempt facade.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "priors"
LAYERS = ("core", "penalties", "models", "attributions", "data", "training", "losses",
          "lightning",
          "callbacks", "runs", "evaluation", "report", "app")
FACADE = {"priors", "priors._old_paths"}
# Old top-level paths kept as thin re-exports of the moved modules (checked to be thin below).
OLD_PATH_SHIMS = {"priors.pipeline", "priors.config", "priors.report_jobs", "priors.report_plot"}


def module_names(root: Path = PACKAGE) -> Dict[str, Path]:
    """Dotted name -> file of every module of the package."""
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _module_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """Import statements executed at import time: the module body, descending into if/try/with
    blocks but not into functions or classes' methods."""
    stack: List[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def imports_of(name: str, path: Path, modules: Set[str]) -> Set[str]:
    """The ``priors`` modules that ``name`` imports at module level."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _module_level(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source
                       for a in node.names]
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph() -> Dict[str, Set[str]]:
    names = module_names()
    modules = set(names)
    return {name: imports_of(name, path, modules) for name, path in names.items()}


def layer(name: str) -> str:
    part = name.split(".")[1] if name.count(".") else ""
    if part not in LAYERS:
        raise AssertionError(f"{name} is in no layer: put it in one of the folders {LAYERS}")
    return part


def checked(graph: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
    """The graph without the facade and the old-path shims (edges to them dropped too)."""
    skip = FACADE | OLD_PATH_SHIMS
    return {m: {t for t in ts if t not in skip} for m, ts in graph.items() if m not in skip}


def upward_imports(graph: Dict[str, Set[str]]) -> List[Tuple[str, str]]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    return sorted((m, t) for m, ts in graph.items() for t in ts
                  if rank[layer(t)] > rank[layer(m)])


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import circle (``[a, b, ..., a]``) or ``[]``."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_old_path_shims_are_thin():
    """An exempt old path holds a docstring, imports and at most a registration call."""
    names = module_names()
    for name in sorted(OLD_PATH_SHIMS):
        body = ast.parse(names[name].read_text()).body
        extra = [type(node).__name__ for node in body
                 if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr))]
        assert not extra, f"{name} is no thin re-export: it holds {extra}"


def test_every_module_is_in_a_layer():
    for name in checked(import_graph()):
        layer(name)


def test_no_import_circle():
    cycle = find_cycle(checked(import_graph()))
    assert not cycle, "import circle: " + " -> ".join(cycle)


def test_imports_point_downward():
    up = upward_imports(checked(import_graph()))
    assert not up, "upward imports (module -> imported, layers " + " < ".join(LAYERS) + "):\n" + \
        "\n".join(f"  {m} ({layer(m)}) -> {t} ({layer(t)})" for m, t in up)


def test_the_checks_can_fail():
    """The walker sees relative imports, circles and upward edges (a graph made to have them)."""
    graph = {"priors.core.a": {"priors.core.b"}, "priors.core.b": {"priors.core.a"},
             "priors.core.c": {"priors.evaluation.x"}, "priors.evaluation.x": set()}
    assert find_cycle(graph) == ["priors.core.a", "priors.core.b", "priors.core.a"]
    assert upward_imports(graph) == [("priors.core.c", "priors.evaluation.x")]
    modules = set(module_names())
    assert imports_of("priors.training.step", PACKAGE / "training" / "step.py", modules) >= {
        "priors.training.prior", "priors.core.task"}  # "from .prior", "from ..core.task"
    assert "priors.attributions.gradient" in imports_of(
        "priors.attributions", PACKAGE / "attributions" / "__init__.py", modules)


def test_a_function_level_import_does_not_count(tmp_path):
    (tmp_path / "m.py").write_text("import priors.core.checks\n"
                                   "def f():\n    from priors.app import x\n")
    assert imports_of("priors.core.m", tmp_path / "m.py",
                      {"priors.core.checks", "priors.app"}) == {"priors.core.checks"}


HEAVY = ("pytorch_lightning", "lightning", "hydra", "pandas", "matplotlib")


def test_import_prior_is_light():
    """``from priors import Prior`` needs torch only (a fresh interpreter, so nothing of this
    test session's imports leaks in)."""
    code = ("import sys; from priors import Prior; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("old, new", sorted(__import__("priors._old_paths", fromlist=["MOVED"]).MOVED.items()))
def test_old_paths_are_the_moved_modules(old, new):
    import importlib
    assert importlib.import_module(old) is importlib.import_module(new)


def test_no_backend_switch_in_the_library():
    """``matplotlib.use`` in library code would switch a notebook's inline backend off."""
    calls = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
             for path in PACKAGE.rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "use" and isinstance(node.func.value, ast.Name)
             and node.func.value.id in ("matplotlib", "mpl")]
    assert not calls, f"matplotlib.use in {calls}: draw on matplotlib.figure.Figure instead"
