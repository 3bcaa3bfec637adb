"""The reporter's endpoint: a batch is stored once, whatever the retries."""
from backend.experiments.models import Checkpoint, LogLine, MetricPoint, RunStatus


def _batch(run_id, seq=0, session="s1", steps=(5, 10)):
    return {
        "session": session, "seq": seq,
        "metrics": [{"mode": "train", "name": "loss", "step": s, "epoch": 1, "value": 2.0 / s} for s in steps]
        + [{"mode": "val", "name": "accuracy_top-1", "step": steps[-1], "epoch": 1, "value": 71.5},
           {"mode": "val", "name": "accuracy_top-5", "step": steps[-1], "epoch": 1, "value": 98.0}],
        "logs": ["Epoch [1][5/23] loss: 0.4", "Epoch [1][10/23] loss: 0.2"],
        "checkpoints": [{"path": f"runs/{run_id}/work/epoch_1.pth", "epoch": 1, "iteration": 23, "size": 10}],
        "events": [{"status": "running"}],
    }


def test_it_stores_a_batch_and_moves_the_run_to_running(cast):
    run = cast.make_run(status=RunStatus.DISPATCHING)
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", _batch(run.pk), format="json")
    assert r.status_code == 200, r.content
    assert r.json() == {"duplicate": False, "stored": {"metrics": 4, "logs": 2}, "stop": False}
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.best_metrics == {"accuracy_top-1": 71.5, "accuracy_top-5": 98.0, "epoch": 1, "step": 10}
    assert LogLine.objects.filter(run=run).count() == 2
    assert Checkpoint.objects.get(run=run).filename == "epoch_1.pth"


def test_it_stores_a_resent_batch_only_once(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    client = cast.ingest_client(run)
    client.post(f"/api/ingest/{run.pk}", _batch(run.pk), format="json")
    again = client.post(f"/api/ingest/{run.pk}", _batch(run.pk), format="json")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert MetricPoint.objects.filter(run=run).count() == 4
    assert LogLine.objects.filter(run=run).count() == 2


def test_it_keeps_one_point_per_step_when_a_resumed_run_replays(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    client = cast.ingest_client(run)
    client.post(f"/api/ingest/{run.pk}", _batch(run.pk, session="first", steps=(5, 10)), format="json")
    client.post(f"/api/ingest/{run.pk}", _batch(run.pk, session="after-restart", steps=(10, 15)), format="json")
    steps = sorted(MetricPoint.objects.filter(run=run, name="loss").values_list("step", flat=True))
    assert steps == [5, 10, 15]


def test_it_refuses_a_wrong_token(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    other = cast.make_run(status=RunStatus.RUNNING)
    r = cast.ingest_client(other).post(f"/api/ingest/{run.pk}", _batch(run.pk), format="json")
    assert r.status_code == 403
    assert r.json()["detail"] == "Unknown run or wrong run token."
    assert not MetricPoint.objects.filter(run=run).exists()


def test_it_refuses_a_user_api_token(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    r = cast.clients["owner"].post(f"/api/ingest/{run.pk}", _batch(run.pk), format="json")
    assert r.status_code == 403


def test_it_tells_the_trainer_to_stop_after_a_cancel(cast):
    run = cast.make_run(status=RunStatus.CANCELLING)
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", _batch(run.pk), format="json")
    assert r.status_code == 409 and r.json()["stop"] is True
    assert not MetricPoint.objects.filter(run=run).exists()


def test_it_rejects_a_malformed_batch_without_storing_anything(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    bad = _batch(run.pk)
    bad["metrics"][0]["value"] = "not a number"
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", bad, format="json")
    assert r.status_code == 400
    assert "metrics" in r.json()
    assert not MetricPoint.objects.filter(run=run).exists() and not run.batches.exists()


def test_it_ends_the_run_on_the_launchers_final_event(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    batch = {"session": "driver", "seq": 0, "events": [{"status": "failed", "reason": "RuntimeError: boom"}]}
    cast.ingest_client(run).post(f"/api/ingest/{run.pk}", batch, format="json")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.status_reason == "RuntimeError: boom"
