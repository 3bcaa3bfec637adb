"""Load a spec: read files, resolve ``_base_`` inheritance, apply cfg_options.

The semantics are mmcv 1.x ``Config.fromfile`` as MMClassification 0.25 uses them
(manual section 4.3): bases are loaded first, several bases must not define the
same top-level name, the file's own names are merged into the bases (dicts merge,
everything else replaces, ``_delete_=True`` replaces a dict), and intermediate
variables stay in the result. Two additions: the bases' top-level names can be
used as plain names in the file (``dict(type='Normalize', **img_norm_cfg)``), and
every value's source position is kept.

Base paths are relative to the including file and must stay inside the library
root. Submitted text lives virtually at ``<library>/_user_/spec.py``, so it reaches
library files exactly as a library spec does (``'../_base_/models/resnet50.py'``).
A config on the user's own machine (`load_user_config`, what the ``trainyard`` CLI
uses) is not confined: its ``_base_`` paths reach anywhere, as in MMCls's own
``configs/_base_/...`` beside ``configs/<family>/x.py`` layout.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from re import compile as regex  # patterns, not code: the name keeps code scanners quiet
from typing import Any, Literal, overload

from .errors import SpecError
from .evaluator import BASE_KEY, Evaluator, find_bases, parse_source
from .library import BASE_DIR, USER_DIR, library_dir
from .nodes import (
    MAX_BASE_DEPTH,
    MAX_BASE_FILES,
    MAX_FILE_BYTES,
    MAX_NODES,
    Budget,
    Node,
    Pos,
    make_dict,
    merge,
    to_plain,
)
from .options import apply_cfg_options

ALLOWLIST_ENV = 'TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST'
USER_SPEC_NAME = 'spec.py'
_MODULE_NAME = regex(r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')

CfgOptions = Iterable[str] | Mapping[str, Any] | None


class Positions(dict):
    """Maps key paths such as ``('model', 'backbone', 'type')`` to ``(filename, lineno, col)``.

    List elements appear as integers in paths: ``('data', 'train', 'pipeline', 1)``.
    ``filename`` is the name of the top-level spec (for errors about the whole spec).
    """

    def __init__(self, *args, filename: str = '<spec>', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.filename = filename

    def nearest(self, path: Iterable[Any]) -> Pos | None:
        """The position of ``path``, or of its closest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self:
                return self[path]
            path = path[:-1]
        return None


@dataclass
class _Cached:
    node: Node
    deps: tuple[tuple[Path, str], ...]  # every file read, with the sha256 of its bytes
    levels: int                         # the longest _base_ chain below this file
    files: int


_cache: dict[tuple[Path, Path], _Cached] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 512


