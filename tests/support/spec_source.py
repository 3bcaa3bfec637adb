"""Spec source text for the spec language's tests: dedent a snippet, and catch the SpecError a call raises."""

from __future__ import annotations

import textwrap

import pytest

from jobspecs import SpecError


def spec_error(call, *args, **kwargs) -> SpecError:
    """Call and return the SpecError it raises (failing if it raises nothing or else)."""
    with pytest.raises(SpecError) as info:
        call(*args, **kwargs)
    assert type(info.value) is SpecError
    return info.value


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip('\n')
