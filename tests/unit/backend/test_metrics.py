"""Prometheus metrics on the web (``/metrics``) and the worker's port: who may read them, and that they count what
an operator watches — requests by route, runs and sweeps by state, the Celery queue's depth, ingestion."""
import urllib.error
import urllib.request

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from kombu import Connection

from backend.experiments.models import RunStatus
from backend.project import metrics
from tests.support.ports import free_port
from tests.support.scrape import sample

TOKEN = "metrics-token-" + "x" * 32


def scrape(client=None, **extra) -> str:
    r = (client or Client()).get("/metrics", **extra)
    assert r.status_code == 200, r.content
    assert r["Content-Type"].startswith("text/plain")
    return r.content.decode()


# --- who may read them ---------------------------------------------------------------------------------------


def test_without_a_token_only_the_loopback_reads_them_and_never_through_a_proxy(db, settings):
    settings.TRAINYARD_METRICS_TOKEN = ""
    assert "trainyard_runs" in scrape()  # the test client's address is 127.0.0.1
    assert Client().get("/metrics", REMOTE_ADDR="10.0.0.7").status_code == 404
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    proxied = Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")  # nginx always adds it
    assert proxied.status_code == 404
    assert Client().get("/metrics", REMOTE_ADDR="not-an-address").status_code == 404


def test_with_a_token_only_its_bearer_reads_them(cast, settings):
    settings.TRAINYARD_METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 404  # the loopback is not enough any more
    for header in ("Bearer wrong", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}", "Bearer "):
        assert Client().get("/metrics", HTTP_AUTHORIZATION=header).status_code == 404, header
    for name in ("outsider", "viewer", "owner"):  # a login is not the operator's token
        assert cast.login(name).get("/metrics").status_code == 404
    assert cast.clients["owner"].get("/metrics").status_code == 404  # nor is a personal API token
    text = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="10.0.0.7", HTTP_HOST="10.1.2.3:8000")
    assert "trainyard_runs" in text


def test_the_refusal_looks_like_a_missing_page(db, settings):
    settings.TRAINYARD_METRICS_TOKEN = TOKEN
    refused = Client().get("/metrics")
    missing = Client().get("/metricz")
    assert refused.status_code == missing.status_code == 404
    assert Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- what they count ------------------------------------------------------------------------------------------


def test_runs_and_sweeps_by_state_are_read_from_the_database_at_scrape_time(cast):
    for status in (RunStatus.QUEUED, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FAILED):
        cast.make_run(status=status)
    cast.make_sweep(status=RunStatus.RUNNING)
    text = scrape()
    assert sample(text, "trainyard_runs", state="queued") == 2
    assert sample(text, "trainyard_runs", state="running") == 1
    assert sample(text, "trainyard_runs", state="failed") == 1
    assert sample(text, "trainyard_runs", state="succeeded") == 0
    assert sample(text, "trainyard_sweeps", state="running") == 1
    assert sample(text, "trainyard_oldest_queued_seconds", kind="run") > 0
    assert sample(text, "trainyard_oldest_queued_seconds", kind="sweep") == 0
    assert sample(text, "trainyard_database_up") == 1
    cast.make_run(status=RunStatus.RUNNING)
    assert sample(scrape(), "trainyard_runs", state="running") == 2


def test_requests_are_counted_by_route_pattern_not_by_path(cast):
    run = cast.make_run()
    before = scrape()
    route = "/api/runs/(?P<pk>[0-9a-fA-F-]{36})$"
    key = {"method": "GET", "route": route, "status": "200"}
    n = sample(before, "trainyard_http_requests_total", **key) or 0
    assert cast.clients["viewer"].get(f"/api/runs/{run.pk}").status_code == 200
    assert cast.clients["outsider"].get(f"/api/runs/{run.pk}").status_code == 404
    for hostile in ("/../../etc/passwd", "/%00", "/" + "a" * 3000):
        Client().get(hostile)
    Client().generic("BREW", "/healthz")
    after = scrape()
    assert sample(after, "trainyard_http_requests_total", **key) == n + 1
    assert sample(after, "trainyard_http_requests_total", method="GET", route=route, status="404") >= 1
    assert sample(after, "trainyard_http_requests_total", method="other", route="/healthz", status="405") >= 1
    assert sample(after, "trainyard_http_requests_total", method="GET", route="<unmatched>", status="404") >= 3
    assert "passwd" not in after and "a" * 100 not in after and "BREW" not in after
    assert sample(after, "trainyard_http_request_duration_seconds_count", method="GET", route=route) >= 2


