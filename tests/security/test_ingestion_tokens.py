"""Ingestion trusts nothing it can check: a run's token is random, reaches only its own job and ends with the
run; a checkpoint record names a file in the run's own folder, or it is not stored (nor served).

Attacks through the ingestion endpoint (``POST /api/ingest/<run>``) and the checkpoint download, at the level
of the API (Django's test client, the real PostgreSQL); nothing is mocked but the Ray job submission, whose
environment the tests read as the job would.
"""
import hashlib
import hmac
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, Membership, Role, Team
from backend.experiments import lifecycle, ray_jobs, submit, tokens, trials
from backend.experiments.models import Checkpoint, Dataset, LogLine, MetricPoint, Run, RunStatus, Sweep

BUILT_IN_KEY = "trainyard-embedded-insecure-key-change-me"  # the secret key every install shared before
REFUSED = "[trainyard] refused a checkpoint record outside the run's folder: "


class World:
    """Team A's owner with two running runs on a path storage, and the Ray submissions dispatch made."""

    def __init__(self, storage, monkeypatch):
        self.storage = storage
        self.team = Team.objects.create(name="Team A", slug="team-a")
        self.owner = get_user_model().objects.create_user("owner")
        Membership.objects.create(user=self.owner, team=self.team, role=Role.OWNER)
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(self.owner, 'test')[1]}")
        self.dataset = Dataset.objects.create(team=self.team, name="digits", path="datasets/team-a/digits")
        self.submitted: list[tuple[str, dict]] = []
        self.ray_has = set()

        def submit(submission_id, entrypoint, env_vars):  # Ray refuses a second job with one id
            self.submitted.append((submission_id, env_vars))
            if submission_id in self.ray_has:
                return False
            self.ray_has.add(submission_id)
            return True

        monkeypatch.setattr(ray_jobs, "submit", submit)

    def run(self, **kw) -> Run:
        fields = dict(team=self.team, created_by=self.owner, name="r", dataset=self.dataset, spec_text="x = 1",
                      resolved_spec={"x": 1}, spec_hash="0" * 64, resources={"num_workers": 1, "max_failures": 1})
        return Run.objects.create(**{**fields, **kw})

    def dispatched(self, run: Run) -> str:
        """Dispatch ``run`` and return the token its job's environment got."""
        assert lifecycle.dispatch(Run, str(run.pk)) in ("submitted", "already-submitted")
        run.refresh_from_db()
        return self.submitted[-1][1]["TRAINYARD_RUN_TOKEN"]

    def file(self, key: str, data: bytes = b"weights") -> str:
        path = self.storage / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return key


@pytest.fixture
def world(db, settings, tmp_path, monkeypatch):
    settings.TRAINYARD_STORAGE = tmp_path / "storage"
    (tmp_path / "storage").mkdir()
    return World(tmp_path / "storage", monkeypatch)


def _post(run: Run, token: str, seq: int = 0, **items):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    batch = {"session": "s", "seq": seq, "metrics": [{"mode": "train", "name": "loss", "step": seq, "value": 1.0}],
             **items}
    return client.post(f"/api/ingest/{run.pk}", batch, format="json")


# --- the token --------------------------------------------------------------------------------------------


def test_it_hands_each_dispatch_a_random_token_and_stores_only_its_digest(world):
    run = world.run()
    token = world.dispatched(run)
    run.refresh_from_db()
    assert run.ingest_token_digests == [hashlib.sha256(token.encode()).hexdigest()]
    assert len(token) >= 40 and token not in str(Run.objects.filter(pk=run.pk).values().get())
    assert _post(run, token).status_code == 200


@pytest.mark.parametrize("key", [BUILT_IN_KEY, "the-settings-own-key"])
def test_it_refuses_the_token_derived_from_a_secret_key(world, settings, key):
    if key == "the-settings-own-key":
        key = settings.SECRET_KEY
    run = world.run()
    world.dispatched(run)
    derived = hmac.new(key.encode(), f"ingest:{run.pk}".encode(), hashlib.sha256).hexdigest()
    r = _post(run, derived)
    assert r.status_code == 403 and r.json()["detail"] == "Unknown run or wrong run token."
    assert not MetricPoint.objects.filter(run=run).exists()