def clear_cache() -> None:
    """Forget the parsed base files (they are re-validated on every use anyway)."""
    with _cache_lock:
        _cache.clear()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Loader:
    """Loads one spec: a top-level file or text and everything it inherits from."""

    def __init__(self, root: Path, display_root: Path | None = None) -> None:
        self.root = root
        self.display_root = display_root or root
        self.budget = Budget()
        self.files = 0

    def display(self, path: Path) -> str:
        try:
            return path.relative_to(self.display_root).as_posix()
        except ValueError:
            return str(path)

    # -- reading -----------------------------------------------------------------------

    def read(self, path: Path, display: str, ref_pos: Pos | None) -> bytes:
        where = ref_pos or (display, None, None)
        try:
            if not path.is_file():
                raise SpecError(f'spec file {display!r} not found', *where)
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise SpecError(f'{display} is larger than {MAX_FILE_BYTES // 1024} KiB', *where,
                                hint='a spec should describe one job')
            with open(path, 'rb') as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise SpecError(f'cannot read {display}: {error.strerror or error}', *where) from None
        if len(data) > MAX_FILE_BYTES:
            raise SpecError(f'{display} is larger than {MAX_FILE_BYTES // 1024} KiB', *where)
        return data

    @staticmethod
    def decode(data: bytes, display: str) -> str:
        try:
            return data.decode('utf-8-sig')
        except UnicodeDecodeError as error:
            start = error.start
            line_start = data.rfind(b'\n', 0, start) + 1
            lineno = data.count(b'\n', 0, start) + 1
            col = len(data[line_start:start].decode('utf-8', 'replace')) + 1
            raise SpecError('the file is not valid UTF-8 text', display, lineno, col,
                            hint='save the spec as UTF-8') from None

    # -- bases -------------------------------------------------------------------------

    def resolve_base(self, text: str, including: Path, pos: Pos) -> Path:
        if not text or '\x00' in text:
            raise SpecError(f'{text!r} is not a base file path', *pos)
        if os.path.isabs(text) or text.startswith('~'):
            raise SpecError(f'_base_ path {text!r} must be relative to this file', *pos,
                            hint="e.g. '../_base_/models/resnet50.py'")
        if not text.endswith('.py'):
            raise SpecError(f'_base_ path {text!r} is not a .py spec file', *pos,
                            hint="base files are Python-syntax specs ending in '.py'")
        candidate = Path(os.path.normpath(including.parent / text))
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError) as error:
            raise SpecError(f'cannot resolve _base_ path {text!r}: {error}', *pos) from None
        if not (candidate.is_relative_to(self.root) and resolved.is_relative_to(self.root)):
            raise SpecError(f'_base_ path {text!r} leads outside the spec library', *pos,
                            hint='base files must live in the library, e.g. '
                            "'../_base_/models/resnet50.py'")
        if not resolved.is_file():
            raise SpecError(f'base file {text!r} not found', *pos, hint=self._suggest(text, candidate))
        return resolved

    def _suggest(self, text: str, candidate: Path) -> str | None:
        folder = candidate.parent
        try:
            if folder.is_relative_to(self.root) and folder.is_dir():
                names = [p.name for p in folder.iterdir() if p.suffix == '.py']
                match = difflib.get_close_matches(candidate.name, names, n=1)
                if match:
                    return f'did you mean {text[: len(text) - len(candidate.name)] + match[0]!r}?'
        except OSError:
            return None
        if USER_DIR in candidate.parts[len(self.root.parts):len(self.root.parts) + 1]:
            return ("submitted specs live in the library's _user_/ folder: reach library files "
                    "with '../', e.g. '../_base_/models/resnet50.py'")
        return None

    def load_bases(self, parsed, path: Path, stack: tuple[Path, ...]
                   ) -> tuple[Node | None, list[tuple[Path, str]], int]:
        bases = find_bases(parsed)
        if not bases:
            return None, [], 0
        merged: dict[str, Node] = {}
        origin: dict[str, str] = {}
        deps: list[tuple[Path, str]] = []
        levels = 0
        for text, pos in bases:
            base_path = self.resolve_base(text, path, pos)
            chain = stack + (base_path,)
            if base_path in stack:
                names = ' -> '.join(self.display(p) for p in chain)
                raise SpecError(f'_base_ cycle: {names}', *pos, hint='remove one of these _base_ entries')
            if len(stack) > MAX_BASE_DEPTH:
                names = ' -> '.join(self.display(p) for p in chain)
                raise SpecError(f'_base_ chain is deeper than {MAX_BASE_DEPTH} files: {names}', *pos,
                                hint='inherit from fewer levels of files')
            cached = self.load_file(base_path, chain, pos)
            duplicates = [key for key in cached.node.value if key in merged]
            if duplicates:
                key = duplicates[0]
                raise SpecError(
                    f"duplicate key {key!r} is not allowed among bases: both {origin[key]} and "
                    f"{self.display(base_path)} define it", *pos,
                    hint='bases must not define the same top-level name (mmcv refuses it too); '
                    'define it in one of them or in this file')
            for key, value in cached.node.value.items():
                merged[key] = value
                origin[key] = self.display(base_path)
            deps.extend(cached.deps)
            levels = max(levels, cached.levels + 1)
        node = make_dict(merged, (parsed.filename, 1, 1), self.budget)
        return node, deps, levels

    # -- files -------------------------------------------------------------------------

    def load_file(self, path: Path, stack: tuple[Path, ...], ref_pos: Pos | None) -> _Cached:
        """Load a spec file and its bases (cached across specs while the files are unchanged)."""
        key = (self.root, path)
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None and len(stack) - 1 + cached.levels <= MAX_BASE_DEPTH \
                and self._fresh(cached):
            self._count(cached.files, ref_pos)
            return cached
        display = self.display(path)
        data = self.read(path, display, ref_pos)
        self._count(1, ref_pos)
        text = self.decode(data, display)
        node, deps, levels = self.evaluate(text, display, path, stack)
        cached = _Cached(node, tuple([(path, _sha(data))] + deps), levels, 1 + len(deps))
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.clear()
            _cache[key] = cached
        return cached

    def _count(self, files: int, ref_pos: Pos | None) -> None:
        self.files += files
        if self.files > MAX_BASE_FILES:
            raise SpecError(f'the spec reads more than {MAX_BASE_FILES} files',
                            *(ref_pos or ('<spec>', None, None)))

    @staticmethod
    def _fresh(cached: _Cached) -> bool:
        for dep_path, digest in cached.deps:
            try:
                with open(dep_path, 'rb') as handle:
                    if _sha(handle.read(MAX_FILE_BYTES + 1)) != digest:
                        return False
            except OSError:
                return False
        return True

    def evaluate(self, text: str, display: str, path: Path, stack: tuple[Path, ...]
                 ) -> tuple[Node, list[tuple[Path, str]], int]:
        if len(text.encode('utf-8', 'surrogatepass')) > MAX_FILE_BYTES:
            raise SpecError(f'the spec is larger than {MAX_FILE_BYTES // 1024} KiB', display,
                            hint='a spec should describe one job')
        parsed = parse_source(text, display)
        base, deps, levels = self.load_bases(parsed, path, stack)
        own = Evaluator(parsed, base, self.budget).run()
        if base is None:
            return own, deps, levels
        return merge(own, base, self.budget), deps, levels


