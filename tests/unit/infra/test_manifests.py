"""The deployment files name things that exist: processes, modules, settings, versions."""
import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
ENV_EXAMPLE = ROOT / ".env.example"


def _settings_read() -> set[str]:
    text = (ROOT / "backend" / "project" / "settings.py").read_text()
    return set(re.findall(r'(?:os\.environ\.get|_env_bool)\("([A-Z_]+)"', text))


def _names_in_code() -> set[str]:
    names = set()
    for folder in ("backend", "workers", "jobspecs"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', path.read_text()))
            names |= set(re.findall(r"'([A-Z][A-Z0-9_]{2,})'", path.read_text()))
    return names | {"RAY_AUTH_TOKEN"}  # read by Ray itself and by backend/experiments/ray_jobs.py


def _example_names() -> set[str]:
    return {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
            if line and not line.startswith("#")}


def test_it_lists_every_setting_in_the_env_example():
    missing = _settings_read() - {"CI", "TEST_DATABASE_URL"} - _example_names()
    assert missing == set()


def test_it_names_only_settings_the_code_reads():
    assert _example_names() - _names_in_code() == set()


def _module_target(target: str):
    module, _, attr = target.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr) if attr else mod


def _commands() -> list[list[str]]:
    cmds = []
    for line in (INFRA / "Procfile").read_text().splitlines():
        if line and not line.startswith("#"):
            cmds.append(shlex.split(line.split(":", 1)[1]))
    for unit in (INFRA / "systemd").glob("*.service"):
        for line in unit.read_text().splitlines():
            if line.startswith(("ExecStart=", "ExecStartPre=")):
                cmds.append(shlex.split(line.split("=", 1)[1]))
    return cmds


@pytest.mark.parametrize("cmd", _commands(), ids=lambda c: " ".join(c[:4]))
def test_each_process_command_starts_something_that_exists(cmd):
    args = cmd[1:]
    if args[:2] == ["-m", "uvicorn"]:
        assert callable(_module_target(args[2]))
    elif args[:2] == ["-m", "celery"]:
        assert args[2] == "-A"
        app = _module_target(args[3]).celery_app
        assert args[4] in ("worker", "beat")
        if args[4] == "beat":
            assert "backend.experiments.tasks.reconcile_runs" in {
                e["task"] for e in app.conf.beat_schedule.values()}
    elif args[0] == "manage.py":
        from django.core.management import get_commands

        assert args[1] in get_commands()
    else:
        pytest.fail(f"unknown process command {cmd}")


def test_the_nginx_site_streams_the_run_pages_events_unbuffered():
    conf = (INFRA / "nginx" / "trainyard.conf").read_text()
    pattern = re.search(r"location ~ (\S+) \{([^}]*)\}", conf)
    url = reverse("run-events", kwargs={"pk": "3f1c2a8e-0000-4000-8000-000000000001"})
    assert re.match(pattern.group(1), url)
    assert "proxy_buffering off;" in pattern.group(2)
    assert "proxy_pass http://trainyard_web;" in conf and "server 127.0.0.1:8000;" in conf


def test_the_ray_cluster_config_installs_the_project_and_enables_token_auth():
    cfg = yaml.safe_load((INFRA / "ray" / "cluster.yaml").read_text())
    assert any("pip install" in c and "-e ." in c for c in cfg["setup_commands"])
    starts = cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in c for c in starts if "ray start" in c)
    assert any("--dashboard-port=8265" in c for c in cfg["head_start_ray_commands"])
    assert "RAY_ADDRESS=http://ray-head.internal:8265" in ENV_EXAMPLE.read_text()


def test_the_ray_cluster_keeps_its_token_in_a_file_and_its_ports_private():
    cfg = yaml.safe_load((INFRA / "ray" / "cluster.yaml").read_text())
    starts = [c for c in cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"] if "ray start" in c]
    # every job inherits the raylet's environment: the token is named by a path, never given as a value
    assert starts and all("RAY_AUTH_TOKEN_PATH=" in c and "RAY_AUTH_TOKEN=" not in c for c in starts)
    head = next(c for c in cfg["head_start_ray_commands"] if "ray start" in c)
    host = re.search(r"--dashboard-host=(\S+)", head).group(1)
    assert host == cfg["provider"]["head_ip"] and host != "0.0.0.0"  # the Jobs API on the private address
    # the GCS listens on every interface: a firewall keeps every Ray port to the private network
    firewall = [c for c in cfg["setup_commands"] if "ufw" in c]
    assert firewall and "default deny incoming" in firewall[0]
    subnet = re.search(r"allow from (\S+)", firewall[0]).group(1)
    assert cfg["provider"]["head_ip"].rsplit(".", 1)[0] == subnet.split("/")[0].rsplit(".", 1)[0]
