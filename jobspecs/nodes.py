"""The loader's internal value tree: plain data where every value remembers its source.

A spec is evaluated into `Node` trees. Each node carries the position of the
expression that produced it, so the finished spec can report ``file:line:col`` for
any key path. Nodes are never changed after they are built: merging builds new
nodes and shares the untouched ones, which is what makes caching base files safe.

Every node also knows its size (elements below it, long strings weigh more) and its
depth, so a spec that would blow up (``a = [a, a]`` repeated, ``'x' * 10**9``) is
refused as soon as it is built, before any memory is spent on it.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import SpecError

# A position: (filename, lineno, col), lineno/col 1-based or None.
Pos = tuple[str, int | None, int | None]

# Limits. They are generous for real specs (the largest MMClassification config
# resolves to a few thousand nodes) and small enough that a hostile spec costs a
# few hundred milliseconds at most.
MAX_FILE_BYTES = 256 * 1024
MAX_VALUE_DEPTH = 50          # nesting of dicts/lists in a value
MAX_EXPR_DEPTH = 100          # nesting of one expression in the source
MAX_NODES = 100_000           # size of any one value, and of the whole resolved spec
MAX_WORK = 2_000_000          # elements built while evaluating one spec, all files together
MAX_STRING = 64 * 1024        # characters in one string
MAX_INT = 2 ** 63             # integers must lie in [-2**63, 2**63]
MAX_BASE_DEPTH = 8            # length of a _base_ chain
MAX_BASE_FILES = 200          # files read for one spec

DELETE_KEY = '_delete_'
STRING_WEIGHT = 64            # a string weighs 1 + len // 64 nodes


class Budget:
    """Counts the elements built while loading one spec and stops a runaway spec."""

    def __init__(self, limit: int = MAX_WORK) -> None:
        self.limit = limit
        self.spent = 0

    def spend(self, amount: int, pos: Pos) -> None:
        self.spent += amount
        if self.spent > self.limit:
            raise SpecError(
                f'the spec builds more than {self.limit} values while it is evaluated',
                *pos,
                hint='a spec should describe one job; write the values out instead of '
                'repeating and concatenating them',
            )


class Node:
    """One value of a spec and where it was written.

    Attributes:
        kind: 'dict', 'list', 'tuple' or 'scalar'.
        value: dict[str, Node] for dicts, list[Node] for lists and tuples, the
            Python value (str, int, float, bool, None) for scalars.
        pos: (filename, lineno, col) of the expression that produced the value.
        size: elements in this value, itself included.
        depth: nesting depth (a scalar is 0).
    """

    __slots__ = ('kind', 'value', 'pos', 'size', 'depth')

    def __init__(self, kind: str, value: Any, pos: Pos, size: int, depth: int) -> None:
        self.kind = kind
        self.value = value
        self.pos = pos
        self.size = size
        self.depth = depth

    @property
    def is_container(self) -> bool:
        return self.kind != 'scalar'

    def type_name(self) -> str:
        if self.kind == 'scalar':
            return 'None' if self.value is None else type(self.value).__name__
        return self.kind

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f'Node({self.kind}, {self.value!r}, {self.pos})'


def _check_shape(size: int, depth: int, pos: Pos) -> None:
    if depth > MAX_VALUE_DEPTH:
        raise SpecError(
            f'values are nested more than {MAX_VALUE_DEPTH} levels deep',
            *pos,
            hint='flatten the structure',
        )
    if size > MAX_NODES:
        raise SpecError(
            f'a value with more than {MAX_NODES} elements is too large for a spec',
            *pos,
            hint='keep large data (class lists, weights) in files the job reads',
        )


def scalar(value: Any, pos: Pos) -> Node:
    """A str/int/float/bool/None node, refusing values a spec cannot hold."""
    if value is None or isinstance(value, bool):
        return Node('scalar', value, pos, 1, 0)
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise SpecError(
                'integer is too large',
                *pos,
                hint='integers in a spec must lie between -2**63 and 2**63',
            )
        return Node('scalar', value, pos, 1, 0)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(
                f'number {value!r} is not finite',
                *pos,
                hint='write a finite number such as 1e30',
            )
        return Node('scalar', value, pos, 1, 0)
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise SpecError(
                f'string of {len(value)} characters is too long (the limit is {MAX_STRING})',
                *pos,
                hint='keep long text in a file the job reads',
            )
        return Node('scalar', value, pos, 1 + len(value) // STRING_WEIGHT, 0)
    raise SpecError(f'a value of type {type(value).__name__} cannot be part of a spec', *pos)


def make_dict(items: dict[str, Node], pos: Pos, budget: Budget | None) -> Node:
    if budget is not None:
        budget.spend(len(items) + 1, pos)
    size = 1
    depth = 0
    for child in items.values():
        size += child.size
        if child.depth >= depth:
            depth = child.depth + 1
    depth = max(depth, 1)
    _check_shape(size, depth, pos)
    return Node('dict', items, pos, size, depth)


def make_seq(kind: str, items: list[Node], pos: Pos, budget: Budget | None) -> Node:
    if budget is not None:
        budget.spend(len(items) + 1, pos)
    size = 1
    depth = 0
    for child in items:
        size += child.size
        if child.depth >= depth:
            depth = child.depth + 1
    depth = max(depth, 1)
    _check_shape(size, depth, pos)
    return Node(kind, items, pos, size, depth)


def from_plain(value: Any, pos: Pos, budget: Budget | None = None, _depth: int = 0) -> Node:
    """Build nodes from plain Python data (cfg_options values, data handed to dumps).

    Raises SpecError for types a spec cannot hold (sets, objects, non-str keys)
    and for data nested deeper than the limit, including self-referencing lists.
    """
    if _depth > MAX_VALUE_DEPTH:
        raise SpecError(f'values are nested more than {MAX_VALUE_DEPTH} levels deep', *pos)
    if isinstance(value, dict):
        items: dict[str, Node] = {}
        for key, child in value.items():
            if not isinstance(key, str):
                raise SpecError(
                    f'dict key {key!r} is not a string',
                    *pos,
                    hint='spec dicts have string keys only',
                )
            items[key] = from_plain(child, pos, budget, _depth + 1)
        return make_dict(items, pos, budget)
    if isinstance(value, (list, tuple)):
        kind = 'tuple' if isinstance(value, tuple) else 'list'
        return make_seq(kind, [from_plain(c, pos, budget, _depth + 1) for c in value], pos, budget)
    return scalar(value, pos)


def delete_flag(node: Node) -> bool:
    """The value of a dict node's ``_delete_`` key (False when absent)."""
    flag = node.value.get(DELETE_KEY)
    if flag is None:
        return False
    if flag.kind != 'scalar' or not isinstance(flag.value, bool):
        raise SpecError(
            f'{DELETE_KEY} must be True or False, not {flag.type_name()}',
            *flag.pos,
            hint=f'write {DELETE_KEY}=True to replace the base dict instead of merging into it',
        )
    return flag.value