# ---------------------------------------------------------------------------------------
# custom_imports
# ---------------------------------------------------------------------------------------

def _allowlist() -> list[str]:
    raw = os.environ.get(ALLOWLIST_ENV, '')
    return [item.strip() for item in raw.split(',') if item.strip()]


def allowlist(extra: Iterable[str] = ()) -> list[str]:
    """The modules ``custom_imports`` may name: the operator's ``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST``
    (comma-separated; ``pkg.*`` allows ``pkg`` and its submodules) plus ``extra`` (what a CLI user allows
    explicitly with ``--allow-import``; the service never passes any)."""
    return _allowlist() + [str(item).strip() for item in extra if str(item).strip()]


def is_allowed_import(module: str, allowed: Iterable[str]) -> bool:
    """Whether ``module`` is a module name that ``allowed`` (entries ``pkg.mod`` or ``pkg.*``) lets in."""
    return bool(isinstance(module, str) and _MODULE_NAME.match(module) and _allowed(module, list(allowed)))


def _allowed(module: str, allowlist: list[str]) -> bool:
    for entry in allowlist:
        if entry.endswith('.*'):
            if module.startswith(entry[:-1]) or module == entry[:-2]:
                return True
        elif module == entry:
            return True
    return False


def check_custom_imports(spec: dict, positions: Positions, extra_allowed: Iterable[str] = (),
                         allowed_imports: Iterable[str] | None = None) -> None:
    """Refuse ``custom_imports`` naming a module outside the server allowlist.

    The allowlist is the comma-separated env var ``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST``
    (empty by default; ``pkg.*`` allows ``pkg`` and its submodules), or ``allowed_imports``
    where given (the service's setting), plus ``extra_allowed`` on a user's own machine. The loader never imports anything; the engine imports the
    listed modules (``workers.custom_imports``), checking them against the list again.
    """
    if 'custom_imports' not in spec:
        return
    value = spec['custom_imports']
    top = ('custom_imports',)

    def fail(path, message, hint=None):
        raise SpecError(message, *(positions.nearest(path) or ('<spec>', None, None)), hint=hint)

    shape = "write custom_imports = dict(imports=['package.module'], allow_failed_imports=False)"
    if value is None:
        return
    if not isinstance(value, dict):
        fail(top, 'custom_imports must be a dict', shape)
    unknown = [k for k in value if k not in ('imports', 'allow_failed_imports')]
    if unknown:
        fail(top + (unknown[0],), f'custom_imports has no key {unknown[0]!r}', shape)
    if not isinstance(value.get('allow_failed_imports', False), bool):
        fail(top + ('allow_failed_imports',), 'custom_imports.allow_failed_imports must be True or False')
    imports = value.get('imports', [])
    if isinstance(imports, str):
        items = [(imports, top + ('imports',))]
    elif isinstance(imports, (list, tuple)):
        items = [(m, top + ('imports', i)) for i, m in enumerate(imports)]
    else:
        fail(top + ('imports',), 'custom_imports.imports must be a list of module names', shape)
    allowed = (allowlist(extra_allowed) if allowed_imports is None
               else [*allowed_imports, *extra_allowed])
    for module, path in items:
        if not isinstance(module, str) or not _MODULE_NAME.match(module):
            fail(path, f'{module!r} is not a module name', "e.g. 'mypackage.datasets'")
        if not _allowed(module, allowed):
            if allowed:
                hint = 'allowed here: ' + ', '.join(allowed)
            else:
                hint = f'this server allows no custom imports (an admin can list modules in {ALLOWLIST_ENV})'
            fail(path, f"custom import {module!r} is not on this server's allowlist", hint)


