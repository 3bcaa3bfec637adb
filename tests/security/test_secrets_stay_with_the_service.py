"""The cluster's keys stay with the service: the web process refuses to start on a secret key anyone can know,
and a Ray job's processes hold neither the Ray cluster's token nor anything but their own run's.

The settings are tried in fresh interpreters (``django.setup()`` with ``backend.project.settings``), as the web
process, Celery and ``manage.py`` import them; the job's environment is read from ``/proc/<pid>/environ`` of
the processes of a real run on the shared attack stack (a Ray head with token auth, PostgreSQL, Redis).
"""
import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN_KEY = "trainyard-embedded-insecure-key-change-me"
PLACEHOLDER = "change-me-to-a-long-random-string"  # .env.example's


def _setup(tmp_path, **env) -> subprocess.CompletedProcess:
    """``django.setup()`` on the production settings, in a var dir of its own; prints the key's SHA-256."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "backend.project.settings", "TRAINYARD_VAR": str(tmp_path / "var"),
                  "DJANGO_DEBUG": "false", **env})
    code = ("import hashlib, django; django.setup(); from django.conf import settings; "
            "print(hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest())")
    return subprocess.run([sys.executable, "-c", code], env=clean, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("key", [BUILT_IN_KEY, PLACEHOLDER, "short-but-not-empty"])
def test_it_refuses_to_start_on_a_key_anyone_can_know(tmp_path, key):
    done = _setup(tmp_path, DJANGO_SECRET_KEY=key)
    assert done.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: The secret key from DJANGO_SECRET_KEY" in done.stderr
    assert "Set DJANGO_SECRET_KEY to a long random string" in done.stderr


def test_it_allows_the_built_in_key_only_in_debug(tmp_path):
    done = _setup(tmp_path, DJANGO_SECRET_KEY=BUILT_IN_KEY, DJANGO_DEBUG="true")
    assert done.returncode == 0, done.stderr


def test_it_generates_a_key_once_into_var_and_keeps_it(tmp_path):
    first = _setup(tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    key = key_file.read_text().strip()
    assert len(key) >= 50 and key not in (BUILT_IN_KEY, PLACEHOLDER)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.stdout.strip() == hashlib.sha256(key.encode()).hexdigest()
    again = _setup(tmp_path)
    assert again.stdout.strip() == first.stdout.strip()  # a later start (Celery, the web) reads the same key


def test_it_refuses_a_generated_key_someone_shortened(tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text("x" * 10)
    done = _setup(tmp_path)
    assert done.returncode != 0 and f"The secret key from {tmp_path / 'var' / 'secret_key'}" in done.stderr


# --- a running job's processes -----------------------------------------------------------------------------


def _environ(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "environ").read_bytes()
    except OSError:  # gone, or not ours
        return b""


def _job_processes(run_id: str) -> dict[int, str]:
    """pid -> command line of every process of the run's Ray job: its driver (``workers.distributed.launch``)
    and whatever Ray started with the job's environment (the train workers, ``ray::RayTrainWorker``)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "workers.distributed.launch" in cmdline or f"TRAINYARD_RUN_ID={run_id}".encode() in _environ(
                int(entry.name)):
            found[int(entry.name)] = cmdline
    return found


@pytest.mark.integration
def test_a_running_jobs_processes_hold_neither_the_cluster_token_nor_another_secret(attack_stack, ray_head):
    ray_token = ray_head["RAY_AUTH_TOKEN"]
    assert ray_token and Path(ray_head["RAY_AUTH_TOKEN_PATH"]).read_text().strip() == ray_token
    service_key = (attack_stack.stack.env.get("DJANGO_SECRET_KEY")
                   or (attack_stack.stack.var_dir / "secret_key").read_text().strip())  # the web's key
    run = attack_stack.submit(name="environ", resources={"num_workers": 2},
                              cfg_options={"runner.max_epochs": 3})
    deadline = time.monotonic() + 300
    procs: dict[int, str] = {}
    while time.monotonic() < deadline:
        procs = {pid: cmd for pid, cmd in _job_processes(run["id"]).items()
                 if f"TRAINYARD_RUN_ID={run['id']}".encode() in _environ(pid)}
        workers = [cmd for cmd in procs.values() if "RayTrainWorker" in cmd]
        if any("workers.distributed.launch" in cmd for cmd in procs.values()) and len(workers) >= 2:
            break
        time.sleep(0.5)
    try:
        assert len([c for c in procs.values() if "RayTrainWorker" in c]) >= 2, (procs, attack_stack.logs_tail())
        environs = {pid: _environ(pid) for pid in procs}
        tokens = {line.split(b"=", 1)[1].decode() for environ in environs.values() for line in environ.split(b"\0")
                  if line.startswith(b"TRAINYARD_RUN_TOKEN=")}
        assert len(tokens) == 1, tokens  # each process of the job holds its run's token, the same one
        run_token = tokens.pop()
        for pid, environ in environs.items():
            assert ray_token.encode() not in environ, f"the Ray token is in the environment of {procs[pid]}"
            assert service_key.encode() not in environ, f"the service's secret key reached {procs[pid]}"
            assert b"RAY_AUTH_TOKEN=" not in environ
        # what the run shows its team carries neither token
        for path in (f"/api/runs/{run['id']}", f"/api/runs/{run['id']}/logs",
                     f"/api/runs/{run['id']}/checkpoints", f"/api/runs/{run['id']}/metrics"):
            body = attack_stack.api("GET", path).text
            assert ray_token not in body and run_token not in body, path
    finally:
        attack_stack.api("POST", f"/api/runs/{run['id']}/cancel")
        attack_stack.wait_for(run["id"], lambda r: r["status"] in ("cancelled", "succeeded", "failed"), 120,
                              "the run to end")
