"""Prometheus metrics of the web process (``/metrics``) and of the Celery worker (its own port).

What each process counts as it works, in its own memory:

- the web: requests (``trainyard_http_requests_total`` by method, route pattern and status, and their duration),
  ingestion (``trainyard_ingest_batches_total`` by outcome, ``trainyard_ingest_points_total``,
  ``trainyard_ingest_log_lines_total``);
- the worker: dispatch latency (``trainyard_dispatch_latency_seconds``: a job's submission to its Ray job being
  submitted, first attempts) and its tasks (``trainyard_celery_tasks_total`` by task and outcome).

And what the web reads at scrape time (``ServiceCollector``): runs and sweeps by state from the database, the age
of the oldest queued run and sweep, and the depth of Celery's queue in the broker.

Access (``allowed``): with ``TRAINYARD_METRICS_TOKEN`` set, only ``Authorization: Bearer <token>``; unset, only a
request straight from the loopback (no proxy in between: nginx always adds ``X-Forwarded-For``). Anything else
gets a 404, the answer for a path that does not exist.

``prometheus_client`` is imported only when a metric is first used: the Celery worker must set
``PROMETHEUS_MULTIPROC_DIR`` (``start_worker_metrics``) before the library reads it, so that what its pool's
processes count reaches the parent's port.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import shutil
import tempfile
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; a dispatch waits for Celery, a team slot (quotas) and Ray's Jobs API.
DISPATCH_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # the route label of a request no URL pattern matched (hostile paths stay one series)

_lock = threading.Lock()
_metrics: dict[str, object] = {}


def _metric(kind: str, name: str, documentation: str, labels: tuple[str, ...] = (), **kw):
    """The process's metric ``name``, made on first use (``kind``: Counter, Histogram...)."""
    metric = _metrics.get(name)
    if metric is None:
        with _lock:
            metric = _metrics.get(name)
            if metric is None:
                import prometheus_client

                metric = _metrics[name] = getattr(prometheus_client, kind)(name, documentation, labels, **kw)
    return metric


# --- what the processes count ----------------------------------------------------------------------------------


