"""Where a spec's paths may lead: the one path policy of the trust boundary (DESIGN.md, "The trust boundary").

Many teams share one cluster, so a spec is written by someone who may be attacking the other teams. Every
path-valued field of a spec is declared here with the *area* it belongs to:

- ``data``: inside the run's dataset (``data_prefix``, ``ann_file``, a class file, ...);
- ``output``: inside the run's own folder (``checkpoint_config.out_dir``, a TensorBoard ``log_dir``, ...);
- ``checkpoint``: another run's checkpoint, named by id (``'checkpoint:123'``) and resolved by the server,
  or a URL on the operator's allowlist (``init_cfg=dict(type='Pretrained', checkpoint='https://...')``).

The service applies the policy twice: at submit, on the resolved spec (absolute paths, ``~``, ``..``, a
URL the operator did not allow: refused with file:line:col, nothing stored), and on the worker after
rebasing, where every path is resolved (symbolic links included) and must still lie inside its area before
any file is opened. The ``trainyard`` command on a user's own machine is not the service: there, paths
stay free and none of this applies.

Pure standard library, like the rest of ``jobspecs``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from re import compile as regex  # patterns, not code: the name keeps code scanners quiet (as loader.py)
from typing import Any
from urllib.parse import urlsplit

from .errors import SpecError

__all__ = [
    'AREAS', 'PATH_FIELDS', 'CheckpointRef', 'Location', 'PathField', 'PathPolicyError', 'check', 'check_sweep_space',
    'checkpoint_ref', 'confine', 'field_for', 'locations', 'rebase', 'relative_problem', 'url_problem',
]

AREAS = ('data', 'output', 'checkpoint')
URL_SCHEMES = ('http', 'https')
# 'checkpoint:123': another run's checkpoint, by the id its run page and GET /api/runs/<id>/checkpoints show
_REF = regex(r'^checkpoint:(\d{1,18})$')
_SCHEME = regex(r'^[A-Za-z][A-Za-z0-9+.-]*://')
_DRIVE = regex(r'^[A-Za-z]:')  # C:/... written on Windows
MAX_PATH_CHARS = 1024


@dataclass(frozen=True)
class PathField:
    """One path-valued field of a spec: where it may occur and which area its value must stay in.

    Args:
        key: The field's own key, a glob for families of keys (``'*_path'``).
        area: ``'data'``, ``'output'`` or ``'checkpoint'``.
        section: The keys a location must start with (``('data',)``: anywhere under ``data``).
        exact: The location is exactly ``section + (key,)`` (``load_from`` at the top level).
        why: What the field is, for the table in the README and the errors.
    """

    key: str
    area: str
    section: tuple = ()
    exact: bool = False
    why: str = ''

    def matches(self, path: tuple) -> bool:
        if not path or not isinstance(path[-1], str):
            return False
        if self.exact:
            inside = tuple(path[:-1]) == self.section
        else:
            inside = len(path) > len(self.section) and tuple(path[:len(self.section)]) == self.section
        return inside and fnmatchcase(path[-1], self.key)


# Every path-valued field the engine reads. A new one goes here: tests/security/test_path_fields.py walks the
# registries' arguments, the schema's keys and the library specs, and fails for a path-looking field not listed.
PATH_FIELDS: tuple[PathField, ...] = (
    PathField('data_prefix', 'data', ('data',), why="a dataset's image folder"),
    PathField('ann_file', 'data', ('data',), why='an annotation file'),
    PathField('classes', 'data', ('data',), why='a file of class names (a list of names is no path)'),
    PathField('image_class_labels_file', 'data', ('data',), why="CUB's label file"),
    PathField('train_test_split_file', 'data', ('data',), why="CUB's split file"),
    PathField('load_from', 'checkpoint', (), exact=True, why='weights to start from'),
    PathField('resume_from', 'checkpoint', (), exact=True, why='a checkpoint to continue'),
    PathField('checkpoint', 'checkpoint', ('model',), why="init_cfg=dict(type='Pretrained', checkpoint=...)"),
    PathField('pretrained', 'checkpoint', ('model',), why="MMCls's deprecated pretrained= shortcut"),
    PathField('work_dir', 'output', (), exact=True, why="the run's folder (the service sets its own)"),
    PathField('out_dir', 'output', ('checkpoint_config',), exact=True, why="mmcv's checkpoint folder"),
    PathField('log_dir', 'output', ('log_config',), why="TensorboardLoggerHook's event files"),
    PathField('out_dir', 'output', ('log_config',), why="mmcv's logger out_dir"),
    PathField('log_dir', 'output', ('custom_hooks',), why='a hook\'s log folder'),
    PathField('out_dir', 'output', ('custom_hooks',), why='a hook\'s output folder'),
    # DeepSpeed's own config (monitors' output_path, flops_profiler.output_file, offload nvme_path, ...)
    PathField('*path', 'output', ('resources', 'deepspeed', 'config'), why="a DeepSpeed config path"),
    PathField('*_file', 'output', ('resources', 'deepspeed', 'config'), why="a DeepSpeed config file"),
    PathField('*_dir', 'output', ('resources', 'deepspeed', 'config'), why="a DeepSpeed config folder"),
    PathField('*folder', 'output', ('resources', 'deepspeed', 'config'), why="a DeepSpeed config folder"),
)
# DeepSpeed monitors that send a run's metrics to a third party: no network from a spec.
NETWORK_SECTIONS = (('resources', 'deepspeed', 'config', 'wandb'), ('resources', 'deepspeed', 'config', 'comet'))


class PathPolicyError(ValueError):
    """A path of a spec leaves its area (raised on the worker, before any file is opened)."""


@dataclass(frozen=True)
class Location:
    """A path field found in a spec: where (``('data', 'train', 'ann_file')``), its value and its field."""

    path: tuple
    value: str
    field: PathField

    @property
    def dotted(self) -> str:
        return '.'.join(str(p) for p in self.path)


@dataclass(frozen=True)
class CheckpointRef:
    """A checkpoint a spec names for the server to resolve: by id, or by its key on the service's storage."""

    location: Location
    checkpoint_id: int | None = None
    key: str | None = None


