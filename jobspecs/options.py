"""``--cfg-options`` style overrides: ``'data.train.pipeline.1.flip_prob=0.0'``.

Parsing follows mmcv 1.x ``DictAction`` (MMClassification 0.25 manual, section 4.4):
ints, floats, ``true``/``false`` in any case, ``None``, ``[a,b]`` lists and
``(a,b)`` tuples (nested), anything else a string. Merging follows
``Config.merge_from_dict``: dotted keys merge into dicts, digit keys index lists,
and the overrides are applied after ``_base_`` inheritance.

Two small departures from mmcv, both to avoid silent surprises: spaces are only
stripped around elements, not removed inside a value (mmcv turns ``'a b'`` into
``'ab'``), and ``nan``/``inf`` are refused instead of becoming floats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import SpecError
from .nodes import MAX_INT, MAX_VALUE_DEPTH, Budget, Node, Pos, from_plain, make_dict, merge

OPTIONS_FILE = '<cfg_options>'
MAX_OPTIONS = 1000
MAX_OPTION_LENGTH = 64 * 1024
_RESERVED_TOP = frozenset({'_base_', 'dict', 'list', 'tuple'})


def _scalar(text: str, pos: Pos) -> Any:
    try:
        value = int(text)
    except ValueError:
        pass
    else:
        if abs(value) > MAX_INT:
            raise SpecError(f'integer {text} is too large', *pos,
                            hint='integers must lie between -2**63 and 2**63')
        return value
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise SpecError(f'{text!r} is not a finite number', *pos,
                            hint='write a finite number, or quote words with letters only')
        return value
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    if text == 'None':
        return None
    return text


def _split_top_level(text: str, pos: Pos) -> list[str]:
    """Split at commas outside brackets; refuse unbalanced brackets."""
    parts = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char in '([':
            depth += 1
            if depth > MAX_VALUE_DEPTH:
                raise SpecError(f'value is nested more than {MAX_VALUE_DEPTH} levels deep', *pos)
        elif char in ')]':
            depth -= 1
            if depth < 0:
                break
        elif char == ',' and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth != 0:
        raise SpecError(f'unbalanced brackets in {text!r}', *pos,
                        hint='write lists as [a,b] and tuples as (a,b)')
    rest = text[start:]
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


def parse_value(text: str, pos: Pos = (OPTIONS_FILE, None, None), _depth: int = 0) -> Any:
    """Parse one option value the way mmcv's ``DictAction`` does.

    Args:
        text: The text after ``=``, e.g. ``'[(train,1),(val,1)]'``.
        pos: Where the option came from, for errors.

    Returns:
        int, float, bool, None, str, or a list/tuple of those (nested).
    """
    if _depth > MAX_VALUE_DEPTH:
        raise SpecError(f'value is nested more than {MAX_VALUE_DEPTH} levels deep', *pos)
    text = text.strip().strip('\'"').strip()
    is_tuple = False
    if text.startswith('(') and text.endswith(')') and _balanced(text[1:-1]):
        is_tuple = True
        text = text[1:-1]
    elif text.startswith('[') and text.endswith(']') and _balanced(text[1:-1]):
        text = text[1:-1]
    elif ',' not in text:
        if any(c in text for c in '()[]'):
            _split_top_level(text, pos)  # refuses unbalanced brackets
        return _scalar(text, pos)
    if not text.strip():
        return () if is_tuple else []
    values = [parse_value(part, pos, _depth + 1) for part in _split_top_level(text, pos)]
    return tuple(values) if is_tuple else values


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char in '([':
            depth += 1
        elif char in ')]':
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _check_key(key: Any, pos: Pos) -> list[str]:
    if not isinstance(key, str) or not key:
        raise SpecError(f'option key {key!r} must be a non-empty string', *pos,
                        hint='write a dotted key, e.g. model.head.num_classes=10')
    parts = key.strip().split('.')
    if any(not p for p in parts):
        raise SpecError(f'option key {key!r} has an empty part', *pos,
                        hint='write a dotted key, e.g. model.head.num_classes=10')
    top = parts[0]
    if not (top.isascii() and top.isidentifier()) or top.startswith('__') or top in _RESERVED_TOP:
        raise SpecError(f'{top!r} cannot be a top-level key of a spec', *pos,
                        hint='top-level keys are Python names such as model, data or runner')
    return parts


def _entries(options: Iterable[str] | Mapping[str, Any] | None) -> list[tuple[list[str], Any, Pos]]:
    if options is None:
        return []
    if isinstance(options, Mapping):
        items = list(options.items())
        if len(items) > MAX_OPTIONS:
            raise SpecError(f'more than {MAX_OPTIONS} options', OPTIONS_FILE)
        out = []
        for index, (key, value) in enumerate(items, start=1):
            pos = (OPTIONS_FILE, index, 1)
            out.append((_check_key(key, pos), value, pos))
        return out
    if isinstance(options, (str, bytes)):
        raise SpecError('cfg_options must be a list of "key=value" strings or a dict', OPTIONS_FILE,
                        hint="e.g. ['runner.max_epochs=10']")
    out = []
    for index, option in enumerate(options, start=1):
        if index > MAX_OPTIONS:
            raise SpecError(f'more than {MAX_OPTIONS} options', OPTIONS_FILE)
        pos = (OPTIONS_FILE, index, 1)
        if not isinstance(option, str):
            raise SpecError(f'option {option!r} is not a string', *pos,
                            hint='write "key=value", e.g. "runner.max_epochs=10"')
        if len(option) > MAX_OPTION_LENGTH:
            raise SpecError(f'option is longer than {MAX_OPTION_LENGTH} characters', *pos)
        if '=' not in option:
            raise SpecError(f'option {option!r} has no "="', *pos,
                            hint='write "key=value", e.g. "runner.max_epochs=10"')
        key, text = option.split('=', 1)
        parts = _check_key(key, pos)
        value_pos = (OPTIONS_FILE, index, len(key) + 2)
        out.append((parts, parse_value(text, value_pos), value_pos))
    return out


def parse_cfg_options(options: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Parse ``["a.b.c=value", ...]`` into ``{"a.b.c": value}``.

    Args:
        options: ``key=value`` strings as given to ``--cfg-options``, or a dict of
            dotted keys to values (taken as they are: a string stays a string).

    Returns:
        The dotted keys with their parsed values, in the order given.

    Raises:
        SpecError: with filename ``'<cfg_options>'`` and the option's 1-based index
            as its line.
    """
    return {'.'.join(parts): value for parts, value, _ in _entries(options)}


