"""The cast of every backend test (``tests/support/cast.py``): an owner, a member, a viewer of team A, and an
outsider (owner of team B), each with an API client authenticated with a personal token."""
import pytest

from tests.support.cast import Cast


@pytest.fixture
def cast(db):
    return Cast()
