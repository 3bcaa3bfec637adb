"""``/api/evaluations``: submit (validation, each refusal's message), cancel, the result recorded when the job
ends, and the analysis of stored predictions (confusion matrix, per class, re-scoring); and the page."""
import pytest

from backend.evaluations.models import Evaluation
from backend.experiments import lifecycle
from backend.experiments.models import Checkpoint, RunStatus
from tests.support.evaluations import SPEC_WITH_SPLITS, make_evaluation

SCORES = [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]
LABELS = [0, 1, 1, 2, 0]  # 3 right; sample 2 (1 -> 0, score 0.6) and 4 (0 -> 2, score 0.4) wrong


@pytest.fixture
def ckpt(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec={"data": {"test": SPEC_WITH_SPLITS["data"]["test"]}})
    folder = tmp_path / "runs" / str(run.pk)
    folder.mkdir(parents=True)
    (folder / "epoch_1.pth").write_bytes(b"weights")
    return Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_1.pth", epoch=1, iteration=10)


def test_it_stores_an_evaluation_of_the_runs_spec(cast, ckpt):
    r = cast.clients["member"].post("/api/evaluations", {"checkpoint": ckpt.pk, "metrics": ["accuracy", "support"],
                                                        "metric_options": {"topk": [1, 2]}, "num_workers": 3},
                                    format="json")
    assert r.status_code == 201, r.json()
    evaluation = Evaluation.objects.get(pk=r.json()["id"])
    assert (evaluation.status, evaluation.split, evaluation.num_workers) == (RunStatus.QUEUED, "test", 3)
    assert evaluation.team == cast.team and evaluation.dataset == cast.dataset
    assert evaluation.resolved_spec == ckpt.run.resolved_spec and evaluation.checkpoint == ckpt
    assert evaluation.metric_names == ["accuracy", "support"] and evaluation.metric_options == {"topk": [1, 2]}
    assert evaluation.job_id == f"eval-{evaluation.pk}"


@pytest.mark.parametrize("payload, message", [
    ({"split": "val"}, "The run's spec has no data.val to score on; pick the other split."),
    ({"metrics": ["accuracy", "mAP"]}, "Unknown metric 'mAP': choose from accuracy, precision, recall, f1_score, support"),
    ({"metric_options": {"average_mode": "micro"}}, "average_mode must be 'macro' or 'none', got 'micro'."),
    ({"num_workers": 65}, "num_workers must be a whole number from 1 to 64 (TRAINYARD_MAX_NUM_WORKERS), got 65."),
    ({"dataset": "secret"}, "No dataset 'secret' in team Team A (available: digits)."),
])
def test_it_refuses_a_bad_request_with_its_reason(cast, ckpt, payload, message):
    r = cast.clients["owner"].post("/api/evaluations", {"checkpoint": ckpt.pk, **payload}, format="json")
    assert r.status_code == 400
    assert r.json()["detail"].startswith(message), r.json()
    assert not Evaluation.objects.exists()


def test_it_refuses_a_checkpoint_whose_file_is_gone(cast, ckpt, tmp_path):
    (tmp_path / ckpt.path).unlink()
    r = cast.clients["owner"].post("/api/evaluations", {"checkpoint": ckpt.pk}, format="json")
    assert r.status_code == 400 and "has no file any more" in r.json()["detail"]


