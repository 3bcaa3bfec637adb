"""Schemathesis against /api/schema/: generated requests to every operation never get a 5xx.

The schema is loaded from the WSGI app itself and each operation's cases are sent in-process (same
test database), as the owner of team A with a personal token, on a database holding a run, its
checkpoint, a sweep and the cast's datasets. A bounded number of examples per operation keeps it fast.
"""
import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = 12
# The submits validate (and for a library spec, load) every generated spec: fewer examples keep them
# short. Their dispatch waits for the commit, which a test's transaction never makes.
SKIP: set = set()
SUBMITS = {("POST", "/api/runs"), ("POST", "/api/sweeps")}


@pytest.fixture
def schema():
    """The schema, served by the app; requests reach the app in-process through WSGI.

    As Django's test client does, the handler that closes the database connection at the end of a
    request is off meanwhile: the test's transaction lives on that connection.
    """
    from django.core import signals
    from django.db import close_old_connections

    from backend.project.wsgi import application

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


def _known_ids(cast) -> dict:
    """Real objects for the path parameters, so generated queries and bodies reach real rows too."""
    from backend.accounts.models import ApiToken, Membership
    from backend.experiments.models import Checkpoint, RunStatus, Sweep
    from workers.distributed.sweep import normalise

    run = cast.make_run(status=RunStatus.RUNNING)
    ckpt = Checkpoint.objects.create(run=run, path="runs/none.pth", epoch=1, iteration=1)
    sweep = Sweep.objects.create(
        team=cast.team, created_by=cast.users["owner"], name="s", dataset=cast.dataset, spec_text="x = 1",
        resolved_spec={"x": 1}, spec_hash="0" * 64,
        config=normalise({"space": {"optimizer.lr": {"type": "choice", "values": [0.1, 0.01]}}}))
    spare, _ = ApiToken.issue(cast.users["owner"], "spare")  # revoking it must not log the test out
    return {
        "runs": {"id": str(run.pk), "ckpt_id": str(ckpt.pk)}, "sweeps": {"id": str(sweep.pk)},
        "datasets": {"id": str(cast.dataset.pk)}, "tokens": {"id": str(spare.pk)},
        "teams": {"slug": "team-a", "member_id": str(Membership.objects.get(user=cast.users["viewer"]).pk)},
        "ingest": {"run_id": str(run.pk), "sweep_id": str(sweep.pk)},
    }


def _checker(op, real: dict, token: str, failures: list, calls: list):
    examples = 6 if (op.method.upper(), op.path) in SUBMITS else EXAMPLES

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=op.as_strategy())
    def check(case):
        for params in ({}, real):  # as generated, then on real objects
            if params and not case.path_parameters:
                continue
            if params:
                case.path_parameters = {k: params.get(k, v) for k, v in case.path_parameters.items()}
            response = case.call(headers={"Authorization": token})
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{response.text[:200]}")
    return check


def test_it_never_answers_5xx(cast, schema):
    known = _known_ids(cast)
    token = cast.clients["owner"]._credentials["HTTP_AUTHORIZATION"]
    failures, calls, operations = [], [], 0
    for op in _operations(schema):
        _checker(op, known.get(op.path.split("/")[2], {}), token, failures, calls)()
        operations += 1
    assert operations >= 20 and len(calls) >= 10 * operations
    assert sum(200 <= c < 300 for c in calls) >= 100  # real objects were reached, not only 404s
    assert not failures, "\n".join(failures[:20])
