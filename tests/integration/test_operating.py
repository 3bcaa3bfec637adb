"""The operator's view against real services: ``/readyz`` ready on PostgreSQL, Redis and a Ray head (and not
with a token the head refuses), the dispatch latency of a real Ray submission, and a Celery worker (prefork, on
Redis and PostgreSQL) serving on its metrics port what its pool process counted."""
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection
from django.test import Client

from backend.experiments import lifecycle
from backend.experiments.models import RunStatus
from backend.experiments.tokens import issue_ingest_token
from backend.project import metrics
from tests.support.cast import Cast
from tests.support.ports import free_port
from tests.support.scrape import sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "worker-metrics-" + "y" * 32


@pytest.fixture
def ray(ray_head, monkeypatch, settings):
    settings.RAY_ADDRESS = ray_head["RAY_ADDRESS"]
    monkeypatch.setenv("RAY_AUTH_TOKEN", ray_head["RAY_AUTH_TOKEN"])
    return ray_head


def test_it_is_ready_on_postgresql_redis_and_ray(ray, redis_broker):
    r = Client().get("/readyz")
    assert r.status_code == 200, r.content
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "ray": "ok"}}


def test_it_is_not_ready_when_ray_refuses_its_token(ray, redis_broker, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-clusters-token")
    r = Client().get("/readyz")
    assert r.status_code == 503 and r.json()["failed"] == ["ray"]


def test_a_real_submission_is_timed_from_submit_to_dispatch(ray):
    run = Cast().make_run(status=RunStatus.DISPATCHING)
    before = sample(metrics.exposition()[0].decode(), "trainyard_dispatch_latency_seconds_count", kind="run") or 0
    assert lifecycle.submit_job(run, "python -c \"print('hello')\"", {}, issue_ingest_token(run))
    text = metrics.exposition()[0].decode()
    assert sample(text, "trainyard_dispatch_latency_seconds_count", kind="run") == before + 1
    # a redelivered dispatch (Ray already has the job) is not a second dispatch
    assert not lifecycle.submit_job(run, "python -c \"print('hello')\"", {}, issue_ingest_token(run))
    assert sample(metrics.exposition()[0].decode(), "trainyard_dispatch_latency_seconds_count", kind="run") == \
        before + 1


def _scrape(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


def test_a_prefork_worker_serves_what_its_pool_counted(redis_broker, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the suite's PostgreSQL test database")
    db = connection.settings_dict
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "TRAINYARD_", "PYTEST_", "DATABASE_URL", "CELERY_"))}
    env.update(DJANGO_SETTINGS_MODULE="backend.project.settings", DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
               TRAINYARD_VAR=str(tmp_path / "var"), CELERY_BROKER_URL=redis_broker,
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
               RAY_ADDRESS=f"http://127.0.0.1:{free_port()}", TRAINYARD_WORKER_METRICS_PORT=str(port),
               TRAINYARD_WORKER_METRICS_ADDR="0.0.0.0", TRAINYARD_METRICS_TOKEN=TOKEN)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "backend.project", "worker", "--pool=prefork",
                               "--concurrency=1", "--loglevel=INFO", "--without-mingle", "--without-gossip"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        sender = Celery()  # its broker_url would come from CELERY_BROKER_URL (the suite's memory://): name it here
        with sender.connection_for_write(url=redis_broker) as conn:
            sender.send_task("backend.experiments.tasks.dispatch_run", args=[str(uuid.uuid4())], connection=conn)
        key = {"task": "backend.experiments.tasks.dispatch_run", "outcome": "success"}
        deadline, text = time.monotonic() + 120, ""
        while time.monotonic() < deadline and worker.poll() is None:
            status, text = _scrape(url, TOKEN)
            if status == 200 and sample(text, "trainyard_celery_tasks_total", **key) == 1:
                break
            time.sleep(0.5)
        assert sample(text, "trainyard_celery_tasks_total", **key) == 1, (tmp_path / "worker.log").read_text()
        assert _scrape(url, None)[0] == 404 and _scrape(url, "wrong")[0] == 404
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
    assert _scrape(url, TOKEN)[0] == 0  # the port closed with the worker
