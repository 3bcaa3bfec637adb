"""Real services for tests: a local Ray head (one per test process), PostgreSQL, Redis, and the stack's processes
(uvicorn + Celery worker/beat) started exactly as ``manage.py up`` starts them. Registered as a pytest
plugin by the root conftest, so ``tests/integration`` and ``tests/security`` use the same ones.

Side by side (pytest-xdist's workers, or two suites on one machine) nothing is shared: each test process starts
its own Ray head (no more CPUs than the machine has), each stack gets its own PostgreSQL database, Redis
database (``isolation.claim_redis_db``), ports and var/ folder (under the worker's temp dir).

With ``CI=true`` a missing PostgreSQL or Redis fails these tests; elsewhere they are skipped.
"""
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from backend.stack import Stack

from .isolation import claim_redis_db, ray_cpus
from .live import create_database, drop_database, start_live_stack
from .ports import free_port
from .s3 import CREDENTIALS

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"
# The fixtures that start Ray or a whole stack: a test using one is an integration test (tests/conftest.py).
LIVE_FIXTURES = frozenset({"ray_head", "pg_stack", "embedded_stack", "attack_stack"})


def require_service(url: str, default_port: int, what: str) -> None:
    """Skip (fail in CI) when the service at ``url`` does not accept connections."""
    p = urlparse(url)
    try:
        with socket.create_connection((p.hostname, p.port or default_port), timeout=3):
            return
    except OSError as exc:
        msg = f"{what} at {url} is unreachable ({exc})"
        if IN_CI:
            pytest.fail(msg + "; CI requires it")
        pytest.skip(msg)


@contextmanager
def pg_live_stack(var: Path, ray_env: dict, extra_env: dict | None = None, *, what: str = "stack"):
    """A stack on PostgreSQL + Redis (production settings) in a database of its own and a Redis database of its
    own, for as long as the ``with`` lasts; ``live.redis_url`` is its broker."""
    require_service(PG_URL, 5432, "PostgreSQL")
    require_service(REDIS_URL, 6379, "Redis")
    db_url = create_database(PG_URL)
    redis = claim_redis_db(REDIS_URL, what)
    try:
        live = start_live_stack(var, ray_env, {"DATABASE_URL": db_url, "CELERY_BROKER_URL": redis.url,
                                               **(extra_env or {})})
        live.redis_url = redis.url
        try:
            yield live
        finally:
            live.stack.stop()
    finally:
        redis.release()
        drop_database(PG_URL, db_url)


@pytest.fixture
def redis_broker(settings, request):
    """A Redis database of this test's own as the Celery broker (``settings.CELERY_BROKER_URL``); yields its URL."""
    require_service(REDIS_URL, 6379, "Redis")
    claim = claim_redis_db(REDIS_URL, request.node.module.__name__.rsplit(".", 1)[-1])
    settings.CELERY_BROKER_URL = claim.url
    yield claim.url
    claim.release()


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """A Ray head with token auth; yields the env (RAY_ADDRESS, RAY_AUTH_*) that stacks need.

    The head reads its token from a file (``RAY_AUTH_TOKEN_PATH``); ``RAY_AUTH_TOKEN`` here is for the tests'
    own Jobs API clients and the stacks' service processes, never for a Ray process."""
    var = tmp_path_factory.mktemp("ray")
    stack = Stack(var_dir=var)
    for key, value in CREDENTIALS.items():  # a job opens a bucket with its node's credentials (moto's dummies)
        stack.env.setdefault(key, value)
    dashboard_port = free_port()  # start_ray names it as RAY_API_SERVER_ADDRESS too (see there)
    try:
        stack.start_ray(dashboard_port=dashboard_port, num_cpus=ray_cpus())
    except BaseException:
        stack.stop()
        raise
    env = {k: stack.env[k] for k in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH") if k in stack.env}
    env["RAY_AUTH_TOKEN"] = stack.ray_auth_token
    yield env
    stack.stop()


@pytest.fixture(scope="session")
def pg_stack(ray_head, tmp_path_factory):
    """The stack on PostgreSQL + Redis (production settings), in a database of its own, shared by the modules of
    the Ray lane that use it (a stack costs ~15 s and ~20 CPU-s to start): tests find their own objects by id and
    leave no job running (a cancelled run or sweep is waited for until it ended)."""
    with pg_live_stack(tmp_path_factory.mktemp("pg"), ray_head, what="pg_stack") as live:
        yield live


@pytest.fixture(scope="session")
def embedded_stack(ray_head, tmp_path_factory):
    """The stack on the embedded defaults: SQLite under var/ and the filesystem:// broker; shared like
    ``pg_stack`` (a test that stops one of its processes starts it again)."""
    live = start_live_stack(tmp_path_factory.mktemp("embedded"), ray_head, {})
    yield live
    live.stack.stop()


@pytest.fixture(scope="session")
def attack_stack(ray_head, tmp_path_factory):
    """One stack on PostgreSQL + Redis for every test of ``tests/security`` that attacks through the public
    API: ``attack_stack`` is the demo team's client (the victim), ``attack_stack.attacker`` an owner of a
    second team, ``attack_stack.viewer`` a viewer of the demo team. Tests must leave it usable for the next."""
    with pg_live_stack(tmp_path_factory.mktemp("attack"), ray_head, what="attack_stack") as live:
        live.attacker = live.client_for("mallory", "intruders")
        live.viewer = live.client_for("vic", "demo", role="viewer")
        yield live

