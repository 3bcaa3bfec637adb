"""Verified leaderboard entries (issue #17, item 3): ``POST /api/leaderboard/verify`` and the row's "Verify" button
start an evaluation of the row's best stored checkpoint on the val split; the row then carries the re-scored
number beside the reported one, a mismatch beyond the tolerance is flagged, and ``?verified=1`` keeps the
verified rows only."""
import csv
import io
import json

import pytest

from backend.evaluations.models import Evaluation
from backend.experiments import lifecycle
from backend.experiments.models import Checkpoint, RunStatus
from backend.leaderboard.verification import TOLERANCE
from tests.support.evaluations import write_predictions
from tests.support.leaderboard import LENET, RESNET, finished_run

TOP1 = "accuracy_top-1"
SPEC = {"model": {"type": "ImageClassifier", "backbone": {"type": "ResNet"}},
        "runner": {"type": "EpochBasedRunner", "max_epochs": 6},
        "data": {"val": {"type": "ImageNet", "pipeline": []}, "test": {"type": "ImageNet", "pipeline": []}}}
SCORES = [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]
LABELS = [0, 1, 1, 2, 0]  # 3 of 5 right: top-1 60.0


@pytest.fixture
def storage(settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    return tmp_path


def _checkpoint(run, storage, name, epoch, top1=None, stored=True) -> Checkpoint:
    folder = storage / "runs" / str(run.pk)
    folder.mkdir(parents=True, exist_ok=True)
    if stored:
        (folder / name).write_bytes(b"weights")
    return Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/{name}", epoch=epoch, iteration=10 * epoch,
                                     metrics={} if top1 is None else {TOP1: top1})


def _run(cast, storage, top1, spec_name=RESNET, **kw):
    """A finished run that reported ``top1`` and kept the checkpoint that scored it (and a worse one)."""
    run = finished_run(cast, spec_name, top1, 90.0, resolved_spec=SPEC, **kw)
    _checkpoint(run, storage, "epoch_2.pth", 2, top1 - 5)
    _checkpoint(run, storage, f"best_{TOP1}_epoch_4.pth", 4, top1)
    return run


def _finish(evaluation: Evaluation, storage, scores=SCORES, labels=LABELS) -> None:
    """The evaluation job ran: its predictions are stored and Ray says it succeeded."""
    write_predictions(evaluation, storage, scores, labels)
    Evaluation.objects.filter(pk=evaluation.pk).update(status=RunStatus.RUNNING)
    assert lifecycle.apply_status(Evaluation, evaluation.pk, RunStatus.SUCCEEDED, "succeeded") == 1


def _row(cast, who, run, **params) -> dict | None:
    rows = cast.clients[who].get("/api/leaderboard", params).json()["results"]
    return next((r for r in rows if r["run_id"] == str(run.pk)), None)


