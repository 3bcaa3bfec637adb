"""The sweep driver's Tune callback closes trials the scheduler stopped or that failed, over real HTTP."""
from types import SimpleNamespace

import pytest
from django.test import override_settings

from backend.experiments import services, sweeps
from backend.experiments.models import RunStatus
from workers.distributed import sweep as driver

SWEEP_SPEC = "demo/resnet18-tiny_asha-sweep_digits.py"


@pytest.fixture
def running_sweep(cast, transactional_db):
    sweep = sweeps.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    sweep.transition(RunStatus.DISPATCHING)
    sweep.transition(RunStatus.RUNNING)
    return sweep


def _callback(live_server, sweep, tmp_path):
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        client = driver.SweepClient(live_server.url + "/api", str(sweep.pk), services.issue_ingest_token(sweep))
        return driver._trial_reporter_class()(client, 6, str(tmp_path))


def test_it_marks_a_trial_the_scheduler_stopped_as_early_stopped(live_server, running_sweep, tmp_path):
    run = sweeps.register_trial(running_sweep, "abc_00001", {"optimizer.lr": 0.1})
    cb = _callback(live_server, running_sweep, tmp_path)
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        cb.on_trial_complete(0, [], SimpleNamespace(trial_id="abc_00001", last_result={"training_iteration": 2}))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.early_stopped
    assert "after 2 of 6 evaluations" in run.status_reason


def test_it_closes_a_trial_that_ran_its_course_without_marking_it(live_server, running_sweep, tmp_path):
    run = sweeps.register_trial(running_sweep, "abc_00002", {"optimizer.lr": 0.1})
    cb = _callback(live_server, running_sweep, tmp_path)
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        cb.on_trial_complete(0, [], SimpleNamespace(trial_id="abc_00002", last_result={"training_iteration": 6}))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and not run.early_stopped
    assert run.status_reason == "finished its 6 evaluations"


def test_it_fails_a_trial_with_the_last_line_of_its_error(live_server, running_sweep, tmp_path):
    run = sweeps.register_trial(running_sweep, "abc_00003", {"optimizer.lr": 0.1})
    error = tmp_path / "error.txt"
    error.write_text("Traceback (most recent call last):\n  ...\nValueError: loss is nan\n")
    cb = _callback(live_server, running_sweep, tmp_path)
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        cb.on_trial_error(0, [], SimpleNamespace(trial_id="abc_00003", error_file=str(error), last_result={}))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.status_reason.endswith("ValueError: loss is nan")
