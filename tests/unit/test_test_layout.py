"""The suite's own layout: tests and benches share helpers only through ``tests/support``.

A test module imported by another runs its module-level code twice and ties the two together; a conftest
imported as a library is loaded once by pytest and once more by the import. So no module of ``tests/`` or
``bench/`` imports a test module, a conftest or another test folder's helper module; they import
``tests.support``. And one helper hands out free ports (``tests/support/ports.py``): no copies of it.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = "tests.support"
PORTS = ROOT / "tests" / "support" / "ports.py"


def _package(path: Path) -> str:
    """The dotted package a file of the repository lies in (``tests/unit/x.py`` -> ``tests.unit``)."""
    return ".".join(path.relative_to(ROOT).parent.parts)


def _imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every module an import statement names, relative imports resolved against ``package``; for
    ``from pkg import name`` both ``pkg`` and ``pkg.name`` (a name may be a submodule)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def _plugins(tree: ast.AST) -> list[tuple[int, str]]:
    """The modules a ``pytest_plugins = [...]`` assignment loads."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytest_plugins" for t in node.targets):
            found += [(node.lineno, elt.value) for elt in ast.walk(node.value)
                      if isinstance(elt, ast.Constant) and isinstance(elt.value, str)]
    return found


def layout_problems(source: str, path: Path) -> list[str]:
    """What in one module of tests/ or bench/ breaks the layout rules, as ``path:line: why``."""
    tree = ast.parse(source)
    where = path.relative_to(ROOT)
    by_line: dict[int, list[tuple[int, str]]] = {}  # the gravest problem of a line is reported
    for line, module in _imported(tree, _package(path)) + _plugins(tree):
        parts = module.split(".")
        ours = parts[0] in ("tests", "bench") and len(parts) > 1
        if ours and "conftest" in parts:
            found = (0, f"imports a conftest ({module}); put what it shares in {SUPPORT}")
        elif ours and any(part.startswith("test_") for part in parts):
            found = (1, f"imports a test module ({module}); move the helper to {SUPPORT}")
        elif ours and module != SUPPORT and not module.startswith(SUPPORT + "."):
            found = (2, f"imports {module}, outside {SUPPORT}")
        elif module == "backend.stack._free_port":
            found = (3, f"takes the backend's private port helper; use {SUPPORT}.ports")
        else:
            continue
        by_line.setdefault(line, []).append(found)
    problems = [f"{where}:{line}: {min(found)[1]}" for line, found in sorted(by_line.items())]
    if path != PORTS:
        for node in ast.walk(tree):  # s.bind(("127.0.0.1", 0)): a copy of the free-port helper
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "bind" and node.args
                    and isinstance(node.args[0], ast.Tuple) and len(node.args[0].elts) == 2
                    and isinstance(node.args[0].elts[1], ast.Constant) and node.args[0].elts[1].value == 0):
                problems.append(f"{where}:{node.lineno}: binds port 0 itself; use {SUPPORT}.ports.free_port")
    return problems


def _modules() -> list[Path]:
    return sorted(p for folder in ("tests", "bench") for p in (ROOT / folder).rglob("*.py"))


def test_no_module_imports_a_test_module_a_conftest_or_a_private_port_helper():
    problems = [p for path in _modules() for p in layout_problems(path.read_text(encoding="utf-8"), path)]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(("source", "where", "expected"), [
    ("from tests.unit.workers.conftest import tiny_spec\n", "tests/unit/workers/test_x.py", "imports a conftest"),
    ("from .conftest import DEMO_SPEC\n", "tests/unit/backend/test_x.py", "imports a conftest"),
    ("from . import test_leaderboard\n", "tests/unit/backend/test_x.py", "imports a test module"),
    ("from ..backend.test_datasets_api import png\n", "tests/unit/frontend/test_x.py", "imports a test module"),
    ("from tests.unit.jobspecs.spec_helpers import dedent\n", "bench/x.py", "outside tests.support"),
    ("import tests.s3\n", "tests/integration/test_x.py", "outside tests.support"),
    ('pytest_plugins = ["tests.unit.plugin"]\n', "tests/conftest.py", "outside tests.support"),
    ("from backend.stack import _free_port\n", "bench/x.py", "private port helper"),
    ("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\n", "tests/e2e/conftest.py", "binds port 0"),
])
def test_it_names_each_kind_of_forbidden_import(source, where, expected):
    problems = layout_problems(source, ROOT / where)
    assert len(problems) == 1 and expected in problems[0], problems


def test_it_lets_modules_import_tests_support_and_its_modules_one_another():
    assert layout_problems("from tests.support.cast import Cast\nimport tests.support.live\n",
                           ROOT / "tests/unit/backend/test_x.py") == []
    assert layout_problems("from .ports import free_port\nfrom . import live\n",
                           ROOT / "tests/support/stack_fixtures.py") == []
    assert layout_problems("from tests.support.ports import free_port\n", ROOT / "bench/x.py") == []