def _dotted(path: tuple) -> str:
    return '.'.join(str(p) for p in path) or '<spec>'


def merge(child: Node, base: Node, budget: Budget, allow_list_keys: bool = False,
          path: tuple = ()) -> Node:
    """Merge a child dict into a base value, as mmcv 1.x ``Config._merge_a_into_b``.

    Dicts merge key by key; any other child value replaces the base value; a child
    dict with ``_delete_=True`` replaces the base dict. With ``allow_list_keys``
    (cfg_options), digit keys index into base lists and tuples.

    Args:
        child: A dict node.
        base: A dict node, or a list/tuple node when ``allow_list_keys``.
        budget: The spec's work budget.
        allow_list_keys: Whether digit keys may address list elements.
        path: Key path of ``base`` in the spec, for messages.

    Returns:
        A new node; ``child`` and ``base`` are left as they were.
    """
    if base.kind in ('list', 'tuple'):
        elements = list(base.value)
        for key, value in child.value.items():
            if key == DELETE_KEY:
                continue
            if not key.isdigit() or not key.isascii():
                raise SpecError(
                    f'{_dotted(path)} is a list, so {key!r} cannot address one of its elements',
                    *value.pos,
                    hint=f'use a number, e.g. {_dotted(path + ("0",))}',
                )
            index = int(key)
            if index >= len(elements):
                raise SpecError(
                    f'index {index} is out of range: {_dotted(path)} has {len(elements)} elements',
                    *value.pos,
                )
            element = elements[index]
            if value.kind == 'dict' and not delete_flag(value) and (
                element.kind == 'dict' or element.kind in ('list', 'tuple')
            ):
                elements[index] = merge(value, element, budget, allow_list_keys, path + (index,))
            else:
                elements[index] = value
        return make_seq(base.kind, elements, base.pos, budget)

    items = dict(base.value)
    for key, value in child.value.items():
        if key == DELETE_KEY:
            continue
        if value.kind == 'dict':
            if key in items and not delete_flag(value):
                old = items[key]
                mergeable = old.kind == 'dict' or (allow_list_keys and old.kind in ('list', 'tuple'))
                if not mergeable:
                    raise SpecError(
                        f'{_dotted(path + (key,))} is a dict here but {old.type_name()} in the '
                        f'base ({old.pos[0]}:{old.pos[1]}), so it cannot be merged into it',
                        *value.pos,
                        hint=f'add {DELETE_KEY}=True to this dict to replace the base value',
                    )
                items[key] = merge(value, old, budget, allow_list_keys, path + (key,))
            else:
                items[key] = value
        else:
            items[key] = value
    return make_dict(items, child.pos, budget)


def to_plain(node: Node, path: tuple, positions: dict | None) -> Any:
    """Turn nodes into plain data, dropping ``_delete_`` keys and recording positions."""
    if positions is not None and path:
        positions[path] = node.pos
    if node.kind == 'scalar':
        return node.value
    if node.kind == 'dict':
        out = {}
        for key, child in node.value.items():
            if key == DELETE_KEY:
                delete_flag(node)  # still refuse a non-bool _delete_
                continue
            out[key] = to_plain(child, path + (key,), positions)
        return out
    elements = [to_plain(child, path + (i,), positions) for i, child in enumerate(node.value)]
    return tuple(elements) if node.kind == 'tuple' else elements
