"""The periodic reconcile against a real Ray head: Ray's job states become run states."""
import time

import pytest
from ray.job_submission import JobSubmissionClient

from backend.experiments import lifecycle
from backend.experiments.models import Run, RunStatus
from tests.support.cast import Cast

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def ray(ray_head, monkeypatch, settings):
    settings.RAY_ADDRESS = ray_head["RAY_ADDRESS"]
    monkeypatch.setenv("RAY_AUTH_TOKEN", ray_head["RAY_AUTH_TOKEN"])
    return JobSubmissionClient(ray_head["RAY_ADDRESS"],
                               headers={"Authorization": f"Bearer {ray_head['RAY_AUTH_TOKEN']}"})


def _finish(ray, run, code: str) -> None:
    ray.submit_job(entrypoint=f"python -c \"{code}\"", submission_id=run.job_id)
    deadline = time.monotonic() + 60
    while ray.get_job_status(run.job_id).value not in ("SUCCEEDED", "FAILED", "STOPPED"):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_it_fails_a_running_run_whose_job_ray_never_heard_of(ray):
    run = Cast().make_run(status=RunStatus.RUNNING)
    assert lifecycle.reconcile(Run)["changed"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.status_reason == "lost: the Ray cluster has no record of its job"


def test_it_fails_a_run_whose_job_failed_and_says_why(ray):
    run = Cast().make_run(status=RunStatus.RUNNING)
    _finish(ray, run, "import sys; print('loading data'); sys.exit('dataset folder missing')")
    lifecycle.reconcile(Run)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "dataset folder missing" in run.status_reason


def test_it_marks_a_run_succeeded_when_its_job_did(ray):
    run = Cast().make_run(status=RunStatus.DISPATCHING)
    _finish(ray, run, "print('ok')")
    lifecycle.reconcile(Run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.finished_at is not None


def test_it_leaves_runs_alone_when_ray_is_unreachable(ray, settings):
    from backend.experiments import ray_jobs

    run = Cast().make_run(status=RunStatus.RUNNING)
    settings.RAY_ADDRESS = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(ray_jobs.RayUnavailable):
        lifecycle.reconcile(Run)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_it_submits_a_run_again_when_its_driver_died_until_max_failures(ray, django_capture_on_commit_callbacks):
    run = Cast().make_run(status=RunStatus.RUNNING, resources={"num_workers": 2, "max_failures": 1})
    _finish(ray, run, "import os; os.kill(os.getpid(), 9)")  # a driver killed outright
    lifecycle.reconcile(Run)
    run.refresh_from_db()
    assert run.status == RunStatus.DISPATCHING and run.attempt == 1
    assert run.job_id == f"{run.pk}-retry1"
    assert run.status_reason.startswith("retry 1 of 1: ")
    run.transition(RunStatus.RUNNING)
    _finish(ray, run, "import os; os.kill(os.getpid(), 9)")
    lifecycle.reconcile(Run)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.status_reason.endswith("(after 2 attempts)")
