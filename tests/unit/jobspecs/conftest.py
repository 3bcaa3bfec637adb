"""Fixtures for the jobspecs tests: a throwaway spec library; no allowlist unless a test sets one. (The
error catcher and `dedent` are in tests/support/spec_source.py.)"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jobspecs import clear_cache
from jobspecs.loader import ALLOWLIST_ENV


@pytest.fixture(autouse=True)
def _no_allowlist(monkeypatch):
    monkeypatch.delenv(ALLOWLIST_ENV, raising=False)
    yield
    clear_cache()


class TmpLibrary:
    """A spec library in a temporary folder: ``lib.write('a/b.py', text)``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip('\n'), encoding='utf-8')
        return path


@pytest.fixture
def lib(tmp_path) -> TmpLibrary:
    root = tmp_path / 'library'
    root.mkdir()
    return TmpLibrary(root)
