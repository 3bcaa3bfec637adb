"""Sweeps through the API: submit-time validation, trial registration, best trial, cancel, access."""
import pytest
from rest_framework.test import APIClient

from backend.experiments import submit, tokens, trials
from backend.experiments.models import MetricPoint, Run, RunStatus, Sweep

SWEEP_SPEC = "demo/resnet18-tiny_asha-sweep_digits.py"


def _submit(cast, who="member", **payload):
    body = {"spec_name": SWEEP_SPEC, "dataset": "digits", **payload}
    return cast.clients[who].post("/api/sweeps", body, format="json")


def _driver(sweep) -> APIClient:
    """The sweep driver's client, with a token issued as dispatch issues the one in its job's environment."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue_ingest_token(sweep)}")
    return client


def test_it_stores_a_sweep_with_its_normalised_search_and_queues_it(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        r = _submit(cast)
    assert r.status_code == 201, r.content
    sweep = Sweep.objects.get(pk=r.json()["id"])
    assert sweep.status == RunStatus.QUEUED and sweep.team == cast.team
    assert sweep.config["metric"] == "accuracy_top-1" and sweep.config["num_samples"] == 8
    assert r.json()["planned_trials"] == 8
    assert len(callbacks) == 1


@pytest.mark.parametrize("sweep_override, fragment", [
    ({"space": {"optimizer.lrr": {"type": "choice", "values": [1]}}, "metric": "accuracy_top-1", "mode": "max"},
     None),  # a new leaf key under an existing dict is allowed (validated by the trial-spec probe)
    ({"space": {"optimiser.lr": {"type": "choice", "values": [1]}}, "metric": "accuracy_top-1", "mode": "max"},
     "the spec has no 'optimiser'"),
    ({"space": {"optimizer.lr": {"type": "loguniform", "lower": 0, "upper": 1}}, "metric": "accuracy_top-1",
      "mode": "max"}, "a positive number"),
    ({"space": {"optimizer.lr": {"type": "choice", "values": [0.1]}}, "metric": "top1", "mode": "max"},
     "sweep.metric 'top1' is not a metric this spec's evaluation reports (accuracy_top-1, accuracy_top-5)"),
    ({"space": {"optimizer.lr": {"type": "uniform", "lower": 0.01, "upper": 0.1}}, "metric": "accuracy_top-1",
      "mode": "max", "search_alg": "grid"}, "a grid search needs values to enumerate"),
    ({"space": {"model.backbone.type": {"type": "choice", "values": ["ResNut"]}}, "metric": "accuracy_top-1",
      "mode": "max"}, "unknown model type 'ResNut'"),
    ({"space": {"optimizer.lr": {"type": "grid_search", "values": [0.1, 0.2]}}, "metric": "accuracy_top-1",
      "mode": "max", "scheduler": "pbt"}, "scheduler 'pbt' needs a space key it can mutate"),
    ({"space": {"optimizer.lr": {"type": "choice", "values": [0.1]}}, "metric": "accuracy_top-1", "mode": "max",
      "scheduler": "pbt"}, None),
])
def test_it_refuses_a_bad_search_and_stores_nothing(cast, sweep_override, fragment):
    r = _submit(cast, sweep=sweep_override)
    if fragment is None:
        assert r.status_code == 201, r.content
        return
    assert r.status_code == 400, r.content
    body = r.json()
    text = body["detail"] + " ".join(str(e) for e in body.get("errors", []))
    assert fragment in text, text
    assert Sweep.objects.count() == 0


def test_it_refuses_a_sweep_spec_as_a_plain_run(cast):
    r = cast.clients["member"].post("/api/runs", {"spec_name": SWEEP_SPEC, "dataset": "digits"}, format="json")
    assert r.status_code == 400 and "submit it as a sweep" in r.json()["detail"]
    assert Run.objects.count() == 0


def _running_sweep(cast) -> Sweep:
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    sweep.transition(RunStatus.DISPATCHING)
    sweep.transition(RunStatus.RUNNING)
    return sweep


def test_it_registers_a_trial_once_and_gives_it_a_run_of_its_own(cast):
    sweep = _running_sweep(cast)
    body = {"trial_id": "abc_00001", "params": {"optimizer.lr": 0.02, "model.head.loss.label_smooth_val": 0.0}}
    first = _driver(sweep).post(f"/api/ingest/sweeps/{sweep.pk}/trials", body, format="json")
    again = _driver(sweep).post(f"/api/ingest/sweeps/{sweep.pk}/trials", body, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["run_id"] == again.json()["run_id"]
    assert first.json()["ingest_url"] == again.json()["ingest_url"]
    assert first.json()["token"] != again.json()["token"]  # each registration issues one; both work (below)
    run = Run.objects.get(pk=first.json()["run_id"])
    assert run.sweep == sweep and run.status == RunStatus.RUNNING and run.team == cast.team
    assert run.resolved_spec["optimizer"]["lr"] == 0.02 and "sweep" not in run.resolved_spec
    assert run.trial_params == body["params"]
    # the trial reports like any run, with the token it was given
    for seq, answer in enumerate((first, again)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {answer.json()['token']}")
        r = client.post(f"/api/ingest/{run.pk}", {"session": "s", "seq": seq, "metrics": [
            {"mode": "val", "name": "accuracy_top-1", "step": 10, "epoch": 1, "value": 71.5}]}, format="json")
        assert r.status_code == 200, r.content
    sweep.refresh_from_db()
    assert sweep.best_trial == run and sweep.best_value == 71.5


def test_it_refuses_a_wrong_sweep_token_and_unknown_parameters(cast):
    sweep = _running_sweep(cast)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer nope")
    assert bad.post(f"/api/ingest/sweeps/{sweep.pk}/trials", {"trial_id": "t"}, format="json").status_code == 403
    r = _driver(sweep).post(f"/api/ingest/sweeps/{sweep.pk}/trials",
                            {"trial_id": "t", "params": {"optimizer.momentum": 0.5}}, format="json")
    assert r.status_code == 400 and "not keys of the sweep's space" in r.json()["detail"]
    assert not Run.objects.exists()


def test_it_keeps_the_best_trial_by_the_sweeps_mode_and_lists_trials_best_first(cast):
    sweep = _running_sweep(cast)
    runs = [trials.register_trial(sweep, f"t{i}", {"optimizer.lr": lr}) for i, lr in enumerate([0.1, 0.01, 0.001])]
    for run, value in zip(runs, [60.0, 90.0, 75.0], strict=True):
        points = [MetricPoint(run=run, mode="val", name="accuracy_top-1", step=1, epoch=1, value=value)]
        MetricPoint.objects.bulk_create(points)
        trials.note_trial_points(run, points)
    sweep.refresh_from_db()
    assert sweep.best_trial == runs[1] and sweep.best_value == 90.0
    r = cast.clients["viewer"].get(f"/api/sweeps/{sweep.pk}/trials")
    assert r.status_code == 200
    assert [t["value"] for t in r.json()] == [90.0, 75.0, 60.0]
    assert r.json()[0]["trial_params"] == {"optimizer.lr": 0.01}


def test_it_marks_a_trial_stopped_early_by_the_scheduler(cast):
    sweep = _running_sweep(cast)
    run = trials.register_trial(sweep, "t0", {"optimizer.lr": 0.1})
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", {"session": "d", "seq": 0, "events": [
        {"status": "succeeded", "reason": "stopped early by the scheduler", "early_stopped": True}]}, format="json")
    assert r.status_code == 200, r.content
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.early_stopped


def test_it_records_the_environment_a_run_reports(cast):
    run = cast.make_run()
    env = {"code_version": "0.1.0 (abc123)", "packages": {"torch": "2.14.1"}, "seed": 7}
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", {"session": "d", "seq": 0, "events": [
        {"status": None, "environment": env}]}, format="json")
    assert r.status_code == 200, r.content
    run.refresh_from_db()
    assert run.environment == env and run.status == RunStatus.QUEUED


def test_it_ends_open_trials_with_their_sweep(cast):
    sweep = _running_sweep(cast)
    done = trials.register_trial(sweep, "t0", {"optimizer.lr": 0.1})
    done.transition(RunStatus.SUCCEEDED)
    open_ = trials.register_trial(sweep, "t1", {"optimizer.lr": 0.2})
    r = _driver(sweep).post(f"/api/ingest/sweeps/{sweep.pk}", {"events": [{"status": "succeeded"}]}, format="json")
    assert r.json() == {"status": "succeeded"}
    open_.refresh_from_db()
    done.refresh_from_db()
    assert done.status == RunStatus.SUCCEEDED
    assert open_.status == RunStatus.FAILED and "without word from this trial" in open_.status_reason
    late = _driver(sweep).post(f"/api/ingest/sweeps/{sweep.pk}/trials", {"trial_id": "t9"}, format="json")
    assert late.status_code == 409


def test_it_cancels_a_queued_sweep_at_once_and_refuses_a_trial_cancel(cast):
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    r = cast.clients["member"].post(f"/api/sweeps/{sweep.pk}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    running = _running_sweep(cast)
    trial = trials.register_trial(running, "t0", {"optimizer.lr": 0.1})
    r = cast.clients["member"].post(f"/api/runs/{trial.pk}/cancel")
    assert r.status_code == 409 and "cancel the sweep" in r.json()["detail"]


@pytest.mark.parametrize("method, path", [
    ("get", "/api/sweeps/{id}"), ("get", "/api/sweeps/{id}/trials"), ("post", "/api/sweeps/{id}/cancel"),
])
def test_it_hides_sweeps_from_outsiders_and_refuses_viewers_writes(cast, method, path):
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    url = path.format(id=sweep.pk)
    assert getattr(cast.clients["outsider"], method)(url).status_code == 404
    viewer = getattr(cast.clients["viewer"], method)(url).status_code
    assert viewer == (403 if method == "post" else 200)
    assert cast.clients["viewer"].post("/api/sweeps", {"spec_name": SWEEP_SPEC, "dataset": "digits"},
                                       format="json").status_code == 403
    assert cast.clients["outsider"].get("/api/sweeps").json()["results"] == []
    sweep.refresh_from_db()
    assert sweep.status == RunStatus.QUEUED


def test_it_lets_a_trial_be_trained_again_as_a_plain_run(cast):
    from backend.experiments import run_actions

    sweep = _running_sweep(cast)
    trial = trials.register_trial(sweep, "t0", {"optimizer.lr": 0.02})
    form = run_actions.fork_run(trial)
    run = submit.submit_run(cast.users["member"], dataset=form["dataset"], spec_text=form["spec_text"],
                              cfg_options=form["cfg_options"] or None)
    assert run.resolved_spec["optimizer"]["lr"] == 0.02 and "sweep" not in run.resolved_spec
    assert run.spec_hash == trial.spec_hash


def test_it_treats_what_a_cancelled_sweep_reports_as_the_cancel_taking_effect(cast):
    sweep = _running_sweep(cast)
    trial = trials.register_trial(sweep, "t0", {"optimizer.lr": 0.1})
    sweep.transition(RunStatus.CANCELLING, "cancel requested")
    r = cast.ingest_client(trial).post(f"/api/ingest/{trial.pk}", {"session": "d", "seq": 0, "events": [
        {"status": "failed", "reason": "trial failed: the actor died"}]}, format="json")
    assert r.status_code == 409
    trial.refresh_from_db()
    assert trial.status == RunStatus.CANCELLED
    _driver(sweep).post(f"/api/ingest/sweeps/{sweep.pk}", {"events": [{"status": "failed", "reason": "SIGTERM"}]},
                        format="json")
    sweep.refresh_from_db()
    assert sweep.status == RunStatus.CANCELLING  # "cancelled" once Ray says the job stopped


def test_it_refuses_pbt_over_deepspeed_trials(cast):
    sweep = {"space": {"optimizer.lr": {"type": "loguniform", "lower": 1e-3, "upper": 0.1}},
             "metric": "accuracy_top-1", "mode": "max", "scheduler": "pbt"}
    r = _submit(cast, sweep=sweep, resources={"strategy": "deepspeed"})
    assert r.status_code == 400, r.content
    assert "scheduler 'pbt' cannot clone a DeepSpeed trial" in r.json()["detail"]
    assert Sweep.objects.count() == 0


def test_a_trial_pbt_restarts_with_mutated_params_takes_them_on(cast):
    sweep = _running_sweep(cast)
    url = f"/api/ingest/sweeps/{sweep.pk}/trials"
    first = _driver(sweep).post(url, {"trial_id": "abc_00001", "params": {"optimizer.lr": 0.02}}, format="json")
    again = _driver(sweep).post(url, {"trial_id": "abc_00001", "params": {"optimizer.lr": 0.024}}, format="json")
    assert again.status_code == 200 and again.json()["run_id"] == first.json()["run_id"]
    run = Run.objects.get(pk=first.json()["run_id"])
    assert run.trial_params == {"optimizer.lr": 0.024}
    assert run.resolved_spec["optimizer"]["lr"] == 0.024 and "lr=0.024" in run.spec_text
    assert run.events.last().reason == "PBT mutated optimizer.lr=0.024"
    # the driver closing the trial registers it with no params: nothing changes
    _driver(sweep).post(url, {"trial_id": "abc_00001", "params": {}}, format="json")
    run.refresh_from_db()
    assert run.trial_params == {"optimizer.lr": 0.024} and run.events.count() == 2