# field_for runs for every key of every submitted spec: look fields up by their key, globs after.
_BY_KEY: dict[str, list[PathField]] = {}
_GLOBS: list[PathField] = []
for _field in PATH_FIELDS:
    (_GLOBS if any(c in _field.key for c in '*?[') else _BY_KEY.setdefault(_field.key, [])).append(_field)


def field_for(path: Sequence) -> PathField | None:
    """The path field a location belongs to, or None."""
    path = tuple(path)
    if not path or not isinstance(path[-1], str):
        return None
    for candidates in (_BY_KEY.get(path[-1], ()), _GLOBS):
        for found in candidates:
            if found.matches(path):
                return found
    return None


def locations(spec: Any) -> Iterator[Location]:
    """Every path field of ``spec`` that holds a string, in spec order."""
    def walk(node: Any, path: tuple, depth: int) -> Iterator[Location]:
        if depth > 64:
            return
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
        for key, value in items:
            here = path + (key,)
            if isinstance(value, str):
                found = field_for(here)
                if found is not None:
                    yield Location(here, value, found)
            elif isinstance(value, (dict, list, tuple)):
                yield from walk(value, here, depth + 1)

    yield from walk(spec, (), 0)


def checkpoint_ref(value: str) -> int | None:
    """The id in ``'checkpoint:<id>'``, or None."""
    match = _REF.match(value.strip())
    return int(match.group(1)) if match else None


def relative_problem(value: str) -> str | None:
    """Why ``value`` is not a plain relative path that stays below its starting folder, or None."""
    if len(value) > MAX_PATH_CHARS:
        return f'is longer than {MAX_PATH_CHARS} characters'
    if '\x00' in value:
        return 'holds a NUL character'
    if _SCHEME.match(value):
        return 'is a URL, not a path'
    text = value.replace('\\', '/')
    if text.startswith('/') or _DRIVE.match(text):
        return 'is an absolute path'
    if text.startswith('~'):
        return "starts with '~' (a home folder)"
    if '..' in text.split('/'):
        return "goes up with '..'"
    return None


_AREA_WORDS = {'data': "the run's dataset", 'output': "the run's own folder"}


