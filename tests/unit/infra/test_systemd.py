"""The systemd units and the Procfile start cleanly: systemd's own verifier accepts the units, each creates its
state folder and waits for the network (and the processes that touch it, for the shared storage's mount),
migrations run once per release in their own one-shot unit (the Procfile's ``release:``), and there is one beat."""
import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UNITS = ROOT / "infra" / "systemd"
PROCESSES = ("trainyard-web", "trainyard-worker", "trainyard-beat")


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read_string((UNITS / f"{name}.service").read_text())
    return parser


def _example() -> dict[str, str]:
    return dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                if line and not line.startswith("#"))


def test_systemd_verifies_every_unit(tmp_path):
    """``systemd-analyze verify``: unknown keys, bad values and a missing executable all fail it. The units name
    /opt/trainyard; here the same units point at this checkout, whose venv holds the executables."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    copies = []
    for unit in sorted(UNITS.glob("*.service")):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/trainyard", str(ROOT)))
        copies.append(str(copy))
    done = subprocess.run([analyze, "verify", "--man=no", "--generators=no", *copies],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stdout + done.stderr


def test_the_units_are_the_processes_and_the_migration():
    assert sorted(p.stem for p in UNITS.glob("*.service")) == sorted([*PROCESSES, "trainyard-migrate"])


@pytest.mark.parametrize("name", [*PROCESSES, "trainyard-migrate"])
def test_each_unit_creates_its_state_folder_and_waits_for_the_network(name):
    unit = _unit(name)
    assert unit["Service"]["StateDirectory"] == "trainyard"  # /var/lib/trainyard, owned by User= before start
    assert unit["Service"]["Environment"] == "TRAINYARD_VAR=%S/trainyard"
    assert _example()["TRAINYARD_VAR"] == "/var/lib/trainyard"  # %S of a system unit is /var/lib
    assert "network-online.target" in unit["Unit"]["Wants"].split()
    assert "network-online.target" in unit["Unit"]["After"].split()
    assert unit["Service"]["User"] == "trainyard" and unit["Service"]["EnvironmentFile"] == "/etc/trainyard/env"


@pytest.mark.parametrize("name", PROCESSES)
def test_the_processes_wait_for_the_shared_storage_mount(name):
    assert _unit(name)["Unit"]["RequiresMountsFor"] == _example()["TRAINYARD_STORAGE"]


def test_migrations_run_once_in_their_own_one_shot_unit():
    migrate = _unit("trainyard-migrate")
    assert migrate["Service"]["Type"] == "oneshot"
    assert migrate["Service"]["ExecStart"].endswith(" manage.py migrate --no-input")
    for name in PROCESSES:
        unit = _unit(name)
        assert "migrate" not in unit["Service"].get("ExecStartPre", ""), name  # a restart does not migrate
        assert "trainyard-migrate.service" in unit["Unit"]["After"].split(), name  # after it, in one transaction
        for pull in ("Wants", "Requires", "BindsTo"):
            assert "trainyard-migrate" not in unit["Unit"].get(pull, ""), f"{name} {pull}= would migrate per host"


def test_the_beat_unit_says_it_runs_on_one_host_only():
    text = (UNITS / "trainyard-beat.service").read_text()
    assert "EXACTLY ONE beat" in text and "one host only" in _unit("trainyard-beat")["Unit"]["Description"]
    assert "--schedule %S/trainyard/celerybeat-schedule" in _unit("trainyard-beat")["Service"]["ExecStart"]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "infra" / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_the_procfile_migrates_in_its_release_phase_and_runs_one_beat():
    procs = _procfile()
    assert list(procs) == ["release", "web", "worker", "beat"]
    assert procs["release"] == "python manage.py migrate --no-input"
    assert [name for name, cmd in procs.items() if " beat" in cmd or " -B" in cmd or "--beat" in cmd] == ["beat"]
    text = (ROOT / "infra" / "Procfile").read_text()
    assert "beat: EXACTLY ONE" in text
    assert "honcho -f infra/Procfile start release && honcho -f infra/Procfile start web worker beat" in text