def test_it_refuses_another_runs_token_for_this_run(world):
    victim, mine = world.run(), world.run()
    world.dispatched(victim)
    my_token = world.dispatched(mine)
    r = _post(victim, my_token)
    assert r.status_code == 403
    assert not MetricPoint.objects.filter(run=victim).exists()


def test_it_refuses_a_token_once_the_run_has_ended_and_its_grace_is_over(world, settings):
    run = world.run()
    token = world.dispatched(run)
    run.transition(RunStatus.RUNNING)
    run.transition(RunStatus.SUCCEEDED, "done")
    assert _post(run, token, seq=1).status_code == 200  # a batch in flight when the run ended
    Run.objects.filter(pk=run.pk).update(
        finished_at=timezone.now() - timedelta(seconds=settings.TRAINYARD_INGEST_GRACE_SECONDS + 1))
    r = _post(run, token, seq=2)
    assert r.status_code == 403 and r.json()["detail"] == "The run has ended; its token is no longer accepted."
    assert list(MetricPoint.objects.filter(run=run).values_list("step", flat=True)) == [1]


def test_it_keeps_the_running_jobs_token_when_a_redelivered_dispatch_is_refused(world):
    run = world.run()
    first = world.dispatched(run)
    second = world.dispatched(run)  # the task comes again (acks_late), the run still dispatching
    assert [s for s, _ in world.submitted] == [str(run.pk), str(run.pk)] and first != second
    assert _post(run, first).status_code == 200  # the job Ray kept has the first token
    assert _post(run, second, seq=1).status_code == 403  # the refused submission's token reached no job


def test_it_refuses_the_dead_attempts_token_once_a_retry_starts(world):
    run = world.run()
    old = world.dispatched(run)
    run.transition(RunStatus.RUNNING)
    lifecycle.retry_or_fail(run, "the driver died")
    new = world.dispatched(run)
    assert world.submitted[-1][0] == f"{run.pk}-retry1"
    assert _post(run, old).status_code == 403
    assert _post(run, new, seq=1).status_code == 200


# --- sweeps: the driver's token and the trials' ------------------------------------------------------------


@pytest.fixture
def sweep(world):
    obj = submit.submit_sweep(world.owner, dataset="digits", spec_name="demo/resnet18-tiny_asha-sweep_digits.py")
    assert lifecycle.dispatch(Sweep, str(obj.pk)) == "submitted"
    obj.refresh_from_db()
    obj.transition(RunStatus.RUNNING)
    return obj


