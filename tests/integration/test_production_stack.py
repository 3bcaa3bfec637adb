"""A production-shaped Trainyard on this machine (issue #18, item 6): ``infra/Procfile``'s processes run by honcho
on PostgreSQL and Redis, beside a Ray head started apart from the service (the session's ``ray_head``), with the
settings exactly as ``.env.example`` gives them but for what a test on this machine must change; first setup with
the operator's commands (README "Operating Trainyard"), a run and a sweep through the API, the health and metrics
endpoints, and a SIGTERM that leaves no process behind. It fails when ``infra/``, ``.env.example``, the README and
the code drift apart."""
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from backend.stack import wait_http
from tests.support.isolation import claim_redis_db
from tests.support.live import ONE_WORKER, create_database, drop_database
from tests.support.ports import free_port
from tests.support.scrape import sample, samples
from tests.support.stack_fixtures import PG_URL, REDIS_URL, require_service
from tests.support.sweeps import SWEEP_SPEC, TERMINAL

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's: an operator runs the Procfile with the venv activated
RUN_SPEC = "demo/resnet18-tiny_2xb32-6e_digits.py"
TEAM = "Production check"
ONE_EPOCH = {"runner.max_epochs": 1}
# Variables that configure Trainyard, Django, Celery or Ray: none may reach the service from the test's own
# environment (pytest-django's settings module, another stack's broker), only from .env.example and the overrides.
SETTING_PREFIXES = ("DJANGO_", "TRAINYARD_", "RAY_", "CELERY_", "DATABASE_URL", "PROMETHEUS_", "PYTEST_")


def env_example() -> dict[str, str]:
    """The settings of ``.env.example``, as an operator copies them: its ``KEY=VALUE`` lines, comments skipped."""
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def overrides(var: Path, *, database_url: str, redis_url: str, ray: dict, port: int, worker_metrics_port: int,
              metrics_token: str) -> dict[str, str]:
    """What a test on this machine must change in ``.env.example``, each for the reason given."""
    return {
        "DATABASE_URL": database_url,  # a fresh database of this test's own, dropped at its end
        "CELERY_BROKER_URL": redis_url,  # a Redis database of its own (isolation.claim_redis_db)...
        "TRAINYARD_CACHE_URL": redis_url,  # ...shared with the cache: Django's keys (":1:...") and Celery's differ
        # its folders under the test's tmp dir instead of /var/lib, /mnt and /var/tmp
        "TRAINYARD_VAR": str(var / "var"),
        "TRAINYARD_STORAGE": str(var / "storage"),
        "TRAINYARD_SCRATCH": str(var / "scratch"),
        # the operator's cluster: the session's Ray head, started apart from the service with its own token
        "RAY_ADDRESS": ray["RAY_ADDRESS"],
        "RAY_AUTH_TOKEN": ray["RAY_AUTH_TOKEN"],
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),  # the placeholder is refused outside DEBUG, as it should be
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",  # the test and the reporters reach the web by this address
        "TRAINYARD_PUBLIC_URL": f"http://127.0.0.1:{port}",  # no nginx: the Ray jobs' reporters post to uvicorn
        "TRAINYARD_JOB_PYTHON": sys.executable,  # the venv's path here, not the image's /opt/trainyard/.venv
        # no TLS proxy in front: behind it, a reporter's plain-HTTP POST would be redirected to https://
        "TRAINYARD_BEHIND_TLS": "false",
        "TRAINYARD_METRICS_TOKEN": metrics_token,  # the scrapes below authenticate as Prometheus would
        "TRAINYARD_WORKER_METRICS_PORT": str(worker_metrics_port),  # on (0 is off), on a port nobody holds
        "TRAINYARD_RECONCILE_SECONDS": "2",  # runs finish within seconds of their Ray job, not 10 s later
    }


def _proc_stat(pid: str) -> tuple[str, int, int] | None:
    """``(state, ppid, session)`` of a process, None once it is gone."""
    try:
        fields = (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[3])


def sessions_under(root: int) -> set[int]:
    """The sessions of ``root`` and of every process below it: honcho starts each Procfile process in a session
    (and process group) of its own, so that its group is the way to reach them all."""
    stats = {int(pid): s for pid in os.listdir("/proc") if pid.isdigit() and (s := _proc_stat(pid))}
    tree, found = {root}, True
    while found:
        below = {pid for pid, (_, ppid, _) in stats.items() if ppid in tree} - tree
        tree |= below
        found = bool(below)
    return {stats[pid][2] for pid in tree if pid in stats} | {root}


