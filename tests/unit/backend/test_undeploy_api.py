"""``DELETE /api/deployments/<id>``: a writer undeploys (stopped at once: no more predictions), a second time is
a 409, a viewer is refused (403) and an outsider sees nothing (404). The latency figures of the detail are the
percentiles of the answered requests, each of which is counted."""
import pytest

from backend.deployments.models import PredictionSample


def test_it_undeploys(cast, deployment):
    r = cast.clients["member"].delete(f"/api/deployments/{deployment.pk}")
    assert r.status_code == 202 and r.json()["status"] == "stopped"
    deployment.refresh_from_db()
    assert deployment.status == "stopped" and deployment.status_reason == "undeployed by member"
    assert deployment.ended_at is not None
    again = cast.clients["owner"].delete(f"/api/deployments/{deployment.pk}")
    assert again.status_code == 409 and again.json()["detail"] == "The deployment has already ended (stopped)."


@pytest.mark.parametrize("who, status", [("viewer", 403), ("outsider", 404)])
def test_it_refuses_a_viewer_and_hides_from_an_outsider(cast, deployment, who, status):
    r = cast.clients[who].delete(f"/api/deployments/{deployment.pk}")
    assert r.status_code == status
    deployment.refresh_from_db()
    assert deployment.status == "running"


def test_it_reports_latency_percentiles(cast, deployment):
    for ms in range(1, 101):  # 1 .. 100 ms
        PredictionSample.objects.create(deployment=deployment, latency_ms=float(ms))
    body = cast.clients["viewer"].get(f"/api/deployments/{deployment.pk}").json()
    assert body["latency_p50_ms"] == 50.5 and body["latency_p95_ms"] == 95.05


def test_it_lists_only_the_teams_deployments(cast, deployment):
    assert [d["id"] for d in cast.clients["viewer"].get("/api/deployments").json()["results"]] == [str(deployment.pk)]
    assert cast.clients["outsider"].get("/api/deployments").json()["results"] == []


def test_it_counts_each_answered_request_and_keeps_the_first_ones_time(cast, deployment):
    from backend.deployments.services import record_prediction

    record_prediction(deployment, 12.0, 2)
    deployment.refresh_from_db()
    first = deployment.first_prediction_at
    assert (deployment.request_count, deployment.image_count) == (1, 2) and first is not None
    record_prediction(deployment, 8.0, 1)
    body = cast.clients["owner"].get(f"/api/deployments/{deployment.pk}").json()
    assert (body["request_count"], body["image_count"], body["latency_p50_ms"]) == (2, 3, 10.0)
    deployment.refresh_from_db()
    assert deployment.first_prediction_at == first
    assert body["deploy_to_first_prediction_s"] == round((first - deployment.created_at).total_seconds(), 3)
