"""The pages' tests use the backend tests' cast of users (``tests/support/cast.py``)."""
import pytest

from tests.support.cast import Cast


@pytest.fixture
def cast(db):
    return Cast()
