"""Audit of every deserialiser in the service's code (issue 13, "no code from data").

The AST of each ``.py`` file under ``jobspecs/ workers/ backend/ frontend/`` (not the library specs, which are
never executed) is walked, and every reference to something that can turn bytes into code is listed: pickle and
its relatives, ``torch.load``, ``np.load``, ``yaml.load``, ``eval``/``exec``/``compile``, dynamic imports, and the
safe readers (``yaml.safe_load``, ``scipy.io.loadmat``) too, so that the table says why each one is safe.
Names are resolved through the file's imports, so ``from pickle import load as x`` or ``import pickle as p`` is
seen as ``pickle.load``; a reference need not be a call (``loader = pickle.loads`` is listed as well).

A reference missing from :data:`ALLOWED` fails with its file:line; so does an entry no reference matches any
more. Whatever the table says, ``torch.load`` must pass ``weights_only=True`` literally, ``np.load`` must not
allow pickles, and YAML is read with a safe loader only.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("jobspecs", "workers", "backend", "frontend")
EXCLUDED = ("jobspecs/library",)  # specs: parsed by jobspecs, never executed

# Everything that turns stored bytes into objects (or code) of a caller's choosing, by qualified name.
DESERIALISERS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "pickle._Unpickler", "pickle._load", "pickle._loads",
    "_pickle.load", "_pickle.loads", "_pickle.Unpickler",
    "cloudpickle.load", "cloudpickle.loads", "ray.cloudpickle.load", "ray.cloudpickle.loads",
    "dill.load", "dill.loads", "dill.Unpickler",
    "marshal.load", "marshal.loads",
    "shelve.open", "shelve.Shelf", "shelve.DbfilenameShelf", "shelve.BsdDbShelf",
    "torch.load", "torch.serialization.load", "torch.hub.load", "torch.hub.load_state_dict_from_url",
    "torch.utils.model_zoo.load_url", "torch.jit.load", "torch.package.PackageImporter",
    "numpy.load",
    "yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load",
    "yaml.full_load_all", "yaml.safe_load", "yaml.safe_load_all", "yaml.Loader", "yaml.UnsafeLoader",
    "yaml.FullLoader",
    "joblib.load", "scipy.io.loadmat", "pandas.read_pickle",
    "builtins.eval", "builtins.exec", "builtins.compile", "builtins.__import__",
    "importlib.import_module", "importlib.__import__", "runpy.run_path", "runpy.run_module",
    "onnxruntime.InferenceSession",
}
PREFIXES = ("jsonpickle.", "dill.", "cloudpickle.")  # every reader of these formats unpickles
BUILTIN_CODE = ("eval", "exec", "compile", "__import__")
WEIGHTS_ONLY = {"torch.load", "torch.serialization.load", "torch.hub.load_state_dict_from_url",
                "torch.utils.model_zoo.load_url"}
SAFE_YAML_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader", "yaml.BaseLoader", "yaml.CBaseLoader"}
NEVER = {"yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load", "yaml.full_load_all", "yaml.Loader",
         "yaml.UnsafeLoader", "yaml.FullLoader"}

# (file, function or class qualname, deserialiser) -> why it is safe. One entry covers every reference of that
# deserialiser in that function.
ALLOWED = {
    ("workers/data/plain_data.py", "_Unpickler", "pickle.Unpickler"):
        "the restricted unpickler itself: find_class resolves only an allowlist of inert stand-ins for numpy's "
        "pickle calls and a few checked builtins; everything else raises",
    ("workers/engine/checkpoint.py", "load_checkpoint", "torch.load"):
        "weights_only=True: tensors and plain containers only",
    ("workers/engine/strategy.py", "_load_partition", "torch.load"):
        "weights_only=True, allowing only DeepSpeed's loss scalers, ZeRO stage enum and fragment addresses; "
        "it replaces DeepSpeed's own reader, which passes weights_only=False",
    ("workers/models/init.py", "read_checkpoint", "torch.load"):
        "weights_only=True: tensors and plain containers only (a URL is downloaded by workers.fetch first)",
    ("jobspecs/zoo.py", "_read", "yaml.safe_load"):
        "safe_load builds plain YAML types only; the metafiles ship with the code",
    ("workers/data/datasets/stanford_cars.py", "_loadmat", "scipy.io.loadmat"):
        "MATLAB 5 files hold arrays, structs and cells; loadmat builds numpy arrays and never runs code",
    ("workers/registry.py", "ensure_registered", "importlib.import_module"):
        "imports a fixed tuple of the engine's own packages (_FILLING_MODULES), never a name from a spec",
    ("workers/custom_imports.py", "import_custom_modules", "importlib.import_module"):
        "a spec's custom_imports, only names on the operator's allowlist (TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST, "
        "checked again here; tests/security/test_custom_imports_boundary.py attacks it)",
    ("workers/models/backbones/__init__.py", "import_all", "importlib.import_module"):
        "imports the modules found in the backbones package's own folder (family_modules(): its *.py files)",
    ("workers/models/backbones/__init__.py", "__getattr__", "importlib.import_module"):
        "imports one of the backbones package's own modules named by a fixed table (_EXPORTS), never a caller's "
        "string",
    ("workers/registry.py", "Registry._resolve", "importlib.import_module"):
        "imports the module our own code named in add_lazy (a backbone family of this package, timm.layers); a "
        "spec's type name is only a key into that table: a name not in it is an unknown type, never imported",
    ("workers/tools/__init__.py", "__getattr__", "importlib.import_module"):
        "imports one of the tools package's own modules named by a fixed table (_HOME), never a caller's string",
    ("workers/export/coverage.py", "expected", "yaml.safe_load"):
        "safe_load builds plain YAML types only; it reads the metafiles that ship with the code",
    ("workers/tools/eval_metric.py", "load_results", "yaml.safe_load"):
        "safe_load builds plain YAML types only; `trainyard eval-metric` reads a results file its user names on "
        "their own machine (CLI only; a .pkl goes through the restricted unpickler instead)",
    ("backend/evaluations/results.py", "load", "numpy.load"):
        "allow_pickle=False: an evaluation's .npz holds plain arrays only (an object array is refused, never "
        "unpickled); the file is one the evaluation's own job wrote under its folder of the store",
    ("workers/serve/classifier.py", "ServedClassifier._onnx", "onnxruntime.InferenceSession"):
        "opens the ONNX file the replica has just exported itself from the team's checkpoint (a temp folder of its "
        "own), with ONNX Runtime's own operators only; never a file a user uploads",
    ("workers/export/to_torchscript.py", "export_torchscript", "torch.jit.load"):
        "reads back the file this function has just written (--verify), on the user's own machine (CLI only)",
    ("workers/export/to_onnx.py", "_session", "onnxruntime.InferenceSession"):
        "an ONNX graph runs ONNX Runtime's own operators only (no custom-op library is ever registered); the "
        "CLI opens a file its user names on their own machine",
}


@dataclass(frozen=True)
class Found:
    """One reference to a deserialiser."""

    file: str
    line: int
    qualname: str
    name: str
    problem: str | None = None  # a rule it breaks, whatever the table says

    @property
    def key(self) -> tuple[str, str, str]:
        return self.file, self.qualname, self.name

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.name} in {self.qualname}"


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class _Scanner(ast.NodeVisitor):
    """Resolves names through the file's imports and records each deserialiser reference."""

    def __init__(self, rel: str, tree: ast.AST):
        self.rel, self.found, self.scope = rel, [], []
        self.package = _module_name(rel) if rel.endswith("__init__.py") else _module_name(rel).rpartition(".")[0]
        self.aliases: dict[str, set[str]] = {}
        self.bound: set[str] = set()  # names this file defines itself: never the builtins of the same name
        self.calls: dict[int, ast.Call] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.aliases.setdefault(a.asname, set()).add(a.name)
                    else:
                        top = a.name.split(".")[0]
                        self.aliases.setdefault(top, set()).add(top)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = self.package.split(".")
                    pkg = pkg[:len(pkg) - node.level + 1]
                    base = ".".join([*pkg, *([node.module] if node.module else [])])
                for a in node.names:
                    if a.name == "*":  # every deserialiser the module exports becomes a bare name
                        for name in DESERIALISERS:
                            if name.rpartition(".")[0] == base:
                                self.aliases.setdefault(name.rpartition(".")[2], set()).add(name)
                    else:
                        self.aliases.setdefault(a.asname or a.name, set()).add(f"{base}.{a.name}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bound.add(node.name)
            elif isinstance(node, ast.arg):
                self.bound.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.bound.add(node.id)
            elif isinstance(node, ast.Call):
                self.calls[id(node.func)] = node

    def qualified(self, node: ast.AST) -> set[str]:
        """What ``node`` (a name or an attribute chain on a name) can refer to."""
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return set()
        rest = "".join("." + a for a in reversed(attrs))
        if node.id in self.aliases:
            return {base + rest for base in self.aliases[node.id]}
        if node.id in BUILTIN_CODE and node.id not in self.bound and hasattr(builtins, node.id):
            return {"builtins." + node.id + rest}
        return set()

    def _scoped(self, node, name: str) -> None:
        self.scope.append(name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node):
        self._scoped(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_ClassDef = visit_FunctionDef  # bases and decorators count as the class's own

    def _reference(self, node) -> None:
        for name in self.qualified(node):
            if name in DESERIALISERS or name.startswith(PREFIXES):
                call = self.calls.get(id(node))
                self.found.append(Found(self.rel, node.lineno, ".".join(self.scope) or "<module>", name,
                                        _problem(name, call, self)))

    def visit_Attribute(self, node):
        if isinstance(node.ctx, ast.Load):
            self._reference(node)
            if self.qualified(node) & (DESERIALISERS | NEVER):
                return  # 'torch.hub' inside 'torch.hub.load_state_dict_from_url' is no reference of its own
        self.generic_visit(node)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self._reference(node)


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _problem(name: str, call: ast.Call | None, scanner: _Scanner) -> str | None:
    """The rule a reference breaks whatever the table says, or None."""
    if name in NEVER:
        return f"{name} builds arbitrary Python objects: use yaml.safe_load"
    if name in WEIGHTS_ONLY:
        value = _keyword(call, "weights_only") if call else None
        if not (isinstance(value, ast.Constant) and value.value is True):
            return f"{name} must be called with weights_only=True written out"
    if name == "numpy.load" and call is not None:
        value = _keyword(call, "allow_pickle")
        if len(call.args) > 2 or (value is not None and not (isinstance(value, ast.Constant) and value.value is False)):
            return "numpy.load must not allow pickles (leave allow_pickle out or pass allow_pickle=False)"
    if name in ("yaml.load", "yaml.load_all"):
        loader = (_keyword(call, "Loader") if call else None) or (call.args[1] if call and len(call.args) > 1 else None)
        if loader is None or not scanner.qualified(loader) & SAFE_YAML_LOADERS:
            return f"{name} needs Loader=yaml.SafeLoader (or use yaml.safe_load)"
    return None


def scan_source(source: str, rel: str = "workers/example.py") -> list[Found]:
    """Every deserialiser reference in ``source``, as if it were the file ``rel``."""
    tree = ast.parse(source, filename=rel)
    scanner = _Scanner(rel, tree)
    scanner.visit(tree)
    return scanner.found


def scan_tree() -> tuple[list[Found], int]:
    """Every deserialiser reference of the service's code, and how many files were read."""
    found, files = [], 0
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(EXCLUDED) or "/node_modules/" in rel:
                continue
            files += 1
            found.extend(scan_source(path.read_text(encoding="utf-8"), rel))
    return found, files


@pytest.fixture(scope="module")
def tree_scan():
    return scan_tree()


# --- the tree -----------------------------------------------------------------------------------------------


def test_it_lists_every_deserialiser_of_the_tree_in_the_table(tree_scan):
    found, files = tree_scan
    assert files > 150, f"only {files} files scanned: the walk lost its roots"
    unknown = [f for f in found if f.key not in ALLOWED]
    assert not unknown, ("deserialisers missing from ALLOWED (add each with why it is safe, or remove it):\n"
                         + "\n".join(map(str, unknown)))


def test_it_keeps_no_table_entry_for_a_deserialiser_that_is_gone(tree_scan):
    present = {f.key for f in tree_scan[0]}
    stale = [key for key in ALLOWED if key not in present]
    assert not stale, "ALLOWED entries that match nothing any more (remove them):\n" + "\n".join(map(str, stale))


def test_it_finds_only_safe_forms_in_the_tree(tree_scan):
    broken = [f"{f}: {f.problem}" for f in tree_scan[0] if f.problem]
    assert not broken, "\n".join(broken)


# --- the scanner itself -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), [
    ("import pickle\npickle.load(f)", "pickle.load"),
    ("import pickle as p\np.loads(b)", "pickle.loads"),
    ("from pickle import load as x\nx(f)", "pickle.load"),
    ("from pickle import Unpickler\nclass U(Unpickler):\n    pass", "pickle.Unpickler"),
    ("import pickle\nreader = pickle.loads", "pickle.loads"),
    ("from pickle import *\nloads(b)", "pickle.loads"),
    ("from yaml import *\nunsafe_load(s)", "yaml.unsafe_load"),
    ("def f():\n    import _pickle as cp\n    return cp.loads(b)", "_pickle.loads"),
    ("import marshal\nmarshal.loads(b)", "marshal.loads"),
    ("import shelve\nshelve.open(p)", "shelve.open"),
    ("import dill\ndill.loads(b)", "dill.loads"),
    ("import cloudpickle as cp\ncp.load(f)", "cloudpickle.load"),
    ("from ray import cloudpickle\ncloudpickle.loads(b)", "ray.cloudpickle.loads"),
    ("import jsonpickle\njsonpickle.decode(s)", "jsonpickle.decode"),
    ("import joblib\njoblib.load(p)", "joblib.load"),
    ("from scipy.io import loadmat\nloadmat(p)", "scipy.io.loadmat"),
    ("import torch\ntorch.jit.load(p)", "torch.jit.load"),
    ("eval(s)", "builtins.eval"),
    ("exec(s)", "builtins.exec"),
    ("compile(s, 'f', 'exec')", "builtins.compile"),
    ("__import__(name)", "builtins.__import__"),
    ("import builtins\nbuiltins.eval(s)", "builtins.eval"),
    ("from importlib import import_module as im\nim(name)", "importlib.import_module"),
    ("import importlib\nimportlib.import_module(name)", "importlib.import_module"),
])
def test_it_sees_a_deserialiser_under_any_name(source, expected):
    assert [f.name for f in scan_source(source)] == [expected]


