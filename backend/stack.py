"""Starting the processes of a Trainyard stack on one machine: a Ray head, a Celery worker with
beat, and the ASGI web server. ``manage.py up`` and the integration tests both use this module, so
what the tests start is what a newcomer starts.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable
BIN = Path(PYTHON).parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, headers: dict | None = None) -> None:
    """Wait until ``url`` answers (any HTTP status below 500), or raise with what went wrong."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited with {proc.returncode} before {url} answered")
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")


@dataclass
class Stack:
    """The processes of one local stack. ``env`` is what every child sees (settings included)."""

    var_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    ray_temp_dir: str | None = None

    def __post_init__(self) -> None:
        self.var_dir = Path(self.var_dir).resolve()
        (self.var_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.env["TRAINYARD_VAR"] = str(self.var_dir)
        # Ray jobs run the entrypoint with this interpreter; Ray's own CLI comes from the same venv.
        self.env.setdefault("TRAINYARD_JOB_PYTHON", PYTHON)
        self.env["PATH"] = f"{BIN}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.setdefault("PYTHONUNBUFFERED", "1")

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        logfile = open(self.var_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(cmd, env=self.env if env is None else env, stdout=logfile, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=Path(__file__).resolve().parent.parent)
        self.procs.append((name, proc))
        return proc

    def log_path(self, name: str) -> Path:
        return self.var_dir / "logs" / f"{name}.log"

    # --- Ray -------------------------------------------------------------------------------------
    def start_ray(self, *, dashboard_port: int = 8265, num_cpus: int | None = None, timeout: float = 90) -> str:
        """Start a Ray head with token auth in the foreground (``--block``) and return its Jobs API URL.

        The token is kept in ``var/ray/auth_token`` (mode 0600) and named by ``RAY_AUTH_TOKEN_PATH``, which
        both Ray and the backend's client read. Never ``RAY_AUTH_TOKEN`` in the head's environment: every
        process the raylet starts inherits that environment, a Ray job's driver and train workers included.
        """
        token_file = self.var_dir / "ray" / "auth_token"
        token_file.parent.mkdir(parents=True, exist_ok=True)
        if not token_file.exists():
            token_file.write_text(secrets.token_hex(32))
            token_file.chmod(0o600)
        token = token_file.read_text().strip()
        self.env["RAY_AUTH_MODE"] = "token"
        self.env["RAY_AUTH_TOKEN_PATH"] = str(token_file)
        self.env.pop("RAY_AUTH_TOKEN", None)  # another cluster's, or a stale one: this head's is the file
        num_cpus = num_cpus or max(4, os.cpu_count() or 1)
        gcs_port = _free_port()
        # A temp dir of its own marks this head's processes, so stop() ends exactly those.
        self.ray_temp_dir = f"/tmp/trainyard-ray-{gcs_port}"
        # Every port of its own: two heads on one machine (`make up` beside the test suite) otherwise meet
        # on the defaults of the dashboard agent, the runtime-env agent or the metrics exporter.
        ports = [f"--{name}={_free_port()}" for name in (
            "ray-client-server-port", "node-manager-port", "object-manager-port", "dashboard-agent-grpc-port",
            "dashboard-agent-listen-port", "metrics-export-port", "runtime-env-agent-port")]
        address = f"http://127.0.0.1:{dashboard_port}"
        # Ray's own processes (Ray Train's PlacementGroupCleaner, for one) look their cluster up through the
        # state API; without an address they scan the machine, find any other head (another checkout's, the
        # test suite's), refuse to choose, and a trial's placement group is never freed. Name this head's.
        self.env["RAY_API_SERVER_ADDRESS"] = address
        self._spawn("ray", [str(BIN / "ray"), "start", "--head", "--block", f"--port={gcs_port}",
                            f"--temp-dir={self.ray_temp_dir}", *ports,
                            "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
                            f"--num-cpus={num_cpus}", "--disable-usage-stats", "--include-dashboard=true"],
                    env=ray_environment(self.env))
        self.env["RAY_ADDRESS"] = address
        wait_http(f"{address}/api/version", timeout, self.procs[-1][1], headers={"Authorization": f"Bearer {token}"})
        # The dashboard answers before the job agent is ready; wait until jobs can be listed.
        wait_http(f"{address}/api/jobs/", timeout, self.procs[-1][1], headers={"Authorization": f"Bearer {token}"})
        return address

    @property
    def ray_auth_token(self) -> str | None:
        """The token of the Ray head this stack started (``var/ray/auth_token``), for a Jobs API client."""
        path = self.var_dir / "ray" / "auth_token"
        return path.read_text().strip() if path.is_file() else None

    # --- Celery and web --------------------------------------------------------------------------
    def start_celery(self, *, beat: bool = True, concurrency: int = 2) -> subprocess.Popen:
        cmd = [PYTHON, "-m", "celery", "-A", "backend.project", "worker", "--loglevel=INFO",
               f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]
        if beat:
            cmd += ["-B", "-s", str(self.var_dir / "celerybeat-schedule")]
        return self._spawn("celery", cmd)

    def start_web(self, *, host: str = "127.0.0.1", port: int = 8000, timeout: float = 60) -> str:
        url = f"http://{host}:{port}"
        self.env.setdefault("TRAINYARD_PUBLIC_URL", url)
        proc = self._spawn("web", [PYTHON, "-m", "uvicorn", "backend.project.asgi:application", "--host", host,
                                   "--port", str(port), "--no-access-log", "--timeout-graceful-shutdown", "3"])
        wait_http(f"{url}/login/", timeout, proc)
        return url

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "manage.py", *args], env=self.env, check=check, capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parent.parent)

    def stop_process(self, name: str, timeout: float = 20) -> None:
        """Stop one named process of the stack (and its children), e.g. to simulate an outage."""
        for entry in list(self.procs):
            if entry[0] == name:
                try:
                    os.killpg(entry[1].pid, signal.SIGTERM)
                    entry[1].wait(timeout)
                except ProcessLookupError:
                    pass
                except subprocess.TimeoutExpired:
                    os.killpg(entry[1].pid, signal.SIGKILL)
                    entry[1].wait(5)
                self.procs.remove(entry)

    def dead(self) -> list[str]:
        return [name for name, p in self.procs if p.poll() is not None]

    def stop(self, timeout: float = 20) -> None:
        """Stop every process this stack started (children included), newest first."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if self.ray_temp_dir:  # Ray's own processes do not all stay in the group of `ray start`
            _kill_marked(self.ray_temp_dir, timeout)
        deadline = time.monotonic() + timeout
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        self.procs.clear()
        if self.ray_temp_dir:
            _kill_marked(self.ray_temp_dir, timeout)
            self.ray_temp_dir = None


# The service's own secrets: what the web and Celery processes need, and no Ray process (so no job) may hold.
_SERVICE_ONLY = ("RAY_AUTH_TOKEN", "DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL")


def ray_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment a Ray head (and so its raylet and every job) starts with: ``env`` without the service's
    secrets, and ``TRAINYARD_STORAGE`` without the credentials a URI may carry (a job opens the store with
    the node's own, ``AWS_*`` in this environment or an instance role)."""
    from workers.storage import strip_credentials

    out = {k: v for k, v in env.items() if k not in _SERVICE_ONLY}
    if out.get("TRAINYARD_STORAGE"):
        out["TRAINYARD_STORAGE"] = strip_credentials(out["TRAINYARD_STORAGE"])
    return out


def _pids_marked(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _kill_marked(marker: str, timeout: float) -> None:
    """End every process whose command line names ``marker`` (the Ray head's temp dir)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _pids_marked(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (timeout / 2 if sig == signal.SIGTERM else 5)
        while _pids_marked(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
