"""The one exception type of the spec loader: a message that points at file:line:col."""

from __future__ import annotations

from typing import Any


class SpecError(Exception):
    """A spec could not be loaded, or does not validate.

    ``str(error)`` reads ``"{filename}:{lineno}:{col}: {message}"``, followed by
    ``" — {hint}"`` when there is a hint. A missing line or column is left out of
    the location (``"spec.py: file is empty"``).

    Args:
        message: What is wrong, in one sentence.
        filename: The spec file as the user knows it (``'<spec>'`` for submitted
            text, a path relative to the library for library files,
            ``'<cfg_options>'`` for command-line style overrides).
        lineno: 1-based line, or None when the error is not about one place.
        col: 1-based column (in characters), or None.
        hint: What to write instead, or None.
        path: The spec's key the problem concerns (``('resources', 'num_workers')``), ``()`` when it is
            about the spec as a whole or not about one key: callers pick the problems of a section by it,
            never by the message's words.
    """

    def __init__(
        self,
        message: str,
        filename: str = '<spec>',
        lineno: int | None = None,
        col: int | None = None,
        hint: str | None = None,
        path: tuple = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.col = col
        self.hint = hint
        self.path = tuple(path)

    @property
    def location(self) -> str:
        """``filename:lineno:col`` with the missing parts left out."""
        where = self.filename
        if self.lineno is not None:
            where += f':{self.lineno}'
            if self.col is not None:
                where += f':{self.col}'
        return where

    def __str__(self) -> str:
        text = f'{self.location}: {self.message}'
        if self.hint:
            text += f' — {self.hint}'
        return text

    def __repr__(self) -> str:
        return f'SpecError({str(self)!r})'

    def __reduce__(self):
        # Keep every field through pickling (Celery results, multiprocessing).
        return (type(self), (self.message, self.filename, self.lineno, self.col, self.hint, self.path))

    def as_dict(self) -> dict[str, Any]:
        """The error's fields as plain data, e.g. for a 400 response body."""
        return {
            'filename': self.filename,
            'lineno': self.lineno,
            'col': self.col,
            'message': self.message,
            'hint': self.hint,
            'text': str(self),
        }
