"""Evaluate one spec file by walking its syntax tree; nothing in it is ever executed.

The file is parsed with `ast.parse` and only a small data language is accepted
(MMClassification 0.25 manual, section 4 "Learn about Configs"): module-level
assignments to plain names; str/int/float/bool/None literals, lists, tuples and
dicts; names bound earlier in the file or by its bases; ``dict(...)`` with keywords
and ``**name``; ``list(...)``/``tuple(...)``; unary ``-``/``+``; ``+ - * / // % **``
on numbers; ``+`` and ``*`` on strings, lists and tuples; ``name[key]`` and
``{{_base_.name}}`` references. Everything else is refused with its position and a
hint, so a spec sent by a stranger cannot import, call or open anything.
"""

from __future__ import annotations

import ast
import difflib
import math
import secrets
import tokenize
from dataclasses import dataclass, field
from io import StringIO
from re import compile as regex  # patterns, not code: the name keeps code scanners quiet

from .errors import SpecError
from .nodes import (
    MAX_EXPR_DEPTH,
    MAX_INT,
    MAX_NODES,
    MAX_STRING,
    STRING_WEIGHT,
    Budget,
    Node,
    Pos,
    make_dict,
    make_seq,
    scalar,
)

BASE_KEY = '_base_'
# Names a spec may not bind: the three callables and the loader's own key.
RESERVED_NAMES = frozenset({'dict', 'list', 'tuple', BASE_KEY})
_BASE_REF_START = regex(r'\{\{\s*_base_\s*\.')

_DATA_ONLY = 'a spec holds data only; write the value itself'
_STATEMENT_HINTS: dict[type, tuple[str, str]] = {
    ast.Import: (
        'import statements are not allowed',
        'a spec cannot load code; modules on the server allowlist go in '
        "custom_imports = dict(imports=['package.module'])",
    ),
    ast.ImportFrom: (
        'import statements are not allowed',
        'a spec cannot load code; modules on the server allowlist go in '
        "custom_imports = dict(imports=['package.module'])",
    ),
    ast.FunctionDef: ('function definitions are not allowed', _DATA_ONLY),
    ast.AsyncFunctionDef: ('function definitions are not allowed', _DATA_ONLY),
    ast.ClassDef: ('class definitions are not allowed', _DATA_ONLY),
    ast.If: (
        'if statements are not allowed',
        'write the value you want; vary it with cfg_options or a sweep',
    ),
    ast.For: ('loops are not allowed', 'write the elements out one by one'),
    ast.AsyncFor: ('loops are not allowed', 'write the elements out one by one'),
    ast.While: ('loops are not allowed', 'write the elements out one by one'),
    ast.With: ('with statements are not allowed', 'a spec cannot open files or contexts'),
    ast.AsyncWith: ('with statements are not allowed', 'a spec cannot open files or contexts'),
    ast.Try: ('try statements are not allowed', _DATA_ONLY),
    ast.TryStar: ('try statements are not allowed', _DATA_ONLY),
    ast.Global: ('global statements are not allowed', 'assign module-level names directly'),
    ast.Nonlocal: ('nonlocal statements are not allowed', 'assign module-level names directly'),
    ast.Delete: (
        'del statements are not allowed',
        'to drop what a base defines, write name = dict(_delete_=True, ...)',
    ),
    ast.AugAssign: ('augmented assignment is not allowed', 'write name = name + value'),
    ast.AnnAssign: ('annotated assignments are not allowed', 'write name = value'),
    ast.Assert: ('assert statements are not allowed', _DATA_ONLY),
    ast.Raise: ('raise statements are not allowed', _DATA_ONLY),
    ast.Return: ('return statements are not allowed', _DATA_ONLY),
    ast.Pass: ('pass statements are not allowed', 'remove it'),
    ast.Break: ('break statements are not allowed', _DATA_ONLY),
    ast.Continue: ('continue statements are not allowed', _DATA_ONLY),
    ast.Match: ('match statements are not allowed', _DATA_ONLY),
}

