"""Where the spec library lives and which specs it offers."""

from __future__ import annotations

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
    root = library_dir()
    names = []
    for path in root.rglob('*.py'):
        relative = path.relative_to(root)
        if relative.parts[0] in (BASE_DIR, USER_DIR) or '__pycache__' in relative.parts:
            continue
        if path.name == '__init__.py':
            continue
        names.append(relative.as_posix())
    return sorted(names)