def test_it_rescores_the_best_stored_checkpoint_on_the_val_split(cast, storage):
    run = _run(cast, storage, 60.3)
    _checkpoint(run, storage, "epoch_6.pth", 6, 99.0, stored=False)  # rotated out: cannot be re-scored
    r = cast.clients["member"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
    assert r.status_code == 201, r.json()
    evaluation = Evaluation.objects.get(pk=r.json()["id"])
    assert evaluation.verifies == run and evaluation.split == "val" and evaluation.dataset == run.dataset
    assert evaluation.checkpoint.filename == f"best_{TOP1}_epoch_4.pth"
    assert evaluation.metric_names == ["accuracy"] and evaluation.metric_options == {"topk": [1, 5]}
    assert evaluation.reported == {"metric": TOP1, "value": 60.3, "checkpoint_value": 60.3}
    assert r.json()["verifies"] == str(run.pk) and r.json()["status"] == "queued"
    pending = _row(cast, "viewer", run)["verification"]
    assert pending["status"] == "pending" and pending["rescored"] is None and pending["evaluation_id"] == str(evaluation.pk)


def test_the_row_shows_verified_with_the_rescored_top1_beside_the_reported_one(cast, storage):
    run = _run(cast, storage, 60.3)
    r = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
    _finish(Evaluation.objects.get(pk=r.json()["id"]), storage)
    row = _row(cast, "viewer", run)
    assert row["top1"] == 60.3
    assert row["verification"] == {
        "status": "verified", "evaluation_id": r.json()["id"], "checkpoint": r.json()["checkpoint"], "metric": TOP1,
        "reported": 60.3, "rescored": 60.0, "difference": -0.3, "tolerance": TOLERANCE, "mismatch": False,
        "finished_at": row["verification"]["finished_at"]}
    assert row["verification"]["finished_at"] is not None


def test_it_flags_a_number_the_checkpoint_does_not_reproduce(cast, storage):
    run = _run(cast, storage, 76.5)
    r = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
    _finish(Evaluation.objects.get(pk=r.json()["id"]), storage)
    v = _row(cast, "viewer", run)["verification"]
    assert (v["status"], v["mismatch"], v["rescored"], v["difference"]) == ("mismatch", True, 60.0, -16.5)


def test_the_verified_filter_keeps_only_rows_verified_within_the_tolerance(cast, storage):
    good = _run(cast, storage, 60.0)
    bad = _run(cast, storage, 80.0, spec_name=LENET, backbone="LeNet5")
    never = finished_run(cast, "demo/other.py", 70.0, resolved_spec=SPEC)
    for run in (good, bad):
        r = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
        _finish(Evaluation.objects.get(pk=r.json()["id"]), storage)
    everything = cast.clients["viewer"].get("/api/leaderboard").json()["results"]
    assert {r["run_id"] for r in everything} == {str(good.pk), str(bad.pk), str(never.pk)}
    assert next(r for r in everything if r["run_id"] == str(never.pk))["verification"] is None
    verified = cast.clients["viewer"].get("/api/leaderboard", {"verified": "1"}).json()["results"]
    assert [r["run_id"] for r in verified] == [str(good.pk)]
    assert cast.clients["viewer"].get("/api/leaderboard", {"verified": "no"}).json()["results"] == everything
    text = cast.clients["viewer"].get("/api/leaderboard/csv", {"verified": "true"}).content.decode()
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["reference"] == "False"]  # not the zoo's rows
    assert [r["run_id"] for r in rows] == [str(good.pk)]
    assert json.loads(rows[0]["verification"])["status"] == "verified"


def test_it_does_not_start_a_second_verification_while_one_is_pending(cast, storage):
    run = _run(cast, storage, 60.0)
    first = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json").json()
    again = cast.clients["member"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
    assert again.status_code == 409
    assert again.json()["detail"] == f"A verification of this run is already queued (evaluation {first['id']})."
    assert Evaluation.objects.count() == 1


def test_a_later_failed_attempt_does_not_hide_a_successful_verification(cast, storage):
    run = _run(cast, storage, 60.0)
    first = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json").json()
    _finish(Evaluation.objects.get(pk=first["id"]), storage)
    again = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json").json()
    Evaluation.objects.get(pk=again["id"]).transition(RunStatus.FAILED, "the Ray job failed")
    v = _row(cast, "viewer", run)["verification"]
    assert v["status"] == "verified" and v["evaluation_id"] == first["id"]


def test_it_lets_only_the_runs_team_verify_and_not_its_viewers(cast, storage):
    run = _run(cast, storage, 60.0)
    viewer = cast.clients["viewer"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
    assert viewer.status_code == 403
    outsider = cast.clients["outsider"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
    assert outsider.status_code == 404
    theirs = _run(cast, storage, 60.0, team=cast.other_team, dataset=cast.other_dataset)
    assert cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(theirs.pk)},
                                      format="json").status_code == 404
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize("change, status, message", [
    ({"status": RunStatus.RUNNING}, 409, "The run is running: verify its number once it has finished."),
    ({"resolved_spec": {**SPEC, "data": {"test": SPEC["data"]["test"]}}}, 400,
     "The run's spec has no data.val: there is no validation split to verify its number on."),
    ({"best_metrics": {"loss": 0.1}}, 400, "This run has no reported accuracy_top-1 or mAP to verify"),
    ({"checkpoints": []}, 400, "The run has no stored checkpoint left to re-score"),
])
def test_it_refuses_a_row_it_cannot_verify_with_the_reason(cast, storage, change, status, message):
    run = _run(cast, storage, 60.0)
    if "checkpoints" in change:
        for ckpt in run.checkpoints.all():
            (storage / ckpt.path).unlink()
    else:
        type(run).objects.filter(pk=run.pk).update(**change)
    r = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
    assert r.status_code == status and r.json()["detail"].startswith(message), r.json()
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize("payload", [{}, {"run": "not-a-uuid"}, {"run": ["x"]}, {"run": "1" * 10_000},
                                     {"run": "00000000-0000-0000-0000-000000000000", "num_workers": 0}])
def test_it_answers_a_malformed_request_with_400_or_404(cast, storage, payload):
    r = cast.clients["owner"].post("/api/leaderboard/verify", payload, format="json")
    assert r.status_code in (400, 404) and not Evaluation.objects.exists()


# --- the page ------------------------------------------------------------------------------------------


def test_the_page_shows_the_verification_and_a_verify_button_to_writers_only(cast, storage):
    run = _run(cast, storage, 76.5)
    r = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(run.pk)}, format="json")
    _finish(Evaluation.objects.get(pk=r.json()["id"]), storage)
    html = cast.login("member").get("/leaderboard").content.decode()
    assert 'data-status="mismatch"' in html and "re-scored 60.00 · reported 76.50" in html
    assert f"off by -16.50, more than ±{TOLERANCE}" in html
    assert f'href="/evaluations/{r.json()["id"]}"' in html
    assert 'action="/leaderboard/verify"' in html and f'name="run" value="{run.pk}"' in html
    assert 'action="/leaderboard/verify"' not in cast.login("viewer").get("/leaderboard").content.decode()