def apply_cfg_options(spec: Node, options: Iterable[str] | Mapping[str, Any] | None,
                      budget: Budget) -> Node:
    """Merge overrides into a resolved spec node, as mmcv's ``Config.merge_from_dict``."""
    entries = _entries(options)
    if not entries:
        return spec
    tree: dict[str, Any] = {}
    first_pos: dict[int, Pos] = {}
    for parts, value, pos in entries:
        node = from_plain(value, pos, budget)
        level = tree
        for depth, part in enumerate(parts[:-1]):
            child = level.get(part)
            if child is None:
                child = level[part] = {}
                first_pos[id(child)] = pos
            elif isinstance(child, Node):
                raise SpecError(f"option {'.'.join(parts)!r} conflicts with option "
                                f"{'.'.join(parts[:depth + 1])!r}", *pos)
            level = child
        last = parts[-1]
        if isinstance(level.get(last), dict):
            raise SpecError(f"option {'.'.join(parts)!r} conflicts with an option below it", *pos)
        level[last] = node

    def build(level: dict, pos: Pos) -> Node:
        items = {k: (v if isinstance(v, Node) else build(v, first_pos[id(v)])) for k, v in level.items()}
        return make_dict(items, pos, budget)

    overrides = build(tree, (OPTIONS_FILE, None, None))
    return merge(overrides, spec, budget, allow_list_keys=True)