def alive_in(sessions: set[int]) -> dict[int, str]:
    """The live processes (zombies aside) of these sessions, with their command lines."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = _proc_stat(pid)
        if stat and stat[0] != "Z" and stat[2] in sessions:
            try:
                out[int(pid)] = (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
            except OSError:
                continue
    return out


class Production:
    """The Procfile's processes under honcho, and the operator's API client (the token ``issue_token`` printed)."""

    def __init__(self, env: dict[str, str], url: str, log: Path):
        self.env, self.url, self.log = env, url, log
        self.http = requests.Session()
        self.honcho: subprocess.Popen | None = None

    def manage(self, *args: str, stdin: str | None = None) -> str:
        """``manage.py`` as the operator runs it; its stdout (the slug, password or token it prints)."""
        done = subprocess.run([sys.executable, "manage.py", *args], env=self.env, cwd=ROOT, input=stdin,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout.strip()

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=120, **kw)

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""

    def wait(self, kind: str, job_id: str, timeout: float) -> dict:
        """Poll a run or sweep (``kind`` is ``runs`` or ``sweeps``) until it ends; its JSON."""
        deadline, job = time.monotonic() + timeout, {}
        while time.monotonic() < deadline and self.honcho.poll() is None:
            job = self.api("GET", f"/api/{kind}/{job_id}").json()
            if job.get("status") in TERMINAL:
                return job
            time.sleep(1)
        raise AssertionError(f"{kind} {job_id} did not end: {job.get('status')} ({job.get('status_reason')}); "
                             f"honcho {'exited' if self.honcho.poll() is not None else 'runs'}\n{self.tail()}")


def start_procfile(production: Production, port: int) -> None:
    """``honcho start release``, then ``honcho start web worker beat`` in a session of its own, as the
    Procfile's header says; returns once the web answers ``/healthz``."""
    honcho = [str(BIN / "honcho"), "-f", "infra/Procfile", "start"]
    release = subprocess.run([*honcho, "release"], env=production.env, cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert release.returncode == 0, f"honcho start release: {release.returncode}\n{release.stdout}"
    assert "release.1 stopped (rc=0)" in release.stdout, release.stdout
    log = production.log.open("ab")
    production.honcho = subprocess.Popen([*honcho, "web", "worker", "beat"], env={**production.env, "PORT": str(port)},
                                         cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    wait_http(f"{production.url}/healthz", 120, production.honcho)


def stop_procfile(production: Production, sessions: set[int], timeout: float = 60) -> None:
    """SIGTERM to honcho's process group; fail (after SIGKILL) if any process of its sessions outlives it."""
    try:
        os.killpg(production.honcho.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    try:
        production.honcho.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    while (left := alive_in(sessions)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        production.honcho.wait(10)
        pytest.fail(f"{len(left)} process(es) outlived honcho's SIGTERM by {timeout:.0f}s (killed): {left}\n"
                    + production.tail())


@pytest.fixture(scope="module")
def production(ray_head, tmp_path_factory):
    """infra/Procfile on the settings of .env.example, with a team, its owner, a token and the digits dataset
    made as an operator makes them."""
    require_service(PG_URL, 5432, "PostgreSQL")
    require_service(REDIS_URL, 6379, "Redis")
    tmp = tmp_path_factory.mktemp("production")
    port = free_port()
    database_url = create_database(PG_URL)
    try:
        redis = claim_redis_db(REDIS_URL, "production_stack")
        try:
            yield from _operate(ray_head, tmp, port, database_url, redis.url)
        finally:
            redis.release()
    finally:
        drop_database(PG_URL, database_url)


def _operate(ray_head: dict, tmp: Path, port: int, database_url: str, redis_url: str):
    """The production fixture's body: settings, the Procfile's processes, first setup; stops them after."""
    changed = overrides(tmp, database_url=database_url, redis_url=redis_url, ray=ray_head, port=port,
                        worker_metrics_port=free_port(), metrics_token=secrets.token_urlsafe(32))
    example = env_example()
    assert set(changed) <= set(example), set(changed) - set(example)  # a renamed setting fails the test
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(example)
    env.update(changed)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the venv activated: the Procfile says `python`
    env["PYTHONUNBUFFERED"] = "1"  # honcho reads the processes' output through pipes: lines as they come
    production = Production(env, f"http://127.0.0.1:{port}", tmp / "honcho.log")
    sessions: set[int] = set()
    try:
        start_procfile(production, port)
        sessions = sessions_under(production.honcho.pid)
        assert len(sessions) == 4, sessions  # honcho's, and one of each process: what the SIGTERM check watches
        slug = production.manage("create_team", TEAM)
        production.manage("add_member", slug, "ada", "--role", "owner")
        production.http.headers["Authorization"] = f"Bearer {production.manage('issue_token', slug, 'ada', 'ci')}"
        # the digits as `trainyard demo-data` writes them, in the team's area, registered through the API
        digits = Path(env["TRAINYARD_STORAGE"]) / "datasets" / slug / "digits"
        subprocess.run([str(BIN / "trainyard"), "demo-data", str(digits)], env=env, check=True, capture_output=True)
        r = production.api("POST", "/api/datasets", json={"name": "digits", "path": f"datasets/{slug}/digits"})
        assert r.status_code == 201, r.text
        yield production
    finally:
        if production.honcho is not None:
            stop_procfile(production, sessions | sessions_under(production.honcho.pid))


@pytest.fixture(scope="module")
def trained(production):
    """A one-epoch run and a two-trial sweep, submitted side by side (they fit the head's CPUs together), ended."""
    r = production.api("POST", "/api/runs", json={"spec_name": RUN_SPEC, "dataset": "digits",
                                                   "resources": ONE_WORKER, "cfg_options": ONE_EPOCH})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    r = production.api("POST", "/api/sweeps", json={
        "spec_name": SWEEP_SPEC, "dataset": "digits", "name": "production", "cfg_options": ONE_EPOCH,
        "resources": ONE_WORKER,
        "sweep": {"space": {"optimizer.lr": {"type": "grid_search", "values": [0.01, 0.05]}},
                  "metric": "accuracy_top-1", "mode": "max", "max_concurrent_trials": 2}})
    assert r.status_code == 201, r.text
    sweep_id = r.json()["id"]
    return production.wait("runs", run_id, 600), production.wait("sweeps", sweep_id, 600)


def test_every_override_names_a_setting_of_env_example(tmp_path):
    changed = overrides(tmp_path, database_url="postgres://", redis_url="redis://", port=1, worker_metrics_port=2,
                        ray={"RAY_ADDRESS": "http://ray", "RAY_AUTH_TOKEN": "t"}, metrics_token="m")
    assert set(changed) - set(env_example()) == set()  # a renamed setting fails here, not in production


def test_it_is_live_and_ready_on_postgresql_redis_and_ray(production):
    r = production.api("GET", "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = production.api("GET", "/readyz")
    assert r.status_code == 200, (r.text, production.tail())
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "ray": "ok"}}


def test_it_trains_a_run_and_a_sweep_through_the_api(production, trained):
    run, sweep = trained
    assert run["status"] == "succeeded", (run["status_reason"], production.tail())
    assert sweep["status"] == "succeeded", (sweep["status_reason"], production.tail())
    trials = production.api("GET", f"/api/sweeps/{sweep['id']}/trials").json()
    assert sorted(t["trial_params"]["optimizer.lr"] for t in trials) == [0.01, 0.05]
    assert all(t["status"] == "succeeded" for t in trials), trials
    points = production.api("GET", f"/api/runs/{run['id']}/metrics", params={"name": "loss"}).json()
    assert points, "the run's reporter reached TRAINYARD_PUBLIC_URL"


def test_the_web_and_the_worker_serve_their_metrics_to_the_token_alone(production, trained):
    token = production.env["TRAINYARD_METRICS_TOKEN"]
    r = requests.get(f"{production.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    assert (sample(r.text, "trainyard_runs", state="succeeded") or 0) >= 1
    assert sample(r.text, "trainyard_sweeps", state="succeeded") == 1
    assert sample(r.text, "trainyard_database_up") == 1 and sample(r.text, "trainyard_broker_up") == 1
    posts = [dict(labels) for (name, labels), _ in samples(r.text).items()
             if name == "trainyard_http_requests_total" and ("method", "POST") in labels]
    # by URL pattern: the router's is the regex "/api/runs$"
    assert any(p["route"].rstrip("$") == "/api/runs" and p["status"] == "201" for p in posts), posts
    assert production.api("GET", "/metrics").status_code == 404  # the API token is not the metrics token

    worker = f"http://127.0.0.1:{production.env['TRAINYARD_WORKER_METRICS_PORT']}/metrics"
    r = requests.get(worker, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, production.tail()
    dispatched = sample(r.text, "trainyard_celery_tasks_total", task="backend.experiments.tasks.dispatch_run",
                        outcome="success")
    assert (dispatched or 0) >= 1, r.text
    assert (sample(r.text, "trainyard_dispatch_latency_seconds_count", kind="run") or 0) >= 1, r.text
    assert requests.get(worker, timeout=30).status_code == 404