def test_the_verify_button_starts_an_evaluation_and_returns_to_the_filtered_board(cast, storage):
    run = _run(cast, storage, 60.0)
    member = cast.login("member")
    r = member.post("/leaderboard/verify", {"run": str(run.pk), "dataset": "digits", "ordering": "-top1",
                                            "next": "https://evil.example"})
    assert r.status_code == 302 and r["Location"] == "/leaderboard?dataset=digits&ordering=-top1"
    evaluation = Evaluation.objects.get()
    assert evaluation.verifies == run and evaluation.created_by == cast.users["member"]
    page = member.get(r["Location"]).content.decode()
    assert "Verifying: verify r · best_accuracy_top-1_epoch_4.pth" in page and 'data-status="pending"' in page
    detail = cast.login("viewer").get(f"/evaluations/{evaluation.pk}").content.decode()
    assert 'data-testid="verifies"' in detail and "reported 60.00" in detail and f'href="/runs/{run.pk}"' in detail
    listed = cast.login("viewer").get("/evaluations").content.decode()
    assert "verifies a leaderboard row" in listed


def test_the_verify_button_is_refused_to_a_viewer_and_hidden_from_an_outsider(cast, storage):
    run = _run(cast, storage, 60.0)
    assert cast.login("viewer").post("/leaderboard/verify", {"run": str(run.pk)}).status_code == 403
    assert cast.login("outsider").post("/leaderboard/verify", {"run": str(run.pk)}).status_code == 404
    assert cast.login("owner").get("/leaderboard/verify").status_code == 405
    assert not Evaluation.objects.exists()


def test_the_verified_only_filter_is_a_checkbox_that_keeps_its_state(cast, storage):
    good = _run(cast, storage, 60.0)
    _run(cast, storage, 70.0, spec_name=LENET, backbone="LeNet5")
    r = cast.clients["owner"].post("/api/leaderboard/verify", {"run": str(good.pk)}, format="json")
    _finish(Evaluation.objects.get(pk=r.json()["id"]), storage)
    client = cast.login("viewer")
    assert 'name="verified" value="1" data-testid="verified-filter" >' in client.get("/leaderboard").content.decode()
    html = client.get("/leaderboard", {"verified": "1"}).content.decode()
    assert 'data-testid="verified-filter" checked' in html
    assert html.count('<tr class="entry"') == 1 and f'href="/runs/{good.pk}"' in html
    assert 'href="/api/leaderboard/csv?verified=1&amp;ordering=-top1"' in html


def test_the_top_menu_links_to_the_evaluations(cast):
    html = cast.login("viewer").get("/leaderboard").content.decode()
    assert '<a href="/evaluations">Evaluations</a>' in html.split("</nav>")[0]
