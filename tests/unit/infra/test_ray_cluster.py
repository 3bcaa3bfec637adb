"""``ray up`` (infra/ray/cluster.yaml, rendered by ``make ray-cluster``): the file Ray accepts, the commit in it and
checked out detached on every node, a new commit that makes ``ray up`` set the nodes up again, Ray's own token
path, and jobs that find the venv's python."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import hash_runtime_conf, prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "infra" / "ray" / "cluster.yaml"
RENDER = ROOT / "infra" / "ray" / "render_cluster.py"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
NEXT = "fedcba9876543210fedcba9876543210fedcba98"
JOB_PYTHON = "/opt/trainyard/.venv/bin/python"


def _render(tmp_path, commit: str) -> Path:
    out = tmp_path / f"cluster-{commit[:7]}.yaml"
    done = subprocess.run([sys.executable, str(RENDER), "--commit", commit, "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"next: ray up {out}" in done.stdout
    return out


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The operator's home with the token `ray get-auth-token --generate` writes."""
    (tmp_path / "home" / ".ray").mkdir(parents=True)
    (tmp_path / "home" / ".ray" / "auth_token").write_text("a-token")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_the_rendered_file_is_one_ray_up_accepts(tmp_path, home):
    config = prepare_config(yaml.safe_load(_render(tmp_path, COMMIT).read_text()))
    validate_config(config)  # what `ray up` runs before touching a node
    [workers] = [t for name, t in config["available_node_types"].items()]
    assert workers["min_workers"] == workers["max_workers"] == len(config["provider"]["worker_ips"])


def test_every_node_checks_out_the_rendered_commit_detached(tmp_path):
    text = _render(tmp_path, COMMIT).read_text()
    assert "@@TRAINYARD_COMMIT@@" not in text
    config = yaml.safe_load(text)
    [checkout] = [c for c in config["setup_commands"] if "git checkout" in c]
    assert f"git checkout -q --detach {COMMIT}" in checkout
    assert f'test "$(git rev-parse HEAD)" = {COMMIT}' in checkout  # a fetch that missed the commit stops here
    install = next(c for c in config["setup_commands"] if "pip install" in c)
    assert config["setup_commands"].index(checkout) < config["setup_commands"].index(install)


def test_the_nodes_install_the_hashed_locks_before_the_project(tmp_path):
    config = yaml.safe_load(_render(tmp_path, COMMIT).read_text())
    install = next(c for c in config["setup_commands"] if "pip install" in c)
    steps = [s.strip() for s in install.split("&&") if "pip install" in s]
    assert [s.split(" -r ")[-1] for s in steps[:3]] == [
        "requirements/build.txt", "requirements/torch-cuda.txt", "requirements/service.txt"]
    assert all("--require-hashes --no-deps" in s for s in steps[:3])
    assert steps[3].endswith("--no-deps --no-build-isolation -e .")
    for name in ("build.txt", "torch-cuda.txt", "service.txt"):
        assert (ROOT / "requirements" / name).is_file()


def test_a_new_commit_changes_what_ray_up_compares_so_the_nodes_are_set_up_again(tmp_path, home):
    """`ray up` skips the setup of a node whose runtime hash is unchanged (Ray's hash_runtime_conf over the file
    mounts and the config): the commit in the file is what makes a new release reach the nodes."""
    hashes = {}
    for commit in (COMMIT, NEXT, COMMIT):
        config = prepare_config(yaml.safe_load(_render(tmp_path, commit).read_text()))
        hashes.setdefault(commit, []).append(hash_runtime_conf(config["file_mounts"], None, copy.deepcopy(config))[0])
    assert hashes[COMMIT][0] == hashes[COMMIT][1] != hashes[NEXT][0]


def test_the_token_goes_to_rays_own_path_and_ray_is_told_that_path():
    config = yaml.safe_load(TEMPLATE.read_text())
    assert config["file_mounts"] == {"~/.ray/auth_token": "~/.ray/auth_token"}
    assert any("chmod 600 ~/.ray/auth_token" in c for c in config["setup_commands"])
    starts = [c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"] if "ray start" in c]
    assert len(starts) == 2
    assert all("RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$HOME/.ray/auth_token ray start" in c for c in starts)
    assert not any("/etc/trainyard" in c for c in config["setup_commands"] + starts)  # no root-only folder
    assert "ray get-auth-token --generate" in TEMPLATE.read_text()  # the steps to make it


def test_jobs_find_the_venvs_python_on_every_node():
    config = yaml.safe_load(TEMPLATE.read_text())
    starts = [c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"] if "ray start" in c]
    assert all(c.startswith("export PATH=/opt/trainyard/.venv/bin:$PATH && ") for c in starts)
    install = next(c for c in config["setup_commands"] if "pip install" in c)
    assert "cd /opt/trainyard && (test -x .venv/bin/python || python3.11 -m venv .venv)" in install
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert example["TRAINYARD_JOB_PYTHON"] == JOB_PYTHON


def test_the_service_defaults_the_job_python_to_its_own_interpreter():
    env = {k: v for k, v in os.environ.items() if k != "TRAINYARD_JOB_PYTHON"}
    env["DJANGO_SETTINGS_MODULE"] = "backend.project.settings_test"
    done = subprocess.run([sys.executable, "-c", "from django.conf import settings; print(settings.TRAINYARD_JOB_PYTHON)"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sys.executable  # the venv's python, by its path: not `python` on Ray's PATH


@pytest.mark.parametrize("commit", ["main", COMMIT[:12], COMMIT.upper(), COMMIT + "0"])
def test_it_refuses_a_commit_that_is_not_a_full_sha(tmp_path, commit):
    done = subprocess.run([sys.executable, str(RENDER), "--commit", commit, "--out", str(tmp_path / "c.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and not (tmp_path / "c.yaml").exists()
    assert f"error: a commit is 40 lower-case hex digits (git rev-parse HEAD), not {commit!r}" in done.stderr
