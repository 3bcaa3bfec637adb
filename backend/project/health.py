"""Probes for an orchestrator: ``/healthz`` (liveness: the process answers) and ``/readyz`` (readiness: the
database, the Celery broker and Ray's Jobs API answer), and the web's ``/metrics``.

``OperatorEndpointsMiddleware`` answers these three paths before any other middleware: a kubelet or Prometheus
names the pod's address as the host (not one of ``DJANGO_ALLOWED_HOSTS``) over plain HTTP (no HTTPS redirect
behind TLS), and none of them has a session. The bodies hold check names and ``ok``/``failed`` only: why a check
failed (an address, an error) goes to the log, never to the caller, who needs no authentication.

Each readiness check runs in a thread of its own, all at once, and counts as failed when it has not answered
within ``TRAINYARD_READYZ_TIMEOUT_SECONDS``: a black-holed host cannot hang the probe.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.http import HttpResponse, JsonResponse

log = logging.getLogger(__name__)

PROBE_HEADERS = {"Cache-Control": "no-store"}


def check_database(timeout: float) -> None:
    """``SELECT 1`` on a connection of this thread's own (closed afterwards)."""
    from django.db import connections

    conn = connections["default"]
    try:
        with conn.cursor() as cursor:
            if conn.vendor == "postgresql":
                cursor.execute("SET statement_timeout = %s", [int(timeout * 1000)])
            cursor.execute("SELECT 1")
            if cursor.fetchone()[0] != 1:
                raise RuntimeError("SELECT 1 did not answer 1")
    finally:
        conn.close()


def check_broker(timeout: float) -> None:
    """The Celery broker accepts a connection: Redis answers PING; the embedded broker's folders exist and can
    be written; another transport connects through kombu."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            if not client.ping():
                raise RuntimeError("Redis did not answer PING")
        finally:
            client.close()
    elif url.startswith("filesystem://"):
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            folder = options.get(key)
            if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
                raise RuntimeError(f"the broker folder {key} is missing or read-only")
    elif url.startswith("memory://"):
        return  # in this process: nothing to reach (tests, CELERY_TASK_ALWAYS_EAGER)
    else:
        from kombu import Connection

        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)


def check_ray(timeout: float) -> None:
    """Ray's Jobs API (the dashboard at ``RAY_ADDRESS``) answers ``/api/version`` with our token."""
    import requests

    from backend.experiments.ray_jobs import auth_token

    address = str(settings.RAY_ADDRESS).rstrip("/")
    if not address.startswith(("http://", "https://")):
        raise RuntimeError("RAY_ADDRESS is not the dashboard's http(s) URL")
    token = auth_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(f"{address}/api/version", headers=headers, timeout=(timeout, timeout),
                            allow_redirects=False)
    response.raise_for_status()


CHECKS = {"database": check_database, "broker": check_broker, "ray": check_ray}
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")


def readiness(timeout: float | None = None) -> dict[str, str]:
    """Each check's name and ``ok`` or ``failed``; the reason of a failure is logged."""
    timeout = settings.TRAINYARD_READYZ_TIMEOUT_SECONDS if timeout is None else timeout
    futures = {name: _pool.submit(check, timeout) for name, check in CHECKS.items()}
    results = {}
    for name, future in futures.items():
        try:
            # the checks run side by side: the slowest bounds the wait (plus a little for thread start-up)
            future.result(timeout=timeout + 0.5)
            results[name] = "ok"
        except FutureTimeout:
            log.warning("readyz: %s did not answer within %.1f s", name, timeout)
            results[name] = "failed"
        except Exception as exc:
            log.warning("readyz: %s failed: %s: %s", name, type(exc).__name__, exc)
            results[name] = "failed"
    return results


def healthz(request) -> HttpResponse:
    return JsonResponse({"status": "ok"}, headers=PROBE_HEADERS)


def readyz(request) -> HttpResponse:
    checks = readiness()
    failed = [name for name, result in checks.items() if result != "ok"]
    body = {"status": "failed" if failed else "ok", "checks": checks}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200, headers=PROBE_HEADERS)


def metrics_view(request) -> HttpResponse:
    from . import metrics

    if not metrics.allowed(request.META.get("HTTP_AUTHORIZATION"), request.META.get("REMOTE_ADDR"),
                           "HTTP_X_FORWARDED_FOR" in request.META):
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type, headers=PROBE_HEADERS)


ENDPOINTS = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}


class OperatorEndpointsMiddleware:
    """Answers ``ENDPOINTS`` (GET and HEAD; other methods 405) before the host check, the HTTPS redirect and the
    session; every other request goes on down the chain unchanged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = ENDPOINTS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        response = view(request)
        if request.method == "HEAD":
            response.content = b""
        return response


class RequestMetricsMiddleware:
    """Counts every response by method, route pattern (never the raw path) and status, with its time."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import time

        from . import metrics

        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if request.path_info in ENDPOINTS:
            route = request.path_info
        elif match is not None:
            route = "/" + (match.route or "")
        else:
            route = metrics.UNMATCHED
        try:
            metrics.count_request(request.method or "", route, response.status_code, time.perf_counter() - started)
        except Exception:  # counting must never cost a request its answer
            log.exception("metrics: could not count a request")
        return response