# ---------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------

def _finish(node: Node, cfg_options: CfgOptions, budget: Budget, want_positions: bool, filename: str,
            allow_imports: Iterable[str] = (), allowed_imports: Iterable[str] | None = None):
    node = apply_cfg_options(node, cfg_options, budget)
    if node.size > MAX_NODES * 2:
        raise SpecError(f'the resolved spec has more than {MAX_NODES * 2} values',
                        *node.pos, hint='a spec should describe one job')
    positions = Positions(filename=filename)
    spec = to_plain(node, (), positions)
    check_custom_imports(spec, positions, allow_imports, allowed_imports)
    return (spec, positions) if want_positions else spec


def _guard(filename: str, call):
    """Run ``call``; whatever goes wrong comes out as SpecError and nothing else."""
    try:
        return call()
    except SpecError:
        raise
    except RecursionError:
        raise SpecError('the spec is nested too deeply', filename, hint='flatten the structure') from None
    except MemoryError:
        raise SpecError('the spec is too large to load', filename) from None
    except Exception as error:  # noqa: BLE001 - the loader's promise: SpecError only
        raise SpecError(f'internal error while loading the spec ({type(error).__name__}: {error})',
                        filename) from error


def _root_for(path: Path, root: str | os.PathLike | None) -> Path:
    if root is not None:
        return Path(root).resolve()
    library = library_dir()
    return library if path.is_relative_to(library) else path.parent


@overload
def load(path: str | os.PathLike, cfg_options: CfgOptions = None, *,
         positions: Literal[False] = False, root: str | os.PathLike | None = None,
         allowed_imports: Iterable[str] | None = None) -> dict: ...
@overload
def load(path: str | os.PathLike, cfg_options: CfgOptions = None, *,
         positions: Literal[True], root: str | os.PathLike | None = None,
         allowed_imports: Iterable[str] | None = None) -> tuple[dict, Positions]: ...


