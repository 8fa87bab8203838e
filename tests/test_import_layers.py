"""Imports inside zshbench flow one way: no module reaches, even lazily, a module that needs it.

The graph counts every import statement a module can run, those inside functions too (a lazy
import is still a dependency), and importing ``a.b.c`` counts as importing the packages ``a.b``
too, as Python runs their ``__init__`` first. Imports under ``if TYPE_CHECKING:`` never run and
are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "zshbench"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST):
    """Import nodes outside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 2)}
        deps: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            else:
                candidates = [alias.name for alias in node.names]
            for candidate in candidates:
                if candidate not in modules or candidate == name:
                    continue
                deps.add(candidate)
                parts = candidate.split(".")
                for k in range(1, len(parts)):
                    parent = ".".join(parts[:k])
                    if parent in modules and parent not in ancestors:
                        deps.add(parent)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_lazy_imports():
    """The checker itself: a function-level import is an edge (runner imports evaluation there)."""
    graph = import_graph()
    assert "zshbench.evaluation.metrics" in graph["zshbench.runner"]
    assert "zshbench.datasets" in graph["zshbench.splits"]  # via zshbench.datasets.base


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_zshbench_has_no_import_cycle():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # the registry and the plugin loader sit below every API module that uses them
        ("zshbench.registry", {"method", "encoders", "features", "plugin_manager", "datasets"}),
        ("zshbench.plugin_manager", {"method", "encoders", "features", "runner", "cli"}),
        # results, evaluation and the protocol never reach up to the run engine or the CLI
        ("zshbench.results", {"runner", "cli", "report", "plots"}),
        ("zshbench.splits", {"runner", "cli"}),
        ("zshbench.report", {"runner", "cli"}),
        ("zshbench.runner", {"cli"}),
    ],
)
def test_imports_flow_one_way(module, forbidden):
    graph = import_graph()
    reached, todo = set(), [module]
    while todo:
        for dep in graph[todo.pop()] - reached:
            reached.add(dep)
            todo.append(dep)
    assert not {f"zshbench.{name}" for name in forbidden} & reached