def _driver(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_it_registers_trials_only_with_the_sweeps_own_random_token(world, sweep):
    url = f"/api/ingest/sweeps/{sweep.pk}/trials"
    derived = hmac.new(BUILT_IN_KEY.encode(), f"ingest:sweep-{sweep.pk}".encode(), hashlib.sha256).hexdigest()
    assert _driver(derived).post(url, {"trial_id": "t1"}, format="json").status_code == 403
    token = world.submitted[-1][1]["TRAINYARD_SWEEP_TOKEN"]
    r = _driver(token).post(url, {"trial_id": "t1", "params": {"optimizer.lr": 0.1}}, format="json")
    assert r.status_code == 200, r.content
    trial = Run.objects.get(pk=r.json()["run_id"])
    assert _post(trial, r.json()["token"]).status_code == 200
    other = _driver(token).post(url, {"trial_id": "t2", "params": {"optimizer.lr": 0.2}}, format="json").json()
    assert _post(trial, other["token"], seq=1).status_code == 403  # a trial's token is its own run's only


# --- checkpoint records ------------------------------------------------------------------------------------


def _outside_paths(world, run, other):
    """What a reporter might claim as its checkpoint, each an existing file that is not the run's."""
    world.file(f"runs/{other.pk}/work/epoch_1.pth", b"the other run's weights")
    world.file("datasets/demo/digits/train/0/x.png", b"another team's image")
    link = world.storage / "runs" / str(run.pk) / "work" / "evil.pth"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(world.storage / "runs" / str(other.pk) / "work" / "epoch_1.pth")
    return {
        "another run's checkpoint": f"runs/{other.pk}/work/epoch_1.pth",
        "a dataset's file": "datasets/demo/digits/train/0/x.png",
        "out of the storage by '..'": "../../etc/passwd",
        "up and into another run": f"runs/{run.pk}/../{other.pk}/work/epoch_1.pth",
        "an absolute path": "/etc/passwd",
        "a link in the run's folder leading out": f"runs/{run.pk}/work/evil.pth",
    }


OUTSIDE = ["another run's checkpoint", "a dataset's file", "out of the storage by '..'", "up and into another run",
           "an absolute path", "a link in the run's folder leading out"]


@pytest.mark.parametrize("what", OUTSIDE)
def test_it_drops_a_checkpoint_record_outside_the_runs_folder_and_says_so(world, what):
    run, other = world.run(status=RunStatus.RUNNING), world.run()
    path = _outside_paths(world, run, other)[what]
    token = tokens.issue_ingest_token(run)
    own = world.file(f"runs/{run.pk}/work/epoch_2.pth")
    r = _post(run, token, checkpoints=[{"path": path, "epoch": 1, "iteration": 10},
                                       {"path": own, "epoch": 2, "iteration": 20}])
    assert r.status_code == 200, r.content  # not a batch error: the reporter would re-send it for ever
    assert list(Checkpoint.objects.filter(run=run).values_list("path", flat=True)) == [own]
    assert list(LogLine.objects.filter(run=run).values_list("text", flat=True)) == [
        f"{REFUSED}{path!r} (a run records only files under runs/{run.pk}/)"]


@pytest.mark.parametrize("what", OUTSIDE)
def test_it_never_serves_a_stored_record_outside_the_runs_folder(world, what):
    run, other = world.run(status=RunStatus.SUCCEEDED), world.run()
    path = _outside_paths(world, run, other)[what]
    row = Checkpoint.objects.create(run=run, path=path, epoch=1, iteration=10)  # stored before the check existed
    r = world.client.get(f"/api/runs/{run.pk}/checkpoints/{row.pk}/download")
    assert r.status_code == 404
    body = b"".join(r.streaming_content) if r.streaming else r.content
    assert b"weights" not in body and b"image" not in body and b"root:" not in body
    listed = world.client.get(f"/api/runs/{run.pk}/checkpoints").json()
    assert [c["available"] for c in listed] == [False]


def test_it_serves_a_checkpoint_in_the_runs_own_folder(world):
    run = world.run(status=RunStatus.SUCCEEDED)
    row = Checkpoint.objects.create(run=run, path=world.file(f"runs/{run.pk}/work/epoch_1.pth"), epoch=1,
                                    iteration=10)
    r = world.client.get(f"/api/runs/{run.pk}/checkpoints/{row.pk}/download")
    assert r.status_code == 200 and b"".join(r.streaming_content) == b"weights"


def test_it_takes_a_trials_checkpoints_from_its_own_folder_only(world, sweep):
    trial = trials.register_trial(sweep, "t1", {"optimizer.lr": 0.1})
    token = tokens.issue_ingest_token(trial)
    mine = world.file(f"runs/{trial.pk}/work/epoch_1.pth")  # where workers/distributed/sweep.py trains a trial
    sibling = trials.register_trial(sweep, "t2", {"optimizer.lr": 0.2})
    theirs = world.file(f"runs/{sibling.pk}/work/epoch_1.pth")
    shared = world.file(f"sweeps/{sweep.pk}/job.json", b"{}")
    r = _post(trial, token, checkpoints=[{"path": p, "epoch": 1, "iteration": 1} for p in (theirs, shared, mine)])
    assert r.status_code == 200
    assert list(Checkpoint.objects.filter(run=trial).values_list("path", flat=True)) == [mine]
    assert LogLine.objects.filter(run=trial, text__startswith=REFUSED).count() == 2


def test_the_job_environment_holds_the_storage_without_its_credentials(world, settings, s3_server):
    bucket = s3_server.bucket()
    settings.TRAINYARD_STORAGE = s3_server.uri(bucket, credentials=True)  # s3://testing:testing@<bucket>/...
    run = world.run()
    token = world.dispatched(run)
    env = world.submitted[-1][1]
    assert not [k for k in env if k.startswith(("RAY_", "AWS_", "DJANGO_", "DATABASE"))]
    assert env["TRAINYARD_STORAGE"] == s3_server.uri(bucket)  # the same store, no "testing:testing@"
    assert env["TRAINYARD_RUN_ID"] == str(run.pk) and env["TRAINYARD_RUN_TOKEN"] == token