def test_it_cancels_a_queued_evaluation_once(cast, ckpt, tmp_path):
    evaluation = make_evaluation(cast, ckpt, tmp_path)
    r = cast.clients["owner"].post(f"/api/evaluations/{evaluation.pk}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    evaluation.refresh_from_db()
    assert [e.to_status for e in evaluation.events.all()] == ["cancelled"]
    again = cast.clients["owner"].post(f"/api/evaluations/{evaluation.pk}/cancel")
    assert again.status_code == 409 and again.json()["detail"] == "The evaluation has already ended (cancelled)."


def test_it_records_the_metrics_of_the_stored_predictions_when_the_job_succeeds(cast, ckpt, tmp_path):
    evaluation = make_evaluation(cast, ckpt, tmp_path, SCORES, LABELS, status=RunStatus.RUNNING)
    assert lifecycle.apply_status(Evaluation, evaluation.pk, RunStatus.SUCCEEDED, "succeeded") == 1
    evaluation.refresh_from_db()
    assert evaluation.metrics == {"accuracy_top-1": 60.0, "accuracy_top-2": 100.0}
    assert evaluation.num_samples == 5 and evaluation.scoring_seconds == 1.5
    assert cast.clients["viewer"].get(f"/api/evaluations/{evaluation.pk}").json()["results"] == evaluation.metrics


def test_it_analyses_and_rescores_without_the_model(cast, ckpt, tmp_path):
    evaluation = make_evaluation(cast, ckpt, tmp_path, SCORES, LABELS, status=RunStatus.SUCCEEDED)
    url = f"/api/evaluations/{evaluation.pk}/analysis"
    a = cast.clients["viewer"].get(url).json()
    assert a["metrics"] == {"accuracy_top-1": 60.0, "accuracy_top-2": 100.0} and not a["rescored"]
    assert a["confusion_matrix"]["rows"] == [[1, 0, 1], [1, 1, 0], [0, 0, 1]]
    assert [(c["name"], c["support"]) for c in a["per_class"]] == [("0", 2), ("1", 2), ("2", 1)]
    assert [p["index"] for p in a["best"]] == [0, 3, 1] and [p["index"] for p in a["worst"]] == [2, 4]
    assert a["worst"][0]["file"] == "val/img2.png" and a["worst"][0]["pred_name"] == "0"

    again = cast.clients["viewer"].get(url, {"metrics": "recall", "metric_options": "average_mode=none",
                                             "normalize": "1", "sort": "confusion"}).json()
    assert again["rescored"] and again["metrics"]["recall"] == pytest.approx([50.0, 50.0, 100.0])
    assert again["confusion_matrix"]["order"] == [0, 1, 2]  # classes 0 and 1 are each confused twice, 2 once
    assert all(abs(sum(row) - 1) < 1e-6 for row in again["confusion_matrix"]["rows"])
    bad = cast.clients["viewer"].get(url, {"metrics": "mAP"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("Unknown metric 'mAP'")


def test_it_has_nothing_to_analyse_before_the_predictions_are_stored(cast, ckpt, tmp_path):
    evaluation = make_evaluation(cast, ckpt, tmp_path, status=RunStatus.RUNNING)
    r = cast.clients["owner"].get(f"/api/evaluations/{evaluation.pk}/analysis")
    assert r.status_code == 409 and r.json()["detail"].startswith("The evaluation has no predictions to analyse yet")


def test_its_page_shows_the_matrix_per_class_and_a_rescore(cast, ckpt, tmp_path):
    evaluation = make_evaluation(cast, ckpt, tmp_path, SCORES, LABELS, status=RunStatus.SUCCEEDED,
                                 metrics={"accuracy_top-1": 60.0}, num_samples=5)
    page = cast.login("viewer").get(f"/evaluations/{evaluation.pk}", {"metrics": "f1_score"}).content.decode()
    assert 'data-testid="confusion-matrix"' in page and 'data-testid="per-class"' in page
    assert "f1_score" in page and "re-scored from the stored predictions" in page
    assert "img2.png" in page  # the surest mistake
    assert "Cancel</button>" not in page


def test_the_run_page_offers_evaluate_next_to_a_checkpoint(cast, ckpt):
    page = cast.login("owner").get(f"/runs/{ckpt.run_id}/checkpoints").content.decode()
    assert 'action="/evaluations/new"' in page
    r = cast.login("owner").post("/evaluations/new", {"checkpoint": ckpt.pk, "split": "test", "num_workers": "2"})
    evaluation = Evaluation.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/evaluations/{evaluation.pk}"


def test_it_serves_a_samples_image_only_from_the_evaluations_dataset(cast, ckpt, tmp_path):
    files = ["val/img0.png", "../../../runs/x/epoch_1.pth", "", "val/missing.png", "val/img4.png"]
    evaluation = make_evaluation(cast, ckpt, tmp_path, SCORES, LABELS, files=files, status=RunStatus.SUCCEEDED)
    client = cast.login("viewer")
    r = client.get(f"/evaluations/{evaluation.pk}/samples/0")
    assert r.status_code == 200 and r["Content-Type"] == "image/png"
    assert b"".join(r.streaming_content).startswith(b"\x89PNG")
    for index in (1, 2, 3, 5, 99):  # leaves the dataset, none recorded, gone, no such sample
        assert client.get(f"/evaluations/{evaluation.pk}/samples/{index}").status_code == 404, index
    page = client.get(f"/evaluations/{evaluation.pk}").content.decode()
    assert f'src="/evaluations/{evaluation.pk}/samples/0"' in page


def test_it_waits_for_a_slot_of_the_teams_evaluations_not_of_its_runs(cast, ckpt, tmp_path, settings):
    settings.TRAINYARD_TEAM_MAX_RUNNING_EVALUATIONS = 1
    for _ in range(3):  # the team's running runs and sweeps hold no evaluation's slot
        cast.make_run(status=RunStatus.RUNNING)
        cast.make_sweep(status=RunStatus.RUNNING)
    first = make_evaluation(cast, ckpt, tmp_path)
    claimed = lifecycle.claim_for_dispatch(Evaluation, first.pk)
    assert isinstance(claimed, Evaluation) and claimed.status == RunStatus.DISPATCHING
    assert claimed.ray_submission_id == f"eval-{first.pk}"
    second = make_evaluation(cast, ckpt, tmp_path)
    outcome = lifecycle.claim_for_dispatch(Evaluation, second.pk)
    assert outcome == ("deferred (waiting for a slot: team Team A has 1 evaluation running "
                       "(TRAINYARD_TEAM_MAX_RUNNING_EVALUATIONS=1); it starts when one ends.)")
    second.refresh_from_db()
    assert second.status == RunStatus.QUEUED and second.status_reason.startswith("waiting for a slot")


# --- multi-label datasets (mAP, CP, CR, CF1, OP, OR, OF1) ----------------------------------------------------

ML_SCORES = [[0.9, 0.6], [0.4, 0.8], [0.7, 0.2]]
ML_TARGETS = [[1, 0], [1, 1], [0, -1]]  # values by hand in test_evaluation_scoring.py


def test_a_multi_label_run_is_scored_with_the_multi_label_metrics_by_default(cast, ckpt):
    type(ckpt.run).objects.filter(pk=ckpt.run_id).update(facts={"metric_names": ["mAP"], "primary_metric": "mAP"})
    r = cast.clients["member"].post("/api/evaluations", {"checkpoint": ckpt.pk, "metric_options": {"k": 2}},
                                    format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["metrics"] == ["mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"]
    assert r.json()["metric_options"] == {"k": 2}
    bad = cast.clients["member"].post("/api/evaluations", {"checkpoint": ckpt.pk, "metrics": ["accuracy"]},
                                      format="json")
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("Unknown metric 'accuracy': choose from mAP, CP, CR, CF1, OP, OR, OF1")


def test_it_records_and_analyses_a_multi_label_evaluation(cast, ckpt, tmp_path):
    evaluation = make_evaluation(cast, ckpt, tmp_path, ML_SCORES, ML_TARGETS, status=RunStatus.RUNNING,
                                 metric_names=["mAP", "CP", "OF1"], metric_options={"thr": 0.5})
    assert lifecycle.apply_status(Evaluation, evaluation.pk, RunStatus.SUCCEEDED, "succeeded") == 1
    evaluation.refresh_from_db()
    assert evaluation.metrics == pytest.approx({"mAP": (5 / 6 + 1) / 2 * 100, "CP": 50.0,
                                                "OF1": 2 * 50 * (200 / 3) / (50 + 200 / 3)})
    url = f"/api/evaluations/{evaluation.pk}/analysis"
    a = cast.clients["viewer"].get(url).json()
    assert a["multi_label"] and a["confusion_matrix"] is None and a["best"] == a["worst"] == []
    assert [(c["support"], round(c["ap"], 2)) for c in a["per_class"]] == [(2, 83.33), (1, 100.0)]
    again = cast.clients["viewer"].get(url, {"metrics": "CP,CR", "metric_options": "k=1"}).json()
    assert again["rescored"] and again["metrics"] == pytest.approx({"CP": 75.0, "CR": 75.0})
    bad = cast.clients["viewer"].get(url, {"metrics": "accuracy"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("Unknown metric 'accuracy'")
    page = cast.login("viewer").get(f"/evaluations/{evaluation.pk}").content.decode()
    assert 'data-testid="per-class"' in page and "<th>AP</th>" in page and "83.33" in page
    assert 'data-testid="confusion-matrix"' not in page and 'data-testid="multi-label-note"' in page
