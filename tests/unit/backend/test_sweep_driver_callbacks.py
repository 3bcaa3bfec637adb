"""The sweep driver's Tune callback closes trials the scheduler stopped or that failed, over real HTTP."""
from types import SimpleNamespace

import pytest
from django.test import override_settings

from backend.experiments import submit, tokens, trials
from backend.experiments.models import RunStatus
from workers.distributed import sweep as driver

SWEEP_SPEC = "demo/resnet18-tiny_asha-sweep_digits.py"


@pytest.fixture
def running_sweep(cast, transactional_db):
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    sweep.transition(RunStatus.DISPATCHING)
    sweep.transition(RunStatus.RUNNING)
    return sweep


def _callback(live_server, sweep, tmp_path):
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        client = driver.SweepClient(live_server.url + "/api", str(sweep.pk), tokens.issue_ingest_token(sweep))
        return driver._trial_reporter_class()(client, 6, str(tmp_path))


def test_it_marks_a_trial_the_scheduler_stopped_as_early_stopped(live_server, running_sweep, tmp_path):
    run = trials.register_trial(running_sweep, "abc_00001", {"optimizer.lr": 0.1})
    cb = _callback(live_server, running_sweep, tmp_path)
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        cb.on_trial_complete(0, [], SimpleNamespace(trial_id="abc_00001", last_result={"training_iteration": 2}))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.early_stopped
    assert "after 2 of 6 evaluations" in run.status_reason


def test_it_closes_a_trial_that_ran_its_course_without_marking_it(live_server, running_sweep, tmp_path):
    run = trials.register_trial(running_sweep, "abc_00002", {"optimizer.lr": 0.1})
    cb = _callback(live_server, running_sweep, tmp_path)
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        cb.on_trial_complete(0, [], SimpleNamespace(trial_id="abc_00002", last_result={"training_iteration": 6}))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and not run.early_stopped
    assert run.status_reason == "finished its 6 evaluations"


def test_it_fails_a_trial_with_the_last_line_of_its_error(live_server, running_sweep, tmp_path):
    run = trials.register_trial(running_sweep, "abc_00003", {"optimizer.lr": 0.1})
    error = tmp_path / "error.txt"
    error.write_text("Traceback (most recent call last):\n  ...\nValueError: loss is nan\n")
    cb = _callback(live_server, running_sweep, tmp_path)
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        cb.on_trial_error(0, [], SimpleNamespace(trial_id="abc_00003", error_file=str(error), last_result={}))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.status_reason.endswith("ValueError: loss is nan")


def _first_evaluation(trial_id: str) -> dict:
    """Tune's last result of a trial ASHA stopped at its first evaluation: the engine's numbers and Tune's own."""
    return {"accuracy_top-1": 61.25, "accuracy_top-5": 93.5, "epoch": 1, "iter": 45, "training_iteration": 1,
            "time_this_iter_s": 3.2, "time_total_s": 3.2, "time_since_restore": 3.2, "iterations_since_restore": 1,
            "timestamp": 1796568860, "pid": 4242, "done": True, "should_checkpoint": False, "trial_id": trial_id,
            "hostname": "vm", "node_ip": "192.0.2.2", "date": "2026-12-06_14-54-20",
            "config": {"optimizer.lr": 0.1}, "checkpoint_dir_name": None}


def _val_points(run) -> list[tuple]:
    return sorted(run.metrics.filter(mode="val").values_list("name", "step", "epoch", "value"))


def test_closing_a_trial_asha_stopped_stores_the_evaluation_it_was_stopped_on(live_server, running_sweep, tmp_path,
                                                                              client):
    # The trial's own reporter never got its evaluation out (its actor was torn down as Tune decided).
    run = trials.register_trial(running_sweep, "abc_00004", {"optimizer.lr": 0.1})
    cb = _callback(live_server, running_sweep, tmp_path)
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        cb.on_trial_complete(0, [], SimpleNamespace(trial_id="abc_00004", last_result=_first_evaluation("abc_00004")))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.early_stopped
    assert "after 1 of 6 evaluations" in run.status_reason
    # what ASHA decided on, at the step and epoch the engine evaluated; none of Tune's bookkeeping
    assert _val_points(run) == [("accuracy_top-1", 45, 1, 61.25), ("accuracy_top-5", 45, 1, 93.5)]
    assert not run.metrics.filter(mode="train").exists()
    client.force_login(running_sweep.created_by)
    listed = client.get(f"/api/sweeps/{running_sweep.pk}/trials").json()
    assert [(t["trial_id"], t["value"]) for t in listed] == [("abc_00004", 61.25)]
    running_sweep.refresh_from_db()
    assert running_sweep.best_trial_id == run.pk and running_sweep.best_value == 61.25


def test_closing_adds_no_second_point_where_the_trials_reporter_got_its_evaluation_out(live_server, running_sweep,
                                                                                       tmp_path):
    from workers.distributed.reporter import HttpReporter

    run = trials.register_trial(running_sweep, "abc_00005", {"optimizer.lr": 0.1})
    token = tokens.issue_ingest_token(run)
    rank0 = HttpReporter(f"{live_server.url}/api/ingest/{run.pk}", token, tmp_path / "rank0-spool")
    rank0.metrics(45, {"accuracy_top-1": 61.25, "accuracy_top-5": 93.5}, epoch=1, mode="val")
    assert rank0.close(timeout=30)
    cb = _callback(live_server, running_sweep, tmp_path)
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        cb.on_trial_complete(0, [], SimpleNamespace(trial_id="abc_00005", last_result=_first_evaluation("abc_00005")))
        cb.on_trial_complete(0, [], SimpleNamespace(trial_id="abc_00005", last_result=_first_evaluation("abc_00005")))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.early_stopped
    assert _val_points(run) == [("accuracy_top-1", 45, 1, 61.25), ("accuracy_top-5", 45, 1, 93.5)]


def test_a_pbt_trial_that_reached_its_last_epoch_on_a_donors_count_is_not_early_stopped(live_server, running_sweep,
                                                                                        tmp_path):
    # Cloned from a donor one evaluation behind it: Tune counts the donor's evaluations, the weights are at 6.
    run = trials.register_trial(running_sweep, "abc_00006", {"optimizer.lr": 0.1})
    with override_settings(TRAINYARD_PUBLIC_URL=live_server.url):
        client = driver.SweepClient(live_server.url + "/api", str(running_sweep.pk),
                                    tokens.issue_ingest_token(running_sweep))
        cb = driver._trial_reporter_class()(client, 6, str(tmp_path), {"runner": {"max_epochs": 6}})
        cb.on_trial_complete(0, [], SimpleNamespace(trial_id="abc_00006", last_result={
            **_first_evaluation("abc_00006"), "epoch": 6, "iter": 270, "training_iteration": 5}))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and not run.early_stopped, run.status_reason
    assert [p[:3] for p in _val_points(run)] == [("accuracy_top-1", 270, 6), ("accuracy_top-5", 270, 6)]
