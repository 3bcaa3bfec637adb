from tests.unit.backend.conftest import cast  # noqa: F401  (the same cast of users)
