"""The service reads a spec's facts (``Run.facts``, ``jobspecs.contract.spec_facts``), never the spec's training
fields: a second reading of ``evaluation`` or ``runner`` drifts from the engine's (metric names, iteration-based
runs, multi-label metrics). This scans the code of ``backend/`` and ``frontend/`` for such reads."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TRAINING_FIELDS = {"evaluation", "runner", "max_epochs", "max_iters", "total_epochs", "total_iters", "model",
                   "backbone", "neck", "head", "metric_options", "save_best"}
# A query's JSON path into a stored spec (``KT("resolved_spec__runner__max_epochs")``).
LOOKUP = re.compile(r"(?:^|__)(?:" + "|".join(sorted(TRAINING_FIELDS)) + r")(?:__|$)")
METRIC_NAME = re.compile(r"^accuracy_top-\d+$")  # the engine names its metrics (jobspecs.training)
# The reads that are about something else than a spec's training (showing the spec's text, a dict of another
# kind with a key of the same name), each with its reason: {(file, text of the line): reason}.
_RESCORE = "the re-score request's own ?metric_options= query parameter (the seed's eval_metric), not a spec's"
ALLOWED: dict[tuple[str, str], str] = {
    ("backend/evaluations/api.py", 'request.query_params.get("metric_options")'): _RESCORE,
    ("frontend/evaluations.py", 'q.get("metric_options"'): _RESCORE,
}


def _code_files():
    for top in ("backend", "frontend"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _reads(tree: ast.AST):
    """``(line, what)`` of each subscript or ``get``/``pop``/``setdefault`` of a training field, each ORM lookup
    through one, and each literal metric name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if node.slice.value in TRAINING_FIELDS:
                yield node.lineno, f"[{node.slice.value!r}]"
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("get", "pop", "setdefault") and node.args
              and isinstance(node.args[0], ast.Constant) and node.args[0].value in TRAINING_FIELDS):
            yield node.lineno, f".{node.func.attr}({node.args[0].value!r})"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "__" in node.value and LOOKUP.search(node.value):
                yield node.lineno, f"lookup {node.value!r}"
            elif METRIC_NAME.match(node.value):
                yield node.lineno, f"metric name {node.value!r}"


def _allowed(rel: str, line: str) -> bool:
    return any(rel == file and text in line for file, text in ALLOWED)


def test_backend_and_frontend_code_reads_no_spec_training_field():
    found = []
    for path in _code_files():
        rel = path.relative_to(ROOT).as_posix()
        source = path.read_text()
        lines = source.splitlines()
        for lineno, what in _reads(ast.parse(source, filename=rel)):
            if not _allowed(rel, lines[lineno - 1]):
                found.append(f"{rel}:{lineno}: {what}: {lines[lineno - 1].strip()}")
    assert not found, "read the spec's facts (Run.spec_facts(), jobspecs.contract.spec_facts) instead:\n" + \
        "\n".join(found)


def test_the_pages_scripts_name_no_metric():
    """The run page's script takes the primary metric from the page (the run's facts), as the templates do."""
    found = []
    for top in ("frontend/static/frontend", "frontend/templates"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".js", ".html"):
                text = path.read_text()
                found += [f"{path.relative_to(ROOT)}: {m.group()}" for m in re.finditer(r"accuracy_top-\d+", text)]
    assert not found, found


def test_the_scan_finds_the_reads_it_forbids():
    code = ('spec["runner"]["max_epochs"]\nspec.get("evaluation") or {}\nKT("resolved_spec__runner__max_iters")\n'
            'best.get("accuracy_top-1")\nrun.facts["length"]\n')
    assert sorted(line for line, _ in _reads(ast.parse(code))) == [1, 1, 2, 3, 4]
