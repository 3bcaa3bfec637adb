"""Where the spec library lives and which specs it offers."""

from __future__ import annotations

import functools
from pathlib import Path

# Folders of the library that hold building blocks or virtual files, not specs.
BASE_DIR = '_base_'
USER_DIR = '_user_'


def library_dir() -> Path:
    """The folder of library specs (``jobspecs/library``)."""
    return Path(__file__).resolve().parent / 'library'


def list_library() -> list[str]:
    """Relative paths of the library's specs, sorted, e.g. ``'resnet/resnet50_8xb32_in1k.py'``.

    Files under ``_base_/`` (building blocks) and ``_user_/`` (where submitted text
    virtually lives) are left out.
    """
    return list(_library_names())


@functools.cache
def _library_names() -> tuple[str, ...]:
    """The listing, read once per process: the library ships with the code (walking its ~600 files took a
    third of a ``POST /api/runs``, which checks the name it is given against it)."""
    root = library_dir()
    names = []
    for path in root.rglob('*.py'):
        relative = path.relative_to(root)
        if relative.parts[0] in (BASE_DIR, USER_DIR) or '__pycache__' in relative.parts:
            continue
        if path.name == '__init__.py':
            continue
        names.append(relative.as_posix())
    return tuple(sorted(names))
