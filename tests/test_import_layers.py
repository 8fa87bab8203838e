"""Imports flow one way across the whole tree: the core, the plugins and the data-set registry.

The graph counts every import statement a module can run, those inside functions too (a lazy
import is still a dependency), and importing ``a.b.c`` counts as importing the packages ``a.b``
too, as Python runs their ``__init__`` first. Imports under ``if TYPE_CHECKING:`` never run and
are left out. The rules: no module is in a circle; the core (``zshbench``) imports no plugin
and not the data-set registry (a plugin too); the deep engine and baselines never import the
linear family; the feature extractors import neither the linear nor the deep families.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zshbench", "plugins", "datasets_registry")


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
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


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The module names one import statement may load (``from a import b``: a, and a.b)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module → the modules of ``packages`` (under ``root``) that it may import."""
    modules = {_module_name(p, root): p for name in packages for p in (root / name).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 2)}
        deps: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            for candidate in _targets(node, package):
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


def reached(graph: dict[str, set[str]], module: str) -> set[str]:
    """Every module ``module`` may import, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for dep in graph[todo.pop()] - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def _in_family(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in prefixes)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_lazy_imports(graph):
    """The checker itself: a function-level import is an edge (runner imports evaluation there)."""
    assert "zshbench.evaluation.metrics" in graph["zshbench.runner"]
    assert "zshbench.datasets" in graph["zshbench.splits"]  # via zshbench.datasets.base
    assert "zshbench.datasets.spec_file" in graph["zshbench.datasets"]  # inside resolve_dataset


def test_the_graph_covers_plugins_and_the_registry(graph):
    """Plugins and the data-set registry are in the graph, with their edges into the core."""
    assert "zshbench.datasets.spec_file" in graph["datasets_registry"]
    assert "zshbench.hookspecs" in graph["plugins.razh"]
    assert any(name.startswith("plugins.deep.") for name in graph)


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_checker_fails_on_a_circle_planted_across_packages(tmp_path):
    """Today's circle as it was, planted in a temporary tree: a core data-set package lazily
    importing a plugin, which imports a core module that imports the package back."""
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/datasets/__init__.py": """
                def resolve(path):
                    from registry import spec_from_toml
                    return spec_from_toml(path)
            """,
            "core/download.py": "from .datasets import resolve\n",
            "registry/__init__.py": "from core.download import resolve\n",
        },
    )
    planted = import_graph(tmp_path, ("core", "registry"))
    assert cycles(planted) == [["core.datasets", "core.download", "registry"]]
    (tmp_path / "core/datasets/__init__.py").write_text("def resolve(path):\n    return path\n")
    assert cycles(import_graph(tmp_path, ("core", "registry"))) == []


def test_no_module_is_in_a_circle(graph):
    assert cycles(graph) == []


@pytest.mark.parametrize(
    ("family", "forbidden"),
    [
        # the core imports no plugin, and not the data-set registry (a plugin too)
        (("zshbench",), ("plugins", "datasets_registry")),
        # the deep engine and its baselines never import the linear family
        (("plugins.deep", "plugins.deephash", "plugins.razh"), ("plugins.linear",)),
        # feature code sits below every method family
        (
            ("plugins.features",),
            ("plugins.linear", "plugins.deep", "plugins.deephash", "plugins.razh"),
        ),
    ],
)
def test_families_import_one_way(graph, family, forbidden):
    offenders = {
        (module, dep)
        for module in graph
        if _in_family(module, family)
        for dep in reached(graph, module)
        if _in_family(dep, forbidden)
    }
    assert not offenders, f"{family} reaches {forbidden}: {sorted(offenders)[:5]}"


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
        # the [download] table is read while a data-set file is parsed: it never needs one
        ("zshbench.download.tables", {"datasets", "download.command"}),
        ("zshbench.download", {"datasets", "download.command"}),
    ],
)
def test_imports_flow_one_way(graph, module, forbidden):
    assert not {f"zshbench.{name}" for name in forbidden} & reached(graph, module)
