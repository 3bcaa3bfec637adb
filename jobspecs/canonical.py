"""Canonical forms of a resolved spec: its hash, pretty text (Python or JSON) and diffs."""

from __future__ import annotations

import difflib
import hashlib
import json
import keyword
from typing import Any

from .errors import SpecError
from .nodes import DELETE_KEY, from_plain

WIDTH = 79
_INDENT = '    '
_RESERVED_TOP = frozenset({'_base_', 'dict', 'list', 'tuple'})


def _checked(spec: Any, what: str) -> dict:
    if not isinstance(spec, dict):
        raise SpecError(f'{what} needs a spec dict, not {type(spec).__name__}')
    from_plain(spec, ('<spec>', None, None))  # refuses sets, objects, non-str keys, NaN, cycles
    return spec


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def spec_hash(spec: dict) -> str:
    """A stable sha256 (hex) of a resolved spec.

    Tuples hash like lists and key order does not matter; ``1`` and ``1.0`` and
    ``True`` are different values.
    """
    _checked(spec, 'spec_hash')
    text = json.dumps(_canonical(spec), sort_keys=True, separators=(',', ':'),
                      ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


# -- Python text ---------------------------------------------------------------------------

def _is_keyword_name(key: str) -> bool:
    # ASCII only: Python NFKC-normalises other identifiers ('º' would come back as 'o').
    return key.isascii() and key.isidentifier() and not keyword.iskeyword(key)


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        if all(_is_keyword_name(k) for k in value):
            return 'dict(' + ', '.join(f'{k}={_flat(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{k!r}: {_flat(v)}' for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_flat(v) for v in value) + ']'
    if isinstance(value, tuple):
        if len(value) == 1:
            return f'({_flat(value[0])},)'
        return '(' + ', '.join(_flat(v) for v in value) + ')'
    return repr(value)


def _fmt(value: Any, level: int, used: int) -> str:
    """Format ``value`` whose first line already has ``used`` characters before it."""
    flat = _flat(value)
    if len(flat) + used <= WIDTH or not isinstance(value, (dict, list, tuple)) or not value:
        return flat
    inner = _INDENT * (level + 1)
    lines = []
    if isinstance(value, dict):
        as_keywords = all(_is_keyword_name(k) for k in value)
        opener, closer = ('dict(', ')') if as_keywords else ('{', '}')
        for key, item in value.items():
            prefix = f'{key}=' if as_keywords else f'{key!r}: '
            lines.append(inner + prefix + _fmt(item, level + 1, len(inner) + len(prefix)) + ',')
    else:
        opener, closer = ('[', ']') if isinstance(value, list) else ('(', ')')
        for item in value:
            lines.append(inner + _fmt(item, level + 1, len(inner)) + ',')
    return opener + '\n' + '\n'.join(lines) + '\n' + _INDENT * level + closer


def dumps(spec: dict, format: str = 'py') -> str:  # noqa: A002 - the public name asked for
    """Pretty, deterministic text of a resolved spec.

    Args:
        spec: A resolved spec (plain data).
        format: ``'py'`` for a Python-syntax spec that loads back to the same spec
            (tuples stay tuples), ``'json'`` for JSON (tuples become lists).

    Returns:
        The text, ending with a newline.
    """
    _checked(spec, 'dumps')
    if format == 'json':
        return json.dumps(spec, indent=2, ensure_ascii=False, allow_nan=False) + '\n'
    if format != 'py':
        raise SpecError(f'unknown format {format!r}', hint="use 'py' or 'json'")
    out = []
    for key, value in spec.items():
        if not _is_keyword_name(key) or key.startswith('__') or key in _RESERVED_TOP:
            raise SpecError(f'top-level key {key!r} cannot be written as a Python assignment')
        if key == DELETE_KEY:
            continue
        out.append(f'{key} = {_fmt(value, 0, len(key) + 3)}\n')
    return ''.join(out)


# -- diff ----------------------------------------------------------------------------------

def _align(value: Any, like: Any) -> Any:
    """Order ``value``'s dict keys like ``like``'s, so a diff shows changes, not reorderings."""
    if isinstance(value, dict) and isinstance(like, dict):
        ordered = {k: _align(value[k], like[k]) for k in like if k in value}
        ordered.update({k: v for k, v in value.items() if k not in like})
        return ordered
    if isinstance(value, (list, tuple)) and isinstance(like, (list, tuple)):
        items = [_align(v, like[i]) if i < len(like) else v for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    return value


def diff(a: dict, b: dict, a_name: str = 'a', b_name: str = 'b') -> str:
    """Unified diff of two resolved specs' Python text; empty when they are equal.

    Args:
        a: The old spec.
        b: The new spec; its keys are shown in ``a``'s order where both have them.
        a_name: Label of ``a`` in the diff header.
        b_name: Label of ``b`` in the diff header.
    """
    a_text = dumps(a).splitlines(keepends=True)
    b_text = dumps(_align(_checked(b, 'diff'), a)).splitlines(keepends=True)
    return ''.join(difflib.unified_diff(a_text, b_text, fromfile=a_name, tofile=b_name))