def count_request(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    _metric("Counter", "trainyard_http_requests", "HTTP requests answered, by method, route pattern and status.",
            ("method", "route", "status")).labels(method, route, str(status)).inc()
    _metric("Histogram", "trainyard_http_request_duration_seconds",
            "Time to the response's headers (a stream's first byte), by method and route pattern.",
            ("method", "route"), buckets=REQUEST_BUCKETS).labels(method, route).observe(seconds)


def count_ingest(outcome: str, points: int = 0, lines: int = 0) -> None:
    """One reporter batch: ``stored``, ``duplicate`` (a re-sent batch, kept once) or ``stopped`` (the run was
    cancelled); ``points`` metric points and ``lines`` log lines stored with it."""
    _metric("Counter", "trainyard_ingest_batches", "Reporter batches received, by outcome.",
            ("outcome",)).labels(outcome).inc()
    if points:
        _metric("Counter", "trainyard_ingest_points", "Metric points received in stored batches.").inc(points)
    if lines:
        _metric("Counter", "trainyard_ingest_log_lines", "Log lines stored from reporter batches.").inc(lines)


def observe_dispatch(kind: str, seconds: float) -> None:
    """A job's Ray job was submitted ``seconds`` after the job was (``kind``: run, sweep, evaluation)."""
    _metric("Histogram", "trainyard_dispatch_latency_seconds",
            "From a job's submission to its Ray job's submission (first attempts), by kind.",
            ("kind",), buckets=DISPATCH_BUCKETS).labels(kind).observe(max(seconds, 0.0))


def count_task(task: str, outcome: str) -> None:
    _metric("Counter", "trainyard_celery_tasks", "Celery tasks run by this worker, by task name and outcome.",
            ("task", "outcome")).labels(task, outcome).inc()


# --- read at scrape time ---------------------------------------------------------------------------------------


def queue_length(broker_url: str, queue: str = "celery", timeout: float = 1.0) -> int | None:
    """Messages waiting in Celery's ``queue``: a Redis broker's lists (kombu keeps one per priority step), the
    embedded broker's files; None for another broker or one that cannot be read."""
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        import redis
        from kombu.transport.redis import PRIORITY_STEPS, Channel

        client = redis.Redis.from_url(broker_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            keys = [queue] + [f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step]
            pipe = client.pipeline()
            for key in keys:
                pipe.llen(key)
            return int(sum(pipe.execute()))
        finally:
            client.close()
    if broker_url.startswith("filesystem://"):
        folder = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("data_folder_in")
        if not folder or not os.path.isdir(folder):
            return None
        return sum(1 for name in os.listdir(folder) if name.endswith(f".{queue}.msg"))
    return None


class ServiceCollector:
    """The service's state, read when Prometheus scrapes: jobs by state, the oldest waiting, the queue's depth.
    A database or broker that does not answer shows as ``trainyard_database_up 0`` / ``trainyard_broker_up 0``
    (the scrape itself still succeeds)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        database_up = GaugeMetricFamily("trainyard_database_up", "1 if the database answered this scrape.")
        try:
            families = list(self._jobs())
            database_up.add_metric([], 1)
        except Exception as exc:  # DatabaseError and what a dead connection raises
            log.warning("metrics: the database did not answer: %s", exc)
            families = []
            database_up.add_metric([], 0)
        yield from families
        yield database_up

        broker_up = GaugeMetricFamily("trainyard_broker_up", "1 if the broker's queue could be read this scrape.")
        depth = GaugeMetricFamily("trainyard_celery_queue_length", "Messages waiting in a Celery queue.",
                                  labels=["queue"])
        try:
            length = queue_length(settings.CELERY_BROKER_URL, timeout=settings.TRAINYARD_READYZ_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("metrics: the broker's queue could not be read: %s", type(exc).__name__)
            length = None
            broker_up.add_metric([], 0)
        else:
            broker_up.add_metric([], 1 if length is not None else 0)
        if length is not None:
            depth.add_metric(["celery"], length)
            yield depth
        yield broker_up

    @staticmethod
    def _jobs():
        from django.db.models import Count, Min
        from django.utils import timezone
        from prometheus_client.core import GaugeMetricFamily

        from backend.experiments.models import Run, RunStatus, Sweep

        now = timezone.now()
        oldest = GaugeMetricFamily("trainyard_oldest_queued_seconds",
                                   "Age of the oldest job still queued (0: none), by kind.", labels=["kind"])
        for model, name in ((Run, "runs"), (Sweep, "sweeps")):
            family = GaugeMetricFamily(f"trainyard_{name}", f"{name.capitalize()} by state.", labels=["state"])
            counts = dict(model.objects.order_by().values_list("status").annotate(n=Count("pk")))
            for state in RunStatus.values:
                family.add_metric([state], counts.get(state, 0))
            yield family
            first = model.objects.filter(status=RunStatus.QUEUED).aggregate(t=Min("created_at"))["t"]
            oldest.add_metric([name[:-1]], (now - first).total_seconds() if first else 0)
        yield oldest


_service = None


def exposition() -> tuple[bytes, str]:
    """The web's metrics page and its content type: this process's metrics (all processes' with
    ``PROMETHEUS_MULTIPROC_DIR``) and the service's state."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    global _service
    if _service is None:
        _service = CollectorRegistry(auto_describe=False)
        _service.register(ServiceCollector())
    return _process_exposition(REGISTRY) + generate_latest(_service), CONTENT_TYPE_LATEST


def _process_exposition(default) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(default)


# --- who may read them -----------------------------------------------------------------------------------------


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").strip()).is_loopback
    except ValueError:
        return False


def allowed(authorization: str | None, remote_addr: str | None, forwarded: bool, token: str | None = None) -> bool:
    """Whether a request may read the metrics: the bearer ``token`` when one is set (compared in constant time),
    else only a request from the loopback that no proxy forwarded."""
    token = settings.TRAINYARD_METRICS_TOKEN if token is None else token
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme == "Bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return _is_loopback(remote_addr) and not forwarded


# --- the Celery worker's port ----------------------------------------------------------------------------------


def check_worker_metrics_settings(port: int, addr: str, token: str) -> None:
    """Refuse a worker metrics port open beyond the loopback without a token (anyone on the network would read
    the service's counts)."""
    if not 0 <= port <= 65535:
        raise ImproperlyConfigured(f"TRAINYARD_WORKER_METRICS_PORT must be 0 (off) or a port, not {port}.")
    if port and not token and not _is_loopback(addr):
        raise ImproperlyConfigured(
            f"TRAINYARD_WORKER_METRICS_ADDR={addr} serves the worker's metrics beyond the loopback: set "
            "TRAINYARD_METRICS_TOKEN (Prometheus sends it as a bearer token) or bind 127.0.0.1.")


def prepare_worker_metrics() -> str | None:
    """In the worker's main process, before its pool starts: name a folder where every pool process writes its
    metrics (``PROMETHEUS_MULTIPROC_DIR``: the operator's, or a fresh one of ours).

    Returns:
        The folder to remove when the worker stops (ours), or None (the port is off, or the folder is the
        operator's).
    """
    if not settings.TRAINYARD_WORKER_METRICS_PORT:
        return None
    check_worker_metrics_settings(settings.TRAINYARD_WORKER_METRICS_PORT, settings.TRAINYARD_WORKER_METRICS_ADDR,
                                  settings.TRAINYARD_METRICS_TOKEN)
    ours = None
    if not os.environ.get(MULTIPROC_ENV):
        ours = tempfile.mkdtemp(prefix="trainyard-worker-metrics-")
        os.environ[MULTIPROC_ENV] = ours
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)
    import sys

    if "prometheus_client.values" in sys.modules:
        # Imported before the folder was named (not by this code base): make the metrics made from now on write
        # to the folder, as they would had the variable been set first.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
    return ours


def serve(port: int, addr: str, token: str, registry):
    """Serve ``registry`` at ``http://addr:port/metrics`` in a daemon thread, under the same access rule as the
    web's ``/metrics``; returns the server (``shutdown()`` stops it)."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app

    metrics_app = make_wsgi_app(registry)

    def app(environ, start_response):
        ok = environ.get("PATH_INFO") in ("/", "/metrics") and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
        if ok and allowed(environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR"),
                          bool(environ.get("HTTP_X_FORWARDED_FOR")), token=token):
            return metrics_app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found\n"]

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):  # one line per scrape would drown the worker's log
            pass

    server = make_server(addr, port, app, Server, QuietHandler)
    threading.Thread(target=server.serve_forever, name="trainyard-worker-metrics", daemon=True).start()
    return server


def start_worker_metrics():
    """The worker's metrics port (``TRAINYARD_WORKER_METRICS_PORT``), serving what every pool process counted."""
    if not settings.TRAINYARD_WORKER_METRICS_PORT:
        return None
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    server = serve(settings.TRAINYARD_WORKER_METRICS_PORT, settings.TRAINYARD_WORKER_METRICS_ADDR,
                   settings.TRAINYARD_METRICS_TOKEN, registry)
    log.info("worker metrics on http://%s:%s/metrics", settings.TRAINYARD_WORKER_METRICS_ADDR,
             server.server_address[1])
    return server


def pool_process_ended(pid: int) -> None:
    """A pool process exited: its live gauges no longer count (counters and histograms stay summed)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def remove_worker_metrics(folder: str | None) -> None:
    if folder:
        shutil.rmtree(folder, ignore_errors=True)

