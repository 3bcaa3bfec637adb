"""Every endpoint, tried by the owner, a member, a viewer and an outsider."""
import pytest
from rest_framework.test import APIClient

from backend.experiments.models import Checkpoint, RunStatus
from tests.support.cast import DEMO_SPEC

READS = ["/api/runs/{id}", "/api/runs/{id}/metrics", "/api/runs/{id}/logs", "/api/runs/{id}/checkpoints",
         "/api/runs/{id}/checkpoints/{ckpt}/download"]


@pytest.fixture
def run(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run(status=RunStatus.QUEUED)
    (tmp_path / "runs" / str(run.pk) / "work").mkdir(parents=True)
    (tmp_path / "runs" / str(run.pk) / "work" / "epoch_1.pth").write_bytes(b"weights")
    ckpt = Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/work/epoch_1.pth", epoch=1, iteration=10, size=7)
    run.ckpt_id = ckpt.pk
    return run


@pytest.mark.parametrize("url", READS)
@pytest.mark.parametrize("who, status", [("owner", 200), ("member", 200), ("viewer", 200), ("outsider", 404)])
def test_it_lets_only_the_team_read_a_run(cast, run, url, who, status):
    r = cast.clients[who].get(url.format(id=run.pk, ckpt=run.ckpt_id))
    assert r.status_code == status


def test_it_lists_only_the_teams_runs_and_datasets(cast, run):
    assert [r["id"] for r in cast.clients["viewer"].get("/api/runs").json()["results"]] == [str(run.pk)]
    assert cast.clients["outsider"].get("/api/runs").json()["results"] == []
    assert [d["name"] for d in cast.clients["outsider"].get("/api/datasets").json()["results"]] == ["secret"]


@pytest.mark.parametrize("who, status", [("owner", 202), ("member", 202), ("viewer", 403), ("outsider", 404)])
def test_it_lets_only_writers_cancel(cast, run, who, status):
    r = cast.clients[who].post(f"/api/runs/{run.pk}/cancel")
    assert r.status_code == status
    run.refresh_from_db()
    assert run.status == (RunStatus.CANCELLED if status == 202 else RunStatus.QUEUED)


def test_it_says_a_finished_run_cannot_be_cancelled(cast, run):
    run.status = RunStatus.SUCCEEDED
    run.save()
    r = cast.clients["owner"].post(f"/api/runs/{run.pk}/cancel")
    assert r.status_code == 409 and r.json()["detail"] == "The run has already ended (succeeded)."


@pytest.mark.parametrize("who, team, status", [
    ("viewer", None, 403), ("viewer", "team-a", 403), ("outsider", "team-a", 404), ("member", "team-b", 404),
])
def test_it_refuses_submits_from_viewers_and_outsiders(cast, who, team, status):
    payload = {"spec_name": DEMO_SPEC, "dataset": "digits"}
    if team:
        payload["team"] = team
    r = cast.clients[who].post("/api/runs", payload, format="json")
    assert r.status_code == status
    assert not cast.team.runs.exists()


@pytest.mark.parametrize("url", ["/api/runs", "/api/datasets", "/api/runs/00000000-0000-0000-0000-000000000000"])
def test_it_asks_strangers_to_authenticate(url):
    assert APIClient().get(url).status_code in (401, 403)


def test_it_refuses_a_revoked_token(cast):
    from django.utils import timezone

    cast.users["owner"].api_tokens.update(revoked_at=timezone.now())
    r = cast.clients["owner"].get("/api/runs")
    assert r.status_code == 401 and r.json()["detail"] == "Invalid or revoked API token."


def test_it_treats_a_malformed_run_id_as_missing(cast):
    assert cast.clients["owner"].get("/api/runs/not-a-uuid/metrics").status_code == 404


def test_it_never_serves_a_checkpoint_path_outside_storage(cast, run, settings, tmp_path):
    bad = Checkpoint.objects.create(run=run, path="../../etc/passwd", epoch=2, iteration=20)
    r = cast.clients["owner"].get(f"/api/runs/{run.pk}/checkpoints/{bad.pk}/download")
    assert r.status_code == 404


@pytest.mark.parametrize("who, status", [("owner", 200), ("viewer", 200), ("outsider", 404)])
def test_it_shows_a_dataset_only_to_its_team(cast, who, status):
    r = cast.clients[who].get(f"/api/datasets/{cast.dataset.pk}")
    assert r.status_code == status
    if status == 200:
        assert r.json()["name"] == "digits" and len(r.json()["classes"]) == 10


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_offers_no_writes_on_datasets_yet(cast, method):
    r = getattr(cast.clients["owner"], method)(f"/api/datasets/{cast.dataset.pk}", {}, format="json")
    assert r.status_code == 405


def test_it_records_when_a_token_was_last_used_at_most_once_a_minute(cast):
    from datetime import timedelta

    from django.utils import timezone

    token = cast.users["owner"].api_tokens.get()
    assert token.last_used_at is None
    cast.clients["owner"].get("/api/runs")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    cast.clients["owner"].get("/api/runs")
    token.refresh_from_db()
    assert token.last_used_at == first
    type(token).objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
    cast.clients["owner"].get("/api/runs")
    token.refresh_from_db()
    assert timezone.now() - token.last_used_at < timedelta(seconds=30)