def check(spec: Any, positions: Any = None, *, allowed_url_hosts: Sequence[str] = (),
          own_storage: Any = None) -> tuple[list[SpecError], list[CheckpointRef]]:
    """Apply the path policy to a resolved spec at submit time (no file is touched).

    Args:
        spec: The resolved spec (after ``cfg_options``).
        positions: Its ``Positions``, so each problem points at the line that wrote the value.
        allowed_url_hosts: The operator's URL allowlist (``TRAINYARD_CHECKPOINT_URL_HOSTS``).
        own_storage: A callable mapping a URI or key to a key on the service's own storage, or None when it
            names no such key (``workers.storage.Storage.relative`` fits); None refuses every URI.

    Returns:
        The problems (``SpecError`` with file:line:col and a hint), and the checkpoints the spec names for
        the server to resolve (it must check the submitter may read each).
    """
    errors: list[SpecError] = []
    refs: list[CheckpointRef] = []
    for loc in locations(spec):
        _check_location(loc, loc.path, positions, allowed_url_hosts, own_storage, errors, refs)
    for section in NETWORK_SECTIONS:
        node: Any = spec
        for key in section:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get('enabled'):
            errors.append(_error(positions, section, f"{'.'.join(section)} sends the run's metrics over the "
                                 "network; a spec may not", 'use the TensorBoard monitor or the dashboard instead'))
    errors.extend(_online_logger_hooks(spec, positions))
    return errors, refs


# W&B modes that send nothing (workers.engine.logger_hooks.WandbLoggerHook defaults to 'offline')
_OFFLINE_WANDB_MODES = (None, 'offline', 'disabled', 'dryrun')


def _online_logger_hooks(spec: Any, positions: Any) -> list[SpecError]:
    """A ``WandbLoggerHook`` of ``log_config.hooks`` or ``custom_hooks`` that would go online, or write its files
    outside the run's folder (``init_kwargs.dir``)."""
    errors = []
    log_hooks = (spec.get('log_config') or {}).get('hooks') if isinstance(spec.get('log_config'), dict) else None
    for section, hooks in ((('log_config', 'hooks'), log_hooks), (('custom_hooks',), spec.get('custom_hooks'))):
        for i, hook in enumerate(hooks if isinstance(hooks, (list, tuple)) else ()):
            if not isinstance(hook, dict) or hook.get('type') != 'WandbLoggerHook':
                continue
            kwargs = hook.get('init_kwargs') if isinstance(hook.get('init_kwargs'), dict) else {}
            at = section + (i, 'init_kwargs')
            if kwargs.get('mode') not in _OFFLINE_WANDB_MODES:
                errors.append(_error(positions, at + ('mode',), f"WandbLoggerHook mode {kwargs.get('mode')!r} sends "
                                     "the run's metrics over the network; a spec may not",
                                     "leave mode='offline': the run is kept in its folder for `wandb sync`"))
            if 'dir' in kwargs:
                errors.append(_error(positions, at + ('dir',), "WandbLoggerHook writes in the run's own folder; "
                                     'init_kwargs.dir may not move it', 'remove init_kwargs.dir'))
    return errors


def check_sweep_space(space: Any, positions: Any = None, *, allowed_url_hosts: Sequence[str] = (),
                      own_storage: Any = None) -> tuple[list[SpecError], list[CheckpointRef]]:
    """The path policy for a sweep's search space: every value a path field may take is checked as if the spec
    held it, its problems pointing at the domain; a continuous domain over a path field is refused."""
    errors: list[SpecError] = []
    refs: list[CheckpointRef] = []
    for key, domain in space.items() if isinstance(space, dict) else ():
        path = tuple(int(p) if p.isdigit() else p for p in str(key).split('.'))
        field = field_for(path)
        if field is None or not isinstance(domain, dict):
            continue
        at = ('sweep', 'space', key)
        values = domain.get('values')
        if domain.get('type') not in ('choice', 'grid_search') or not isinstance(values, (list, tuple)):
            errors.append(_error(positions, at, f'sweep.space[{key!r}] searches a path field; only choice or '
                                 'grid_search over named values can'))
            continue
        for value in values:
            if isinstance(value, str):
                _check_location(Location(path, value, field), at, positions, allowed_url_hosts, own_storage,
                                errors, refs)
    return errors, refs