@pytest.mark.parametrize("source", [
    "model.eval()",
    "import re\nre.compile('x')",
    "from re import compile as regex\nregex('x')",
    "from re import compile\ncompile('x')",
    "def compile(x):\n    return x\ncompile(1)",
    "import pickle\npickle.dump(obj, f)",
    "import json\njson.loads(s)",
    "import yaml\nyaml.safe_dump(x)",
])
def test_it_ignores_what_is_no_deserialiser(source):
    assert scan_source(source) == []


def test_it_names_the_function_holding_the_reference():
    found = scan_source("import pickle\nclass A:\n    def read(self, f):\n        return pickle.load(f)\n",
                        "workers/data/a.py")
    assert [(f.key, f.line) for f in found] == [(("workers/data/a.py", "A.read", "pickle.load"), 4)]


@pytest.mark.parametrize(("source", "problem"), [
    ("import torch\ntorch.load(p)", "torch.load must be called with weights_only=True written out"),
    ("import torch\ntorch.load(p, weights_only=False)", "torch.load must be called with weights_only=True"),
    ("import torch\ntorch.load(p, weights_only=flag)", "torch.load must be called with weights_only=True"),
    ("from torch import load as tl\ntl(p)", "torch.load must be called with weights_only=True"),
    ("import torch\nf = torch.load", "torch.load must be called with weights_only=True"),
    ("import torch\ntorch.hub.load_state_dict_from_url(u)", "torch.hub.load_state_dict_from_url must be"),
    ("import numpy as np\nnp.load(p, allow_pickle=True)", "numpy.load must not allow pickles"),
    ("import numpy as np\nnp.load(p, None, True)", "numpy.load must not allow pickles"),
    ("import yaml\nyaml.load(s)", "yaml.load needs Loader=yaml.SafeLoader"),
    ("import yaml\nyaml.load(s, Loader=yaml.FullLoader)", "yaml.FullLoader builds arbitrary Python objects"),
    ("import yaml\nyaml.unsafe_load(s)", "yaml.unsafe_load builds arbitrary Python objects"),
    ("import yaml\nyaml.full_load(s)", "yaml.full_load builds arbitrary Python objects"),
])
def test_it_refuses_unsafe_forms_whatever_the_table_says(source, problem):
    problems = [f.problem for f in scan_source(source) if f.problem]
    assert any(p.startswith(problem) for p in problems), problems


@pytest.mark.parametrize("source", [
    "import torch\ntorch.load(p, map_location='cpu', weights_only=True)",
    "import numpy as np\nnp.load(p)",
    "import numpy as np\nnp.load(p, allow_pickle=False)",
    "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)",
    "import yaml\nyaml.safe_load(s)",
])
def test_it_accepts_the_safe_forms(source):
    found = scan_source(source)
    assert found and not [f.problem for f in found if f.problem]
