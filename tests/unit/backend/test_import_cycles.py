"""The service's modules form no import cycle, the apps never name the frontend, and the frontend takes its
access helpers from access modules, not from the REST API's (issue #14).

The imports are read from the source, module-level and function-level alike: an import deferred into a
function to dodge a cycle at load time is still a cycle in the design.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("backend", "frontend")
APPS = ("backend/accounts", "backend/experiments", "backend/leaderboard")


def _modules() -> dict[str, Path]:
    """Every module of the service by dotted name (``backend.experiments.models``), migrations left out."""
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            if "migrations" in rel.parts:
                continue
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _under_type_checking(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The service's modules that module ``name`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _under_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            # ``from pkg import mod`` imports the module ``pkg.mod``; ``from mod import name`` the module ``mod``
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
        for target in targets:
            while target and target not in modules:  # ``import backend.experiments.models.Run``-like spellings
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_it_finds_a_cycle_where_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_it_reads_function_level_imports_too(tmp_path):
    source = tmp_path / "a.py"
    source.write_text("from .b import x\n\ndef f():\n    from . import c\n    import pkg.d.e\n")
    modules = {"pkg.a": source, "pkg.b": source, "pkg.c": source, "pkg.d": source}
    assert _imported("pkg.a", source, modules) == {"pkg.b", "pkg.c", "pkg.d"}


def test_the_service_has_no_import_cycle():
    assert _cycles(_graph()) == []


def test_no_app_names_the_frontend():
    named = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts and "frontend" in path.read_text():
                named.append(path.relative_to(ROOT).as_posix())
    assert named == []


def test_the_frontend_imports_no_rest_api_module():
    graph = _graph()
    from_api = {f"{name} -> {target}" for name, targets in graph.items() if name.startswith("frontend")
                for target in targets if target.rpartition(".")[2].endswith("api")}
    assert from_api == set()