def _error(positions: Any, at: tuple, message: str, hint: str | None = None) -> SpecError:
    """A problem at ``at`` (or its nearest written ancestor) of the spec ``positions`` describe."""
    where = positions.nearest(at) if positions is not None and hasattr(positions, 'nearest') else None
    filename, line, col = where or (getattr(positions, 'filename', '<spec>'), None, None)
    return SpecError(message, filename, line, col, hint)


def _check_location(loc: Location, at: tuple, positions: Any, allowed_url_hosts, own_storage,
                    errors: list[SpecError], refs: list[CheckpointRef]) -> None:
    """Check one path field's value against its area; a problem goes to ``errors`` (reported at ``at``), a
    checkpoint the server must resolve to ``refs``."""
    if loc.field.area != 'checkpoint':
        problem = relative_problem(loc.value)
        if problem:
            errors.append(_error(
                positions, at, f'{loc.dotted} {loc.value[:80]!r} {problem}; it must stay inside '
                f'{_AREA_WORDS[loc.field.area]}',
                "write it relative to the dataset, e.g. 'data/<name>/train' or 'meta/train.txt'"
                if loc.field.area == 'data' else "write a folder name relative to the run's folder, e.g. 'tf_logs'"))
        return
    value = loc.value.strip()
    if not value:
        return
    hint = ("name another run's checkpoint by id, e.g. load_from='checkpoint:123' (ids are listed on the run's "
            "page), or a URL on the operator's allowlist")
    ident = checkpoint_ref(value)
    if ident is not None:
        refs.append(CheckpointRef(loc, checkpoint_id=ident))
        return
    scheme = urlsplit(value).scheme.lower() if _SCHEME.match(value) else ''
    if scheme in URL_SCHEMES:
        problem = url_problem(value, allowed_url_hosts)
        if problem:
            errors.append(_error(positions, at, f'{loc.dotted}: {problem}', hint))
        return
    key = own_storage(value) if own_storage is not None and (scheme or not relative_problem(value)) else None
    if key:
        refs.append(CheckpointRef(loc, key=key))
        return
    what = 'an object-store URI outside the service\'s storage' if scheme else (
        'a path' if not relative_problem(value) else f'a path that {relative_problem(value)}')
    errors.append(_error(positions, at, f'{loc.dotted} {value[:80]!r} is {what}; a run reads only checkpoints the '
                         'service resolves', hint))


# --- the worker side ---------------------------------------------------------------------------------------