def load(path, cfg_options=None, *, positions=False, root=None, allowed_imports=None):
    """Load a spec file from disk and resolve it to plain data.

    Args:
        path: The spec file.
        cfg_options: Overrides applied after inheritance: ``["a.b=1", ...]`` or
            ``{"a.b": 1}`` (see `parse_cfg_options`).
        positions: Also return a `Positions` map of every key path to its source.
        root: The folder ``_base_`` paths may not leave. Defaults to the library for
            library files, else the spec's own folder.
        allowed_imports: The modules ``custom_imports`` may name (the service's setting);
            ``None``: the ``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST`` environment variable.

    Returns:
        The spec dict, or ``(spec, positions)`` when ``positions`` is true.

    Raises:
        SpecError: for every problem, and nothing else.
    """
    return _load_file(path, cfg_options, positions=positions, root=root, allowed_imports=allowed_imports)


def _load_file(path, cfg_options, *, positions: bool, root=None, free: bool = False,
               allow_imports: Iterable[str] = (), allowed_imports: Iterable[str] | None = None):
    """`load` (confined to ``root``) or, with ``free``, `load_user_config` (``_base_`` anywhere)."""
    name = str(path) if isinstance(path, (str, os.PathLike)) else '<spec>'

    def run():
        if not isinstance(path, (str, os.PathLike)):
            raise SpecError(f'a spec path must be a string, not {type(path).__name__}', name)
        resolved = Path(path).resolve()
        if free:
            loader = _Loader(Path(resolved.anchor), display_root=config_tree(resolved))
        else:
            base_root = _root_for(resolved, root)
            loader = _Loader(base_root)
            if not resolved.is_relative_to(base_root):
                raise SpecError(f'{name} is outside the spec root {base_root}', name)
        display = loader.display(resolved)
        data = loader.read(resolved, display, None)
        text = loader.decode(data, display)
        node, _, _ = loader.evaluate(text, display, resolved, (resolved,))
        return _finish(node, cfg_options, loader.budget, positions, display, allow_imports, allowed_imports)

    return _guard(name, run)


def config_tree(path: str | os.PathLike) -> Path:
    """The folder of a user's config tree that holds ``path``: the nearest folder above it with a ``_base_``
    folder (MMCls's ``configs/``), else the file's own folder. Names in messages are relative to it."""
    folder = Path(path).resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / BASE_DIR).is_dir():
            return candidate
    return folder


def load_user_config(path: str | os.PathLike, cfg_options: CfgOptions = None, *, positions: bool = False,
                     allow_imports: Iterable[str] = ()):
    """Load a config file of the user's own machine, as the ``trainyard`` CLI does.

    Unlike `load`, nothing confines ``_base_``: as MMCls's ``Config.fromfile``, a relative base path
    may reach anywhere on this machine, so a tree in MMCls's layout works as it is
    (``configs/resnet/x.py`` inheriting ``'../_base_/models/resnet50.py'``). Still never executed.
    The service never calls this: submitted text goes through `load_text`, confined to the library.

    Args:
        path: The config file.
        cfg_options: Overrides applied after inheritance (see `load`).
        positions: Also return a `Positions` map.
        allow_imports: Modules (``pkg.mod`` or ``pkg.*``) ``custom_imports`` may name besides the
            ``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST`` ones: what the user allowed explicitly.

    Raises:
        SpecError: for every problem, and nothing else.
    """
    return _load_file(path, cfg_options, positions=positions, free=True, allow_imports=tuple(allow_imports))


@overload
def load_text(text: str, filename: str = '<spec>', cfg_options: CfgOptions = None, *,
              positions: Literal[False] = False, root: str | os.PathLike | None = None,
              allowed_imports: Iterable[str] | None = None) -> dict: ...
@overload
def load_text(text: str, filename: str = '<spec>', cfg_options: CfgOptions = None, *,
              positions: Literal[True], root: str | os.PathLike | None = None,
              allowed_imports: Iterable[str] | None = None) -> tuple[dict, Positions]: ...


