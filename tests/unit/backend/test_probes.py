"""``/healthz`` and ``/readyz`` for an orchestrator's probes: no login, no secrets in the body, an answer from a
probe that names the pod (not an allowed host) over plain HTTP behind TLS, and a failing check that is named —
within the timeout even when the other end never answers."""
import json
import os
import socket
import time

import pytest
from django.test import Client, override_settings

from tests.support.ports import free_port
from tests.support.stack_fixtures import REDIS_URL, require_service

BEHIND_TLS = {"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"), "SECURE_SSL_REDIRECT": True,
              "ALLOWED_HOSTS": ["trainyard.example.com"]}


@pytest.fixture
def redis_broker(settings):
    require_service(REDIS_URL, 6379, "Redis")
    settings.CELERY_BROKER_URL = REDIS_URL
    return REDIS_URL


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never says a word (a black-holed service)."""
    s = socket.socket()
    port = free_port()
    s.bind(("127.0.0.1", port))
    s.listen(16)  # never accepted: the kernel completes the handshakes, nobody reads or answers
    yield f"127.0.0.1:{port}"
    s.close()


def test_healthz_answers_without_a_login_and_without_asking_anything(db, settings):
    settings.RAY_ADDRESS = f"http://127.0.0.1:{free_port()}"  # nothing there: liveness does not care
    r = Client().get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r["Cache-Control"] == "no-store"


def test_readyz_names_each_check_and_the_one_that_fails(db, settings, redis_broker):
    settings.RAY_ADDRESS = f"http://127.0.0.1:{free_port()}"
    r = Client().get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "failed", "checks": {"database": "ok", "broker": "ok", "ray": "failed"},
                        "failed": ["ray"]}


def test_readyz_fails_the_broker_when_its_port_is_closed_and_keeps_addresses_out_of_the_body(db, settings):
    port = free_port()
    settings.CELERY_BROKER_URL = f"redis://:hunter2-secret@127.0.0.1:{port}/3"
    settings.RAY_ADDRESS = f"http://127.0.0.1:{free_port()}"
    r = Client().get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["broker"] == "failed" and body["checks"]["database"] == "ok"
    assert "broker" in body["failed"]
    text = r.content.decode()
    for secret in ("hunter2", str(port), "127.0.0.1", "redis://"):
        assert secret not in text


def test_a_ray_that_never_answers_fails_within_the_timeout(db, settings, redis_broker, silent_server):
    settings.RAY_ADDRESS = f"http://{silent_server}"
    settings.TRAINYARD_READYZ_TIMEOUT_SECONDS = 1.0
    started = time.monotonic()
    r = Client().get("/readyz")
    took = time.monotonic() - started
    assert r.status_code == 503 and r.json()["failed"] == ["ray"]
    assert took < 3.0, f"readyz took {took:.1f} s against a silent Ray"


def test_a_broker_that_never_answers_fails_within_the_timeout(db, settings, silent_server):
    settings.CELERY_BROKER_URL = f"redis://{silent_server}/0"
    settings.RAY_ADDRESS = f"http://127.0.0.1:{free_port()}"
    settings.TRAINYARD_READYZ_TIMEOUT_SECONDS = 1.0
    started = time.monotonic()
    r = Client().get("/readyz")
    assert r.status_code == 503 and set(r.json()["failed"]) == {"broker", "ray"}
    assert time.monotonic() - started < 3.0


def test_probes_answer_a_pod_address_over_plain_http_behind_tls(db, settings, redis_broker):
    settings.RAY_ADDRESS = f"http://127.0.0.1:{free_port()}"
    with override_settings(**BEHIND_TLS):
        probe = Client(HTTP_HOST="10.1.2.3:8000")  # a kubelet: the pod's address, no X-Forwarded-Proto
        assert probe.get("/healthz").status_code == 200
        assert probe.get("/readyz").json()["checks"]["database"] == "ok"
        assert probe.head("/healthz").status_code == 200
        # every other path still gets the host check and the redirect
        assert probe.get("/login/").status_code == 400
        assert Client(HTTP_HOST="trainyard.example.com").get("/login/").status_code == 301


def test_probes_refuse_writes(db):
    for path in ("/healthz", "/readyz"):
        r = Client().post(path, {"x": 1})
        assert r.status_code == 405 and r["Allow"] == "GET, HEAD"


def test_a_team_member_gets_what_anyone_gets(cast, settings, redis_broker):
    """No login is needed, and a login shows nothing more: the outsider, the viewer and the anonymous probe read
    the same body."""
    settings.RAY_ADDRESS = f"http://127.0.0.1:{free_port()}"
    bodies = {json.dumps(Client().get("/readyz").json(), sort_keys=True)}
    for name in ("outsider", "viewer", "owner"):
        bodies.add(json.dumps(cast.login(name).get("/readyz").json(), sort_keys=True))
        assert cast.login(name).get("/healthz").json() == {"status": "ok"}
    assert len(bodies) == 1


def test_the_embedded_broker_is_ready_when_its_folders_are_there(db, settings, tmp_path):
    folders = {key: str(tmp_path / key) for key in ("data_folder_in", "data_folder_out", "control_folder")}
    for folder in folders.values():
        os.makedirs(folder)
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = folders
    settings.RAY_ADDRESS = f"http://127.0.0.1:{free_port()}"
    assert Client().get("/readyz").json()["checks"]["broker"] == "ok"
    os.rmdir(folders["control_folder"])
    assert Client().get("/readyz").json()["checks"]["broker"] == "failed"
