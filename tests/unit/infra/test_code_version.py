"""A job carries the commit of the service that wrote it, and a Ray node at another commit refuses it
(``jobspecs/version.py``, ``workers/distributed/launch.py``): a node left behind by ``ray up`` or an old image
fails the run with a message saying so, instead of training with other code."""
import json

import pytest

from jobspecs.contract import Job
from jobspecs.version import code_version, git_head
from workers.distributed import launch
from workers.distributed.launch import CodeVersionMismatch, check_code_version

SERVICE = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def _git_dir(root, head: str, refs: dict[str, str] | None = None, packed: str = ""):
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text(head + "\n")
    for name, sha in (refs or {}).items():
        (git / name).write_text(sha + "\n")
    if packed:
        (git / "packed-refs").write_text(packed)
    return root


def test_it_reads_a_branchs_commit_from_the_checkout(tmp_path):
    root = _git_dir(tmp_path, "ref: refs/heads/main", {"refs/heads/main": SERVICE})
    assert git_head(root) == SERVICE


def test_it_reads_a_detached_checkout_as_ray_up_leaves_it(tmp_path):
    assert git_head(_git_dir(tmp_path, SERVICE)) == SERVICE


def test_it_finds_a_branch_in_packed_refs(tmp_path):
    root = _git_dir(tmp_path, "ref: refs/heads/main", packed=f"# pack-refs with: peeled\n{SERVICE} refs/heads/main\n")
    assert git_head(root) == SERVICE


def test_it_follows_a_linked_work_trees_gitdir_to_the_main_repository(tmp_path):
    main = _git_dir(tmp_path / "main", "ref: refs/heads/main", {"refs/heads/feature": OTHER})
    linked = main / ".git" / "worktrees" / "feature"
    linked.mkdir(parents=True)
    (linked / "HEAD").write_text("ref: refs/heads/feature\n")
    (linked / "commondir").write_text("../..\n")
    tree = tmp_path / "feature"
    tree.mkdir()
    (tree / ".git").write_text(f"gitdir: {linked}\n")
    assert git_head(tree) == OTHER


def test_it_knows_no_version_without_git_metadata(tmp_path):
    assert git_head(tmp_path) == ""
    assert git_head(_git_dir(tmp_path / "x", "ref: refs/heads/gone")) == ""


def test_the_images_commit_wins_over_the_checkout(monkeypatch):
    monkeypatch.setenv("TRAINYARD_COMMIT", SERVICE.upper())
    assert code_version() == SERVICE


def test_this_checkout_knows_its_own_commit(monkeypatch):
    monkeypatch.delenv("TRAINYARD_COMMIT", raising=False)
    version = code_version()
    assert len(version) == 40 and int(version, 16) >= 0


def test_a_job_made_by_the_service_carries_its_version_into_the_file(monkeypatch):
    monkeypatch.setenv("TRAINYARD_COMMIT", SERVICE)
    document = json.loads(json.dumps(Job(spec={}, run_id="r1").to_json()))
    assert document["code_version"] == SERVICE
    assert Job.from_json(document).code_version == SERVICE


def test_a_job_file_from_before_versions_reads_as_unversioned_whatever_the_node(monkeypatch):
    monkeypatch.setenv("TRAINYARD_COMMIT", OTHER)
    job = Job.from_json({"run_id": "r1", "spec": {}})
    assert job.code_version == "" and "code_version" not in job.to_json()
    check_code_version(job)  # not refused: nothing to compare


def test_the_same_version_runs():
    check_code_version(Job(spec={}, run_id="r1", code_version=SERVICE), node_version=SERVICE)


def test_another_version_is_refused_naming_both_commits_and_the_way_out():
    job = Job(spec={}, run_id="r1", code_version=SERVICE)
    with pytest.raises(CodeVersionMismatch) as err:
        check_code_version(job, node_version=OTHER)
    message = str(err.value)
    assert f"runs Trainyard commit {OTHER}" in message
    assert f"written by the service at commit {SERVICE}" in message
    assert "make ray-cluster" in message


def test_a_node_that_cannot_tell_its_version_is_refused():
    with pytest.raises(CodeVersionMismatch, match=r"an unknown version \(no TRAINYARD_COMMIT, no git checkout\)"):
        check_code_version(Job(spec={}, run_id="r1", code_version=SERVICE), node_version="")


class _Status:
    """The run's reporter as the launcher uses it: what it would send to the service."""

    def __init__(self):
        self.events: list[tuple] = []
        self.lines: list[str] = []

    def event(self, status, reason="", **extra):
        self.events.append((status, reason))

    def log(self, line):
        self.lines.append(line)

    def close(self, timeout=30.0):
        return True


def _launch(tmp_path, monkeypatch, *, job_version: str, node_version: str):
    """``python -m workers.distributed.launch runs/r1/job.json`` on a node at ``node_version``."""
    (tmp_path / "datasets" / "team-a" / "digits").mkdir(parents=True)
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    job = Job(spec={}, run_id="r1", data_key="datasets/team-a/digits", code_version=job_version)
    (tmp_path / "runs" / "r1" / "job.json").write_text(json.dumps(job.to_json()))
    monkeypatch.setenv("TRAINYARD_STORAGE", str(tmp_path))
    monkeypatch.setenv("TRAINYARD_COMMIT", node_version)
    status, trained = _Status(), []

    class Trainer:
        def fit(self):
            trained.append(True)

    monkeypatch.setattr(launch, "make_reporter", lambda cfg: status)
    monkeypatch.setattr(launch, "build_trainer", lambda run_id, cfg: Trainer())
    return launch.main(["runs/r1/job.json"]), status, trained


def test_the_launcher_refuses_a_job_of_another_version_and_tells_the_service_why(tmp_path, monkeypatch):
    code, status, trained = _launch(tmp_path, monkeypatch, job_version=SERVICE, node_version=OTHER)
    assert code == 1 and trained == []  # nothing trained
    [reason] = [reason for state, reason in status.events if state == "failed"]
    assert "CodeVersionMismatch: refused: this Ray node" in reason and SERVICE in reason and OTHER in reason
    assert any(line.startswith("[trainyard] run failed: ") and "refused" in line for line in status.lines)


def test_the_launcher_runs_a_job_of_its_own_version(tmp_path, monkeypatch):
    code, status, trained = _launch(tmp_path, monkeypatch, job_version=SERVICE, node_version=SERVICE)
    assert code == 0 and trained == [True]
    assert [e[0] for e in status.events][-1] == "succeeded"