def test_ingestion_counts_batches_points_and_duplicates(cast):
    run = cast.make_run(status=RunStatus.DISPATCHING)
    client = cast.ingest_client(run)
    batch = {"session": "s1", "seq": 0, "logs": ["epoch 1"],
             "metrics": [{"mode": "train", "name": "loss", "step": s, "epoch": 1, "value": 1.0 / s}
                         for s in (1, 2, 3)]}
    before = scrape()

    def count(text, name, **labels):
        return sample(text, name, **labels) or 0

    for _ in range(2):  # the second is a re-sent batch: stored once
        assert client.post(f"/api/ingest/{run.pk}", batch, format="json").status_code == 200
    after = scrape()
    assert count(after, "trainyard_ingest_batches_total", outcome="stored") - \
        count(before, "trainyard_ingest_batches_total", outcome="stored") == 1
    assert count(after, "trainyard_ingest_batches_total", outcome="duplicate") - \
        count(before, "trainyard_ingest_batches_total", outcome="duplicate") == 1
    assert count(after, "trainyard_ingest_points_total") - count(before, "trainyard_ingest_points_total") == 3
    assert count(after, "trainyard_ingest_log_lines_total") - count(before, "trainyard_ingest_log_lines_total") == 1


def test_the_queue_depth_is_read_from_redis(db, redis_broker):
    assert sample(scrape(), "trainyard_celery_queue_length", queue="celery") == 0
    with Connection(redis_broker) as conn:
        queue = conn.SimpleQueue("celery")
        for i in range(3):
            queue.put({"n": i})
        queue.close()
    text = scrape()
    assert sample(text, "trainyard_celery_queue_length", queue="celery") == 3
    assert sample(text, "trainyard_broker_up") == 1


def test_a_dead_broker_shows_as_down_and_the_scrape_still_answers(db, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    text = scrape()
    assert sample(text, "trainyard_broker_up") == 0
    assert sample(text, "trainyard_celery_queue_length", queue="celery") is None
    assert sample(text, "trainyard_database_up") == 1


# --- the worker's port ----------------------------------------------------------------------------------------


def test_the_worker_port_is_off_by_default_and_never_open_beyond_the_loopback_without_a_token(settings):
    assert settings.TRAINYARD_WORKER_METRICS_PORT == 0
    assert metrics.prepare_worker_metrics() is None and metrics.start_worker_metrics() is None
    with pytest.raises(ImproperlyConfigured, match="TRAINYARD_METRICS_TOKEN"):
        metrics.check_worker_metrics_settings(9100, "0.0.0.0", "")
    metrics.check_worker_metrics_settings(9100, "0.0.0.0", TOKEN)
    metrics.check_worker_metrics_settings(9100, "127.0.0.1", "")
    with pytest.raises(ImproperlyConfigured, match="port"):
        metrics.check_worker_metrics_settings(70000, "127.0.0.1", TOKEN)


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_the_worker_port_serves_its_registry_to_the_tokens_bearer_only():
    from prometheus_client import CollectorRegistry, Counter

    registry = CollectorRegistry()
    Counter("trainyard_probe_things", "things", registry=registry).inc(7)
    port = free_port()
    server = metrics.serve(port, "127.0.0.1", TOKEN, registry)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert _get(url)[0] == 404
        assert _get(url, "wrong")[0] == 404
        status, text = _get(url, TOKEN)
        assert status == 200 and sample(text, "trainyard_probe_things_total") == 7
        assert _get(f"http://127.0.0.1:{port}/other", TOKEN)[0] == 404
    finally:
        server.shutdown()
        server.server_close()
