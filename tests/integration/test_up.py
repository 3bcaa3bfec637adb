"""`manage.py up` as a newcomer runs it: it prints the URL and login, serves, and Ctrl-C stops it all."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.ports import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _environments_of(command_part: str, marker: str) -> list[dict[str, str]]:
    """The environments of this machine's processes whose command line holds ``command_part`` and whose
    environment holds ``marker`` (a value only this test's processes carry)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if command_part not in (entry / "cmdline").read_bytes().decode(errors="replace"):
                continue
            raw = (entry / "environ").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        env = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        if marker in env.values():
            found.append(env)
    return found


def test_it_starts_the_stack_with_the_demo_and_stops_everything_on_ctrl_c(tmp_path):
    web, dash = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "RAY_ADDRESS", "TRAINYARD_STORAGE", "RAY_AUTH_TOKEN")}
    env.update(TRAINYARD_VAR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="backend.project.settings", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "manage.py", "up", "--port", str(web), "--ray-dashboard-port", str(dash)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(out)
        assert f"Trainyard is up:   http://127.0.0.1:{web}/" in text, text
        assert "demo / trainyard-demo" in text
        token = next(line.split()[-1] for line in out if "API token:" in line)

        datasets = requests.get(f"http://127.0.0.1:{web}/api/datasets",
                                headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["results"]
        assert [(d["name"], d["num_train"], d["num_val"]) for d in datasets] == [("digits", 1438, 359)]
        assert (tmp_path / "var" / "storage" / "datasets" / "demo" / "digits" / "train" / "7").is_dir()
        key_file = tmp_path / "var" / "secret_key"  # no DJANGO_SECRET_KEY: one generated for this install
        assert len(key_file.read_text().strip()) >= 50 and key_file.stat().st_mode & 0o777 == 0o600
        login = requests.get(f"http://127.0.0.1:{web}/login/", timeout=10)
        assert login.status_code == 200 and "Log in" in login.text
        assert _open(dash)
        # its Ray head names its own address: Ray's processes (Ray Train's placement-group cleaner) never
        # pick another head running on the machine (the test suite's, another checkout's)
        raylets = _environments_of("raylet", str(tmp_path / "var"))
        assert raylets and all(e.get("RAY_API_SERVER_ADDRESS") == f"http://127.0.0.1:{dash}" for e in raylets)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest = proc.communicate(timeout=90)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = proc.communicate()[0]
    assert proc.returncode == 0, rest
    assert "Stopped every process this command started." in rest
    assert not _open(web) and not _open(dash)
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert leftover == []