def load_text(text, filename='<spec>', cfg_options=None, *, positions=False, root=None, allowed_imports=None):
    """Load spec text submitted by a user and resolve it to plain data.

    The text lives virtually at ``<root>/_user_/spec.py``, so ``_base_`` entries
    such as ``'../_base_/models/resnet18_cifar.py'`` or
    ``'../resnet/resnet18_8xb16_cifar10.py'`` resolve as in a library spec.

    Args:
        text: The spec source (str, or UTF-8 bytes).
        filename: The name errors and positions use for this text.
        cfg_options: Overrides applied after inheritance (see `load`).
        positions: Also return a `Positions` map.
        root: The library root; defaults to `library_dir()`.
        allowed_imports: The modules ``custom_imports`` may name (the service passes its
            setting); ``None``: the ``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST`` environment variable.

    Returns:
        The spec dict, or ``(spec, positions)`` when ``positions`` is true.

    Raises:
        SpecError: for every problem, and nothing else.
    """
    name = filename if isinstance(filename, str) else '<spec>'

    def run():
        source = text
        if isinstance(source, (bytes, bytearray)):
            if len(source) > MAX_FILE_BYTES:
                raise SpecError(f'the spec is larger than {MAX_FILE_BYTES // 1024} KiB', name)
            source = _Loader.decode(bytes(source), name)
        if not isinstance(source, str):
            raise SpecError(f'spec text must be a string, not {type(source).__name__}', name)
        if len(source) > MAX_FILE_BYTES:
            raise SpecError(f'the spec is larger than {MAX_FILE_BYTES // 1024} KiB', name,
                            hint='a spec should describe one job')
        if source.startswith('\ufeff'):
            source = source[1:]
        base_root = Path(root).resolve() if root is not None else library_dir()
        loader = _Loader(base_root)
        virtual = base_root / USER_DIR / USER_SPEC_NAME
        node, _, _ = loader.evaluate(source, name, virtual, (virtual,))
        return _finish(node, cfg_options, loader.budget, positions, name, allowed_imports=allowed_imports)

    return _guard(name, run)


def load_library(name: str, cfg_options: CfgOptions = None, *, positions: bool = False):
    """Load a library spec by its name in `list_library()`, e.g. ``'resnet/resnet50_8xb32_in1k.py'``.

    Safe to call with a name from a request: anything that is not a spec of the
    library (``../``, ``_base_/`` files, absolute paths) is refused.
    """
    label = name if isinstance(name, str) else '<spec>'

    def run():
        if not isinstance(name, str) or not name or '\x00' in name:
            raise SpecError(f'{name!r} is not a library spec name', label)
        relative = name if name.endswith('.py') else name + '.py'
        root = library_dir()
        path = Path(os.path.normpath(root / relative))
        parts = Path(relative).parts
        if (os.path.isabs(relative) or not path.is_relative_to(root) or not parts
                or parts[0] in (BASE_DIR, USER_DIR) or not path.resolve().is_relative_to(root)):
            raise SpecError(f'{name!r} is not a library spec', label,
                            hint='pick a name from list_library()')
        if not path.is_file():
            from .library import list_library
            match = difflib.get_close_matches(relative, list_library(), n=1)
            raise SpecError(f'library spec {name!r} not found', label,
                            hint=f'did you mean {match[0]!r}?' if match else 'pick a name from list_library()')
        return load(path, cfg_options, positions=positions)

    return _guard(label, run)


def load_with_positions(path: str | os.PathLike, cfg_options: CfgOptions = None, *,
                        root: str | os.PathLike | None = None) -> tuple[dict, Positions]:
    """``load(path, cfg_options, positions=True)``: the spec and where each value was written."""
    return load(path, cfg_options, positions=True, root=root)


__all__ = ['BASE_KEY', 'Positions', 'allowlist', 'clear_cache', 'config_tree', 'is_allowed_import', 'load',
           'load_library', 'load_text', 'load_user_config', 'load_with_positions']