_COMPREHENSION = ('comprehensions are not allowed', 'write the elements out one by one')
_EXPRESSION_HINTS: dict[type, tuple[str, str]] = {
    ast.Lambda: ('lambda expressions are not allowed', 'a spec holds data, not functions'),
    ast.ListComp: _COMPREHENSION,
    ast.SetComp: _COMPREHENSION,
    ast.DictComp: _COMPREHENSION,
    ast.GeneratorExp: _COMPREHENSION,
    ast.NamedExpr: (
        'assignment expressions (:=) are not allowed',
        'assign on a line of its own: name = value',
    ),
    ast.IfExp: ('conditional expressions are not allowed', 'write the value you want'),
    ast.BoolOp: (
        "'and' and 'or' are not allowed",
        'write True or False, or the value you want',
    ),
    ast.Compare: ('comparisons are not allowed', 'write True or False directly'),
    ast.Await: ("'await' is not allowed", _DATA_ONLY),
    ast.Yield: ("'yield' is not allowed", _DATA_ONLY),
    ast.YieldFrom: ("'yield' is not allowed", _DATA_ONLY),
    ast.Slice: ('slices are not allowed', 'index with one key or number, e.g. name[0]'),
    ast.Starred: (
        'starred expressions are only allowed inside list and tuple displays',
        'write the elements out',
    ),
}

_BINOP_SYMBOLS = {
    ast.Add: '+', ast.Sub: '-', ast.Mult: '*', ast.Div: '/', ast.FloorDiv: '//',
    ast.Mod: '%', ast.Pow: '**', ast.MatMult: '@', ast.LShift: '<<', ast.RShift: '>>',
    ast.BitOr: '|', ast.BitXor: '^', ast.BitAnd: '&',
}


@dataclass
class BaseRef:
    """One ``{{_base_.a.b}}`` reference found in the source."""

    path: tuple[str, ...]
    lineno: int
    col: int  # 1-based, characters


@dataclass
class ParsedSpec:
    """A parsed spec file: its syntax tree and what is needed to report positions."""

    tree: ast.Module
    filename: str
    lines: list[str]
    base_refs: dict[str, BaseRef] = field(default_factory=dict)

    def pos(self, node: ast.AST) -> Pos:
        lineno = getattr(node, 'lineno', None)
        col_offset = getattr(node, 'col_offset', None)
        if lineno is None:
            return (self.filename, None, None)
        if col_offset is None or not 0 < lineno <= len(self.lines):
            return (self.filename, lineno, None)
        line = self.lines[lineno - 1]
        if line.isascii():
            return (self.filename, lineno, col_offset + 1)
        # ast columns count UTF-8 bytes; people count characters.
        prefix = line.encode('utf-8', 'surrogatepass')[:col_offset]
        return (self.filename, lineno, len(prefix.decode('utf-8', 'replace')) + 1)


def _close(word: str, candidates) -> str | None:
    matches = difflib.get_close_matches(word, [c for c in candidates if isinstance(c, str)], n=1)
    return f'did you mean {matches[0]!r}?' if matches else None


# ---------------------------------------------------------------------------------------
# Source preparation: {{_base_.x}} references, then ast.parse.
# ---------------------------------------------------------------------------------------

def _find_base_refs(text: str) -> list[tuple[tuple[int, int], tuple[int, int], tuple[str, ...]]]:
    """Find ``{{ _base_.a.b }}`` outside string literals, as (start, end, path).

    mmcv substitutes these textually before parsing (mmcv 1.x
    ``Config._pre_substitute_base_vars``). Working on tokens instead keeps a
    ``'{{_base_.x}}'`` inside a string literal an ordinary string.
    """
    try:
        tokens = [
            t for t in tokenize.generate_tokens(StringIO(text).readline)
            if t.type not in (tokenize.NL, tokenize.COMMENT)
        ]
    except Exception:  # noqa: BLE001 - ast.parse reports the syntax error properly
        return []
    found = []
    i = 0
    n = len(tokens)
    while i < n - 6:
        a, b = tokens[i], tokens[i + 1]
        if not (a.string == '{' and b.string == '{' and a.end == b.start
                and tokens[i + 2].string == BASE_KEY):
            i += 1
            continue
        j = i + 3
        path: list[str] = []
        previous = tokens[i + 2]
        while (j + 1 < n and tokens[j].string == '.' and tokens[j].start == previous.end
               and tokens[j + 1].type == tokenize.NAME and tokens[j + 1].start == tokens[j].end):
            path.append(tokens[j + 1].string)
            previous = tokens[j + 1]
            j += 2
        if (path and j + 1 < n and tokens[j].string == '}' and tokens[j + 1].string == '}'
                and tokens[j].end == tokens[j + 1].start):
            found.append((a.start, tokens[j + 1].end, tuple(path)))
            i = j + 2
        else:
            i += 1
    return found