def confine(path: str | os.PathLike, root: str | os.PathLike, what: str = 'path') -> str:
    """``path`` with every symbolic link resolved, if it lies inside ``root`` (resolved too); else raise.

    A path that does not exist yet (an output folder) is resolved as far as it exists.

    Raises:
        PathPolicyError: naming ``what`` and the area, never the contents of anything.
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and os.path.commonpath([real, real_root]) != real_root:
        raise PathPolicyError(f'{what} leaves its area: {os.fspath(path)!r} resolves outside {os.fspath(root)!r}')
    return real


def rebase(spec: dict, *, data_root: str | os.PathLike | None, run_root: str | os.PathLike,
           checkpoints: Mapping[str, str] | None = None) -> dict:
    """The spec a service worker trains: each path field moved into its area and checked there.

    ``data`` fields follow MMClassification's ``data/<name>/...`` convention: ``data/<name>/rest`` becomes
    ``<data_root>/rest``; any other relative path is taken relative to ``data_root``. ``output`` fields land
    in ``run_root``. ``checkpoint`` fields must be references the server resolved (``checkpoints`` maps each
    ``'checkpoint:<id>'`` or key to a local file) or URLs (fetched under the operator's allowlist by
    ``workers.fetch``). Every result is resolved (links followed) and must lie in its area.

    Raises:
        PathPolicyError: for the first field that breaks the policy (the submit check missed nothing it could
            see: a dataset changed since, or a job file not written by the service).
    """
    import copy

    out = copy.deepcopy(spec)
    checkpoints = dict(checkpoints or {})
    for loc in list(locations(out)):
        value = loc.value
        if loc.field.area == 'checkpoint':
            if not value.strip() or (_SCHEME.match(value) and urlsplit(value).scheme.lower() in URL_SCHEMES):
                continue
            if value not in checkpoints:
                raise PathPolicyError(f'{loc.dotted} {value[:80]!r} is not a checkpoint the service resolved')
            new = checkpoints[value]
        else:
            problem = relative_problem(value)
            if problem:
                raise PathPolicyError(f'{loc.dotted} {value[:80]!r} {problem}')
            if loc.field.area == 'data':
                if data_root is None:
                    raise PathPolicyError(f'{loc.dotted}: the run has no dataset to read it from')
                parts = [p for p in value.replace('\\', '/').split('/') if p not in ('', '.')]
                if len(parts) >= 2 and parts[0] == 'data':
                    parts = parts[2:]
                new = os.path.join(os.fspath(data_root), *parts)
                confine(new, data_root, loc.dotted)
            else:
                new = os.path.join(os.fspath(run_root), value)
                confine(new, run_root, loc.dotted)
        node: Any = out
        for key in loc.path[:-1]:
            node = node[key]
        node[loc.path[-1]] = new
    return out


# --- URLs ----------------------------------------------------------------------------------------------------

DEFAULT_PORTS = {'http': 80, 'https': 443}


def _host(name: str) -> str:
    """A host name as compared: lower case, without the trailing dot of a fully qualified name
    (``example.com.`` is ``example.com`` to DNS, so it must be to the allowlist too)."""
    return name.strip().lower().removesuffix('.')


def _allow_entry(entry: str) -> tuple[str, int | None] | None:
    """``(host, port or None)`` of one allowlist entry (``host``, ``host:port``, ``*.domain``, an IP address,
    ``[v6]:port``), or None for an empty or malformed entry (which then allows nothing)."""
    entry = entry.strip().lower()
    if not entry:
        return None
    if entry.count(':') > 1 and not entry.startswith('['):  # a bare IPv6 address: its colons are no port
        return _host(entry), None
    try:
        parts = urlsplit('//' + entry)
        port = parts.port
    except ValueError:
        return None
    if parts.path or parts.query or parts.fragment or parts.username is not None or not parts.hostname:
        return None
    return _host(parts.hostname), port


def _host_allowed(host: str, port: int, allowed: Sequence[str]) -> bool:
    """Whether ``host`` (as :func:`_host` gives it) on ``port`` matches an entry of ``allowed``."""
    for entry in allowed:
        parsed = _allow_entry(entry)
        if parsed is None:
            continue
        name, want_port = parsed
        if want_port is not None and port != want_port:
            continue
        if name.startswith('*.'):
            suffix = name[1:]  # '.example.com'
            if len(suffix) > 1 and host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif name and host == name:
            return True
    return False


def url_problem(url: str, allowed_hosts: Sequence[str]) -> str | None:
    """Why a spec may not make a worker fetch ``url``, or None when the operator allows it.

    Args:
        url: An ``http(s)://`` URL a spec names (a ``Pretrained`` checkpoint, ``load_from``).
        allowed_hosts: The server's allowlist (``TRAINYARD_CHECKPOINT_URL_HOSTS``): host names, ``host:port``
            or ``*.example.com`` for every subdomain (not ``example.com`` itself); an entry without a port
            allows every port of that host. Empty (the default) allows no URL at all.

    Returns:
        A sentence naming what is wrong, or None.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        return f'{url!r} is not a valid URL ({err})'
    if parts.scheme.lower() not in URL_SCHEMES:
        return f'{url!r}: only http(s) URLs can be fetched'
    if parts.username is not None or parts.password is not None:
        return f'{url!r} carries credentials; a spec may not'
    host = _host(parts.hostname or '')
    if not host:
        return f'{url!r} names no host'
    if port is None:  # 'example.com:443' on the allowlist allows 'https://example.com/'
        port = DEFAULT_PORTS[parts.scheme.lower()]
    if not allowed_hosts:
        return (f'{url!r}: this service fetches no URL a spec names (the operator allows none: '
                'TRAINYARD_CHECKPOINT_URL_HOSTS is empty)')
    if not _host_allowed(host, port, allowed_hosts):
        return (f'{url!r}: host {host!r} is not on the operator\'s allowlist '
                f'(TRAINYARD_CHECKPOINT_URL_HOSTS: {", ".join(allowed_hosts)})')
    return None
