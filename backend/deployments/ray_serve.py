"""The backend's door to Ray Serve, over HTTP only (the web process imports neither Ray nor torch):

- the dashboard's Serve API (``GET /api/serve/applications/``, on ``RAY_ADDRESS`` with the Jobs API's token):
  which applications exist, their status and replicas, and the port of Serve's HTTP proxy;
- Serve's HTTP proxy (``TRAINYARD_SERVE_URL``, else the head's host and that port): the predictions.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from django.conf import settings

from backend.experiments.ray_jobs import RayUnavailable, auth_token

_PROXY_CACHE: dict[str, tuple[float, str]] = {}
_SESSION = requests.Session()  # keeps connections to the proxy open between predictions


@dataclass
class AppState:
    """One Serve application as the dashboard reports it."""

    status: str  # NOT_STARTED | DEPLOYING | DEPLOY_FAILED | RUNNING | UNHEALTHY | DELETING
    message: str = ""
    replicas: dict[str, int] = field(default_factory=dict)  # replica state -> how many

    @property
    def running_replicas(self) -> int:
        return self.replicas.get("RUNNING", 0)


def deployment_key(deployment_id) -> str:
    """The key a deployment's requests carry (derived from the server's secret: never stored)."""
    return hmac.new(settings.SECRET_KEY.encode(), f"trainyard-deployment:{deployment_id}".encode(),
                    hashlib.sha256).hexdigest()


def _headers() -> dict:
    token = auth_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def instance(timeout: float = 10.0) -> dict:
    """The dashboard's ``ServeInstanceDetails`` (``applications`` is empty when Serve is not running).

    Raises:
        RayUnavailable: the dashboard could not be reached or did not answer.
    """
    url = settings.RAY_ADDRESS.rstrip("/") + "/api/serve/applications/"
    try:
        r = requests.get(url, headers=_headers(), timeout=timeout)
    except requests.RequestException as exc:
        raise RayUnavailable(f"Ray's dashboard at {settings.RAY_ADDRESS} is unreachable: {exc}") from exc
    if r.status_code != 200:
        raise RayUnavailable(f"Ray's Serve API answered {r.status_code}: {r.text[:200]}")
    try:
        return r.json()
    except ValueError as exc:
        raise RayUnavailable(f"Ray's Serve API answered something else than JSON: {r.text[:200]}") from exc


def applications(details: dict | None = None) -> dict[str, AppState]:
    """The Serve applications of the cluster by name."""
    details = details if details is not None else instance()
    apps = {}
    for name, app in (details.get("applications") or {}).items():
        replicas: dict[str, int] = {}
        for dep in (app.get("deployments") or {}).values():
            for replica in dep.get("replicas") or []:
                state = str(replica.get("state", "UNKNOWN"))
                replicas[state] = replicas.get(state, 0) + 1
        apps[name] = AppState(status=str(app.get("status", "")), message=app.get("message") or "", replicas=replicas)
    return apps


def proxy_url() -> str:
    """Serve's HTTP proxy as the web process reaches it (the port asked of the dashboard, kept a minute)."""
    if settings.TRAINYARD_SERVE_URL:
        return settings.TRAINYARD_SERVE_URL.rstrip("/")
    cached = _PROXY_CACHE.get(settings.RAY_ADDRESS)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    port = (instance().get("http_options") or {}).get("port")
    if not port:
        raise RayUnavailable("Ray Serve is not running on the cluster")
    url = f"http://{urlsplit(settings.RAY_ADDRESS).hostname or '127.0.0.1'}:{port}"
    _PROXY_CACHE[settings.RAY_ADDRESS] = (time.monotonic() + 60, url)
    return url


@dataclass
class ProxyAnswer:
    status: int
    body: dict


def predict(deployment, files: list[tuple[str, bytes]], timeout: float = 60.0, *, kind: str = "predict",
            method: str | None = None) -> ProxyAnswer:
    """Send ``(name, bytes)`` files to the deployment's application (the wire format of ``workers.serve.app``).

    Args:
        kind: ``predict``, or ``cam`` (the class activation map of one image, by ``method``).

    Raises:
        RayUnavailable: the proxy could not be reached.
    """
    headers = {"X-Trainyard-Key": deployment_key(deployment.pk), "X-Trainyard-Kind": kind,
               "X-Trainyard-Sizes": ",".join(str(len(content)) for _, content in files),
               "X-Trainyard-Names": json.dumps([name for name, _ in files]),
               "Content-Type": "application/octet-stream"}
    if method:
        headers["X-Trainyard-Method"] = method
    body = b"".join(content for _, content in files)
    url = proxy_url() + deployment.route_prefix
    try:
        r = _SESSION.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        _PROXY_CACHE.pop(settings.RAY_ADDRESS, None)  # Serve may have restarted on another port
        raise RayUnavailable(f"Ray Serve's proxy at {url} is unreachable: {exc}") from exc
    try:
        payload = r.json()
    except ValueError:
        payload = {"detail": r.text[:500]}
    return ProxyAnswer(r.status_code, payload if isinstance(payload, dict) else {"detail": str(payload)})