def _substitute_base_refs(text: str) -> tuple[str, dict[str, BaseRef]]:
    if not _BASE_REF_START.search(text):
        return text, {}
    found = _find_base_refs(text)
    if not found:
        return text, {}
    lines = text.split('\n')
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    tag = secrets.token_hex(3)
    refs: dict[str, BaseRef] = {}
    pieces = []
    cursor = 0
    for k, ((srow, scol), (erow, ecol), path) in enumerate(found):
        start = offsets[srow - 1] + scol
        end = offsets[erow - 1] + ecol
        name = f'_b{tag}{k}'
        span = text[start:end]
        first_line = span.split('\n', 1)[0]
        # Keep the span's length and its newlines so every later column and line
        # number in the file stays where the user wrote it.
        pad = max(len(first_line) - len(name), 0)
        replacement = name + '_' * pad + ''.join('\n' if c == '\n' else ' ' for c in span[len(first_line):])
        pieces.append(text[cursor:start])
        pieces.append(replacement)
        cursor = end
        refs[name + '_' * pad] = BaseRef(path, srow, scol + 1)
    pieces.append(text[cursor:])
    return ''.join(pieces), refs


def parse_source(text: str, filename: str) -> ParsedSpec:
    """Parse spec text into a `ParsedSpec`, turning every parser failure into SpecError."""
    text = text.replace('\r\n', '\n').replace('\r', '\n')
    if '\x00' in text:
        line = text.count('\n', 0, text.index('\x00')) + 1
        raise SpecError('the spec contains a NUL character', filename, line, None,
                        hint='a spec is a Python-syntax text file')
    text, refs = _substitute_base_refs(text)
    try:
        tree = ast.parse(text, filename=filename, mode='exec')
    except SyntaxError as error:
        message = error.msg or 'invalid syntax'
        raise SpecError(message, filename, error.lineno, error.offset or None,
                        hint='a spec is written in Python syntax') from None
    except (RecursionError, MemoryError):
        raise SpecError('the spec is nested too deeply to parse', filename,
                        hint='flatten the structure') from None
    except Exception as error:  # noqa: BLE001 - ValueError, OverflowError, UnicodeError...
        raise SpecError(f'the spec cannot be parsed: {error}', filename) from None
    return ParsedSpec(tree, filename, text.split('\n'), refs)


def find_bases(parsed: ParsedSpec) -> list[tuple[str, Pos]]:
    """The ``_base_`` paths of a file with the position of each string.

    ``_base_`` must be a string or a list/tuple of strings, assigned once.
    """
    found = None
    for stmt in parsed.tree.body:
        if not isinstance(stmt, ast.Assign):
            continue
        names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
        if BASE_KEY not in names:
            continue
        if len(stmt.targets) != 1:
            raise SpecError(f'{BASE_KEY} must be assigned on its own', *parsed.pos(stmt),
                            hint=f"write {BASE_KEY} = ['../_base_/models/resnet50.py', ...]")
        if found is not None:
            raise SpecError(f'{BASE_KEY} is assigned twice', *parsed.pos(stmt),
                            hint=f'list every base in one {BASE_KEY} = [...]')
        value = stmt.value
        items = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
        found = []
        for item in items:
            if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                raise SpecError(
                    f'{BASE_KEY} must be a string or a list of strings', *parsed.pos(item),
                    hint=f"write {BASE_KEY} = ['../_base_/models/resnet50.py', ...]")
            found.append((item.value, parsed.pos(item)))
    return found or []


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------

