"""A whole Trainyard stack in subprocesses, for the integration tests and bench/ alike."""
import time
import uuid
from pathlib import Path

import requests

from backend.stack import Stack

from .ports import free_port


def create_database(admin_url: str) -> str:
    """Create a fresh PostgreSQL database next to ``admin_url``'s; returns its URL."""
    import psycopg2

    name = f"trainyard_it_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, db_url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    conn.cursor().execute(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    conn.close()


# Where a test is not about distribution, its runs take one Ray Train worker: the same images in the same batches,
# one process fewer to start (each imports torch and the engine) and no gloo round trip per step on shared cores.
ONE_WORKER = {"num_workers": 1}


class LiveStack:
    """A running Trainyard stack and an API client for its demo user."""

    def __init__(self, stack: Stack, url: str, token: str):
        self.stack, self.url = stack, url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def api(self, method: str, path: str, **kw) -> requests.Response:
        # Generous: on 2 cores beside three other test lanes a stack's web process can be starved for tens of
        # seconds (a POST /api/runs once took over 30 s in CI); these tests are about outcomes, not latency.
        return self.http.request(method, self.url + path, timeout=120, **kw)

    def submit(self, **payload) -> dict:
        payload.setdefault("spec_name", "demo/resnet18-tiny_2xb32-6e_digits.py")
        payload.setdefault("dataset", "digits")
        r = self.api("POST", "/api/runs", json=payload)
        assert r.status_code == 201, r.text
        return r.json()

    def wait_for(self, run_id: str, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        run = {}
        while time.monotonic() < deadline:
            r = self.api("GET", f"/api/runs/{run_id}")
            if r.status_code != 200:
                raise AssertionError(f"GET run answered {r.status_code}: {r.text[:300]}\n{self.logs_tail(80)}")
            run = r.json()
            if predicate(run):
                return run
            if self.stack.dead():
                break
            time.sleep(1)  # each poll is a request the stack's web process serves on the same 2 cores
        raise AssertionError(f"timed out waiting for {what}; run is {run.get('status')} "
                             f"({run.get('status_reason')}); dead processes: {self.stack.dead()}\n"
                             + self.logs_tail())

    def client_for(self, username: str, team_slug: str, role: str = "owner") -> "LiveStack":
        """A client of the same stack for another user, made (with their team, if new) through
        ``manage.py shell``: e.g. the member of a second team who attacks the demo team's data."""
        code = (
            "from django.contrib.auth import get_user_model\n"
            "from backend.accounts.models import ApiToken, Membership, Team\n"
            f"user, _ = get_user_model().objects.get_or_create(username={username!r})\n"
            f"team, _ = Team.objects.get_or_create(slug={team_slug!r}, defaults={{'name': {team_slug!r}}})\n"
            f"Membership.objects.update_or_create(user=user, team=team, defaults={{'role': {role!r}}})\n"
            "print('TOKEN=' + ApiToken.issue(user, 'test')[1])\n"
        )
        done = self.stack.manage("shell", "-c", code, check=False)
        tokens = [line[6:] for line in done.stdout.splitlines() if line.startswith("TOKEN=")]
        if done.returncode != 0 or not tokens:
            raise RuntimeError(f"could not create {username} in {team_slug}:\n{done.stdout}\n{done.stderr}")
        return LiveStack(self.stack, self.url, tokens[0])

    def logs_tail(self, n: int = 40) -> str:
        out = []
        for name in ("celery", "web"):
            path = self.stack.log_path(name)
            if path.exists():
                out.append(f"--- {name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-n:]))
        return "\n".join(out)


def start_live_stack(var: Path, ray_env: dict, extra_env: dict) -> LiveStack:
    """Migrate, seed the demo and start Celery + web on the given settings; Ray comes from ray_env."""
    stack = Stack(var_dir=var)
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "TRAINYARD_STORAGE", "TRAINYARD_PUBLIC_URL"):
        stack.env.pop(key, None)
    stack.env["DJANGO_SETTINGS_MODULE"] = "backend.project.settings"  # not the test settings pytest exported
    stack.env.update(ray_env)
    stack.env.update(extra_env)
    stack.env["TRAINYARD_RECONCILE_SECONDS"] = "2"
    # The suites submit far faster than a person: the per-user submission rates are out of reach here
    # (a test that wants them passes TRAINYARD_THROTTLE_* in extra_env).
    for scope in ("RUNS", "SWEEPS", "DATASETS", "TOKENS"):
        stack.env[f"TRAINYARD_THROTTLE_{scope}"] = "1000000/min"
    port = free_port()
    stack.env["TRAINYARD_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    token_file = var / "token"
    for args in (("migrate", "--no-input"), ("seed_demo", "--token-file", str(token_file))):
        done = stack.manage(*args, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    try:
        stack.start_celery()
        url = stack.start_web(port=port)
    except BaseException:
        stack.stop()  # no Celery worker left behind, consuming a broker the next stack may be given
        raise
    return LiveStack(stack, url, token_file.read_text().strip())


