"""Schemathesis against /api/schema/: generated requests to every operation never get a 5xx.

The schema is loaded from the WSGI app itself and each operation's cases are sent in-process (same
test database), as the owner of team A with a personal token, on a database holding a run, its
checkpoint, a sweep and the cast's datasets. A bounded number of examples per operation keeps it fast.
"""
import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = 12
# Operations whose requests would leave the process or run long: submits dispatch a Ray job on
# commit (not in a test's transaction, but validating every generated spec costs seconds each).
SKIP = {("POST", "/api/runs"), ("POST", "/api/sweeps")}


@pytest.fixture
def schema():
    """The schema, served by the app; requests reach the app in-process through WSGI.

    As Django's test client does, the handler that closes the database connection at the end of a
    request is off meanwhile: the test's transaction lives on that connection.
    """
    from django.core import signals
    from django.db import close_old_connections

    from backend.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _operations(schema):
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) not in SKIP:
            yield op


def test_it_never_answers_5xx(cast, schema):
    from backend.experiments.models import Checkpoint, RunStatus

    run = cast.make_run(status=RunStatus.RUNNING)
    Checkpoint.objects.create(run=run, path="runs/none.pth", epoch=1, iteration=1)
    token = cast.clients["owner"]._credentials["HTTP_AUTHORIZATION"]
    failures, tried = [], 0
    for op in _operations(schema):
        strategy = op.as_strategy()

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=strategy)
        def check(case):
            response = case.call(headers={"Authorization": token})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{response.text[:200]}")

        check()
        tried += 1
    assert tried >= 20
    assert not failures, "\n".join(failures[:20])