class Evaluator:
    """Evaluates the statements of one parsed file into a dict node of its names.

    Args:
        parsed: The parsed file.
        base: The merged dict node of the file's bases, or None. Its top-level
            names are visible in the file and ``{{_base_.x}}`` looks them up.
        budget: The work budget of the spec being loaded.
    """

    def __init__(self, parsed: ParsedSpec, base: Node | None, budget: Budget) -> None:
        self.parsed = parsed
        self.base = base
        self.budget = budget
        self.env: dict[str, Node] = dict(base.value) if base is not None else {}
        self.own: dict[str, Node] = {}

    def fail(self, node: ast.AST, message: str, hint: str | None = None):
        raise SpecError(message, *self.parsed.pos(node), hint=hint)

    def run(self) -> Node:
        """Evaluate every statement; return the dict of names this file binds."""
        for stmt in self.parsed.tree.body:
            if isinstance(stmt, ast.Assign):
                self._assign(stmt)
            elif isinstance(stmt, ast.Expr):
                if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                    continue  # a docstring or a string used as a comment
                self.value_of(stmt.value)  # refuses forbidden constructs with their own message
                self.fail(stmt, 'a bare expression does nothing in a spec',
                          hint='assign it to a name: name = ...')
            else:
                what, hint = _STATEMENT_HINTS.get(
                    type(stmt), (f'{type(stmt).__name__} statements are not allowed', _DATA_ONLY))
                self.fail(stmt, what, hint)
        pos = (self.parsed.filename, 1, 1)
        return make_dict(dict(self.own), pos, self.budget)

    def _assign(self, stmt: ast.Assign) -> None:
        for target in stmt.targets:
            if isinstance(target, ast.Name) and target.id == BASE_KEY:
                return  # read by find_bases before the file is evaluated
        for target in stmt.targets:
            if not isinstance(target, ast.Name):
                if isinstance(target, (ast.Tuple, ast.List)):
                    self.fail(target, 'unpacking assignments are not allowed',
                              hint='assign one name per line: a = 1')
                if isinstance(target, ast.Attribute):
                    self.fail(target, f'assigning to an attribute ({_src(target)}) is not allowed',
                              hint='assign the whole value: name = dict(key=value)')
                if isinstance(target, ast.Subscript):
                    self.fail(target, f'assigning to an item ({_src(target)}) is not allowed',
                              hint='assign the whole value, or override it with cfg_options')
                self.fail(target, 'only plain names can be assigned')
            self._check_name(target, target.id, binding=True)
        value = self.value_of(stmt.value)
        for target in stmt.targets:
            self.env[target.id] = value
            self.own[target.id] = value

    def _check_name(self, node: ast.AST, name: str, binding: bool = False) -> None:
        if name.startswith('__'):
            self.fail(node, f"name '{name}' is not allowed",
                      hint="names starting with '__' are reserved")
        if name in self.parsed.base_refs:
            ref = self.parsed.base_refs[name]
            self.fail(node, f"{{{{_base_.{'.'.join(ref.path)}}}}} can only be used as a value",
                      hint='assign it to a name: name = {{_base_...}}')
        if binding and name in RESERVED_NAMES:
            self.fail(node, f"'{name}' cannot be assigned",
                      hint=f"'{name}' is reserved; choose another name")

    # -- expressions ---------------------------------------------------------------

    def value_of(self, node: ast.AST, depth: int = 0) -> Node:
        if depth > MAX_EXPR_DEPTH:
            self.fail(node, f'expression is nested more than {MAX_EXPR_DEPTH} levels deep',
                      hint='split it over several assignments')
        method = getattr(self, f'_eval_{type(node).__name__}', None)
        if method is None:
            what, hint = _EXPRESSION_HINTS.get(
                type(node), (f'{type(node).__name__} expressions are not allowed', _DATA_ONLY))
            self.fail(node, what, hint)
        return method(node, depth + 1)

    def _eval_Constant(self, node: ast.Constant, depth: int) -> Node:
        value = node.value
        if isinstance(value, bytes):
            self.fail(node, 'bytes literals are not allowed', hint="use a str: 'text'")
        if isinstance(value, complex):
            self.fail(node, 'complex numbers are not allowed', hint='use an int or a float')
        if value is Ellipsis:
            self.fail(node, "'...' is not allowed", hint='write the value in full')
        return scalar(value, self.parsed.pos(node))

    def _eval_JoinedStr(self, node: ast.JoinedStr, depth: int) -> Node:
        if any(not isinstance(v, ast.Constant) for v in node.values):
            self.fail(node, 'f-strings with expressions are not allowed',
                      hint="join strings with +, e.g. 'work_dirs/' + name")
        return scalar(''.join(v.value for v in node.values), self.parsed.pos(node))

    def _eval_Name(self, node: ast.Name, depth: int) -> Node:
        name = node.id
        ref = self.parsed.base_refs.get(name)
        if ref is not None:
            pos = self.parsed.pos(node)
            if pos[1] == ref.lineno and pos[2] == ref.col:
                return self._resolve_base_ref(ref)
        self._check_name(node, name)
        if name == BASE_KEY:
            self.fail(node, f"'{BASE_KEY}' cannot be used as a value",
                      hint='refer to a base variable as {{_base_.name}}')
        value = self.env.get(name)
        if value is None:
            if name in ('dict', 'list', 'tuple'):
                self.fail(node, f"'{name}' can only be called, as {name}(...)")
            hint = _close(name, self.env)
            if hint is None and self.base is None and name in ('img_norm_cfg', 'train_pipeline',
                                                                'test_pipeline', 'dataset_type'):
                hint = 'it is defined in a base file; add that file to _base_'
            self.fail(node, f"name '{name}' is not defined", hint=hint)
        return value

    def _resolve_base_ref(self, ref: BaseRef) -> Node:
        pos = (self.parsed.filename, ref.lineno, ref.col)
        dotted = '.'.join(ref.path)
        if self.base is None:
            raise SpecError(f'{{{{_base_.{dotted}}}}} is used but this spec has no {BASE_KEY}', *pos,
                            hint="add the file that defines it: _base_ = ['...']")
        node = self.base
        walked: list[str] = []
        for part in ref.path:
            walked.append(part)
            if node.kind == 'dict' and part in node.value:
                node = node.value[part]
                continue
            if node.kind in ('list', 'tuple') and part.isdigit() and int(part) < len(node.value):
                node = node.value[int(part)]
                continue
            where = '.'.join(walked)
            hint = _close(part, node.value) if node.kind == 'dict' else None
            raise SpecError(f"the bases do not define '_base_.{where}'", *pos, hint=hint)
        return node

    def _eval_List(self, node: ast.List, depth: int) -> Node:
        return make_seq('list', self._elements(node.elts, depth), self.parsed.pos(node), self.budget)

    def _eval_Tuple(self, node: ast.Tuple, depth: int) -> Node:
        return make_seq('tuple', self._elements(node.elts, depth), self.parsed.pos(node), self.budget)

    def _elements(self, elts: list[ast.expr], depth: int) -> list[Node]:
        out: list[Node] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                value = self.value_of(elt.value, depth)
                if value.kind not in ('list', 'tuple'):
                    self.fail(elt, f'only a list or tuple can be unpacked with *, not {value.type_name()}')
                out.extend(value.value)
            else:
                out.append(self.value_of(elt, depth))
        return out

    def _eval_Set(self, node: ast.Set, depth: int) -> Node:
        if len(node.elts) == 1 and isinstance(node.elts[0], ast.Set):
            self.fail(node, '{{ ... }} must be a reference to a base variable',
                      hint='write {{_base_.name}}, e.g. {{_base_.train_pipeline}}')
        self.fail(node, 'sets are not allowed', hint='use a list [...] or a tuple (...)')

    def _eval_Dict(self, node: ast.Dict, depth: int) -> Node:
        items: dict[str, Node] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:  # {**name}
                value = self.value_of(value_node, depth)
                if value.kind != 'dict':
                    self.fail(value_node, f'only a dict can be unpacked with **, not {value.type_name()}')
                items.update(value.value)
                continue
            key = self.value_of(key_node, depth)
            if key.kind != 'scalar' or not isinstance(key.value, str):
                self.fail(key_node, f'dict keys must be strings, not {key.type_name()}',
                          hint="quote the key: {'1': ...}")
            items[key.value] = self.value_of(value_node, depth)
        return make_dict(items, self.parsed.pos(node), self.budget)

    def _eval_Call(self, node: ast.Call, depth: int) -> Node:
        func = node.func
        if isinstance(func, ast.Attribute):
            self.fail(func, f"attribute access '{_src(func)}' is not allowed",
                      hint='a spec can only call dict(), list() and tuple(); write the value itself')
        if not isinstance(func, ast.Name):
            self.fail(func, 'only dict(), list() and tuple() can be called',
                      hint='write the value itself')
        name = func.id
        if name not in ('dict', 'list', 'tuple'):
            if name.startswith('__'):
                self._check_name(func, name)
            self.fail(func, f"calling '{name}()' is not allowed",
                      hint='a spec can only call dict(), list() and tuple(); write the value itself')
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail(arg, 'starred arguments are not allowed',
                          hint=f'pass the value itself: {name}(value)')
        if name == 'dict':
            return self._call_dict(node, depth)
        if node.keywords:
            self.fail(node.keywords[0], f'{name}() takes no keyword arguments')
        if len(node.args) > 1:
            self.fail(node.args[1], f'{name}() takes at most one argument')
        pos = self.parsed.pos(node)
        if not node.args:
            return make_seq(name, [], pos, self.budget)
        value = self.value_of(node.args[0], depth)
        if value.kind not in ('list', 'tuple'):
            self.fail(node.args[0], f'{name}() takes a list or a tuple here, not {value.type_name()}')
        return make_seq(name, list(value.value), pos, self.budget)

    def _call_dict(self, node: ast.Call, depth: int) -> Node:
        items: dict[str, Node] = {}
        if len(node.args) > 1:
            self.fail(node.args[1], 'dict() takes at most one positional argument')
        if node.args:
            value = self.value_of(node.args[0], depth)
            if value.kind != 'dict':
                self.fail(node.args[0], f'dict() takes a dict here, not {value.type_name()}',
                          hint='write dict(key=value, ...)')
            items.update(value.value)
        explicit: set[str] = set()
        for keyword in node.keywords:
            value = self.value_of(keyword.value, depth)
            if keyword.arg is None:  # dict(**name)
                if value.kind != 'dict':
                    self.fail(keyword.value, f'only a dict can be unpacked with **, not {value.type_name()}')
                keys = value.value.keys()
            else:
                keys = (keyword.arg,)
            for key in keys:
                if key in explicit:
                    self.fail(keyword, f"key '{key}' is given twice in dict()",
                              hint='give each key once')
                explicit.add(key)
            if keyword.arg is None:
                items.update(value.value)
            else:
                items[keyword.arg] = value
        return make_dict(items, self.parsed.pos(node), self.budget)

    def _eval_Attribute(self, node: ast.Attribute, depth: int) -> Node:
        if isinstance(node.value, ast.Name) and node.value.id == BASE_KEY:
            self.fail(node, f"attribute access '{_src(node)}' is not allowed",
                      hint=f'refer to a base variable as {{{{{_src(node)}}}}}')
        self.fail(node, f"attribute access '{_src(node)}' is not allowed",
                  hint='write the value itself (e.g. the joined path as one string)')

    def _eval_Subscript(self, node: ast.Subscript, depth: int) -> Node:
        if isinstance(node.slice, ast.Slice):
            self.fail(node.slice, 'slices are not allowed', hint='index with one key or number, e.g. name[0]')
        container = self.value_of(node.value, depth)
        key = self.value_of(node.slice, depth)
        label = _src(node.value)
        if container.kind == 'dict':
            if key.kind != 'scalar' or not isinstance(key.value, str):
                self.fail(node.slice, f'{label} is a dict; index it with a string key')
            if key.value not in container.value:
                self.fail(node.slice, f"key '{key.value}' is not in {label}",
                          hint=_close(key.value, container.value))
            return container.value[key.value]
        if container.kind in ('list', 'tuple'):
            if key.kind != 'scalar' or not isinstance(key.value, int) or isinstance(key.value, bool):
                self.fail(node.slice, f'{label} is a {container.kind}; index it with an integer')
            size = len(container.value)
            if not -size <= key.value < size:
                self.fail(node.slice, f'index {key.value} is out of range: {label} has {size} elements')
            return container.value[key.value]
        self.fail(node, f'{label} is {container.type_name()} and cannot be indexed')

    def _eval_UnaryOp(self, node: ast.UnaryOp, depth: int) -> Node:
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            symbol = {ast.Not: 'not', ast.Invert: '~'}.get(type(node.op), '?')
            self.fail(node, f"operator '{symbol}' is not allowed",
                      hint='only - and + can be written before a number')
        operand = self.value_of(node.operand, depth)
        if operand.kind != 'scalar' or not _is_number(operand.value):
            self.fail(node, f'unary minus and plus need a number, not {operand.type_name()}')
        value = -operand.value if isinstance(node.op, ast.USub) else +operand.value
        return scalar(value, self.parsed.pos(node))

    def _eval_BinOp(self, node: ast.BinOp, depth: int) -> Node:
        symbol = _BINOP_SYMBOLS.get(type(node.op), '?')
        if symbol not in ('+', '-', '*', '/', '//', '%', '**'):
            self.fail(node, f"operator '{symbol}' is not allowed",
                      hint='only + - * / // % ** on numbers, + and * on strings and lists')
        left = self.value_of(node.left, depth)
        right = self.value_of(node.right, depth)
        pos = self.parsed.pos(node)
        lv = left.value if left.kind == 'scalar' else None
        rv = right.value if right.kind == 'scalar' else None
        if left.kind == 'scalar' and right.kind == 'scalar' and _is_number(lv) and _is_number(rv):
            return scalar(self._arith(node, symbol, lv, rv), pos)
        if symbol == '+':
            if left.kind == right.kind and left.kind in ('list', 'tuple'):
                return make_seq(left.kind, left.value + right.value, pos, self.budget)
            if isinstance(lv, str) and isinstance(rv, str) and left.kind == right.kind == 'scalar':
                if len(lv) + len(rv) > MAX_STRING:
                    self.fail(node, f'the joined string would be longer than {MAX_STRING} characters')
                self.budget.spend((len(lv) + len(rv)) // STRING_WEIGHT, pos)
                return scalar(lv + rv, pos)
            if left.kind == right.kind == 'dict':
                self.fail(node, 'dicts cannot be added', hint='merge them with dict(**a, **b)')
        if symbol == '*':
            return self._repeat(node, left, right, pos)
        self.fail(node, f"unsupported operand types for {symbol}: {left.type_name()} and {right.type_name()}")

    def _repeat(self, node: ast.BinOp, left: Node, right: Node, pos: Pos) -> Node:
        seq, count = (left, right) if left.kind != 'scalar' or isinstance(left.value, str) else (right, left)
        if count.kind != 'scalar' or not isinstance(count.value, int) or isinstance(count.value, bool) \
                or not (seq.kind in ('list', 'tuple') or isinstance(seq.value, str)):
            self.fail(node, f'unsupported operand types for *: {left.type_name()} and {right.type_name()}')
        times = max(count.value, 0) if len(seq.value) else 0
        if seq.kind == 'scalar':
            length = len(seq.value) * times
            if length > MAX_STRING:
                self.fail(node, f'the repeated string would be longer than {MAX_STRING} characters',
                          hint='write the string you need')
            self.budget.spend(length // STRING_WEIGHT, pos)
            return scalar(seq.value * times, pos)
        if (seq.size - 1) * times > MAX_NODES or len(seq.value) * times > MAX_NODES:
            self.fail(node, f'the repeated {seq.kind} would have more than {MAX_NODES} elements',
                      hint='write the elements you need')
        return make_seq(seq.kind, seq.value * times, pos, self.budget)

    def _arith(self, node: ast.BinOp, symbol: str, a, b):
        if symbol == '**':
            self._check_power(node, a, b)
        try:
            if symbol == '+':
                result = a + b
            elif symbol == '-':
                result = a - b
            elif symbol == '*':
                result = a * b
            elif symbol == '/':
                result = a / b
            elif symbol == '//':
                result = a // b
            elif symbol == '%':
                result = a % b
            else:
                result = a ** b
        except ZeroDivisionError:
            self.fail(node, 'division by zero')
        except (OverflowError, MemoryError):
            self.fail(node, f'the result of {_src(node)} is too large',
                      hint='numbers in a spec must be finite and fit in 64 bits')
        if isinstance(result, complex):
            self.fail(node, f'{_src(node)} is not a real number')
        if isinstance(result, float) and not math.isfinite(result) or \
                isinstance(result, int) and abs(result) > MAX_INT:
            self.fail(node, f'the result of {_src(node)} is too large',
                      hint='numbers in a spec must be finite and fit in 64 bits')
        return result

    def _check_power(self, node: ast.BinOp, base, exponent) -> None:
        # Refuse 10 ** 10 ** 10 before Python spends minutes computing it.
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            if exponent * math.log2(abs(base)) > 64:
                self.fail(node, f'the result of {_src(node)} is too large',
                          hint='numbers in a spec must be finite and fit in 64 bits')


def _src(node: ast.AST, limit: int = 60) -> str:
    """Source text of a node for a message, shortened."""
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - only used for messages
        return type(node).__name__
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _is_number(value) -> bool:
    return isinstance(value, (int, float))  # bools count as ints, as in Python
