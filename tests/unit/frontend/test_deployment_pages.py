"""The deployment pages as the cast sees them: "Deploy" next to a run's checkpoint (writers only), the
deployment's page (status, replicas, requests, p50/p95, the "try it" box) and undeploy."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from backend.deployments.models import Deployment, DeploymentStatus, PredictionSample
from backend.experiments.models import Checkpoint, RunStatus

SERVABLE = {"model": {"type": "ImageClassifier"}, "data": {"test": {"pipeline": [{"type": "LoadImageFromFile"}]}}}


def login(who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


@pytest.fixture
def ckpt(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec=SERVABLE)
    (tmp_path / "runs" / str(run.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(run.pk) / "epoch_2.pth").write_bytes(b"weights")
    return Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_2.pth", epoch=2, iteration=20)


@pytest.mark.parametrize("who, shown", [("member", True), ("viewer", False)])
def test_it_offers_deploy_next_to_a_checkpoint_to_writers(cast, ckpt, who, shown):
    page = login(who).get(f"/runs/{ckpt.run_id}").content.decode()
    assert ('class="deploy-ckpt' in page) is shown
    if shown:
        assert f'name="checkpoint" value="{ckpt.pk}"' in page and '<option value="onnxruntime">' in page


def test_it_deploys_from_the_run_page(cast, ckpt):
    r = login("member").post("/deployments/new", {"checkpoint": ckpt.pk, "runtime": "onnxruntime",
                                                  "replicas": "2", "max_batch_size": "16"})
    deployment = Deployment.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/deployments/{deployment.pk}"
    assert (deployment.runtime, deployment.replicas, deployment.max_batch_size) == ("onnxruntime", 2, 16)


def test_it_sends_a_refusal_back_to_the_run_page(cast, ckpt):
    client = login("member")
    r = client.post("/deployments/new", {"checkpoint": ckpt.pk, "replicas": "0"}, follow=True)
    assert not Deployment.objects.exists()
    assert "Not deployed: replicas: Ensure this value is greater than or equal to 1." in r.content.decode()


def test_it_shows_status_requests_and_latency(cast, ckpt):
    deployment = Deployment.objects.create(team=cast.team, run=ckpt.run, checkpoint=ckpt, name="digits-v1",
                                           status=DeploymentStatus.RUNNING, replicas=2, request_count=3,
                                           image_count=4)
    for ms in (10.0, 20.0, 30.0):
        PredictionSample.objects.create(deployment=deployment, latency_ms=ms)
    page = login("viewer").get(f"/deployments/{deployment.pk}").content.decode()
    assert 'data-testid="deployment-status">running<' in page
    assert "3 answered (4 images)" in page
    assert "p50 20.0 ms · p95 29.0 ms over the last 3 requests" in page
    assert 'id="try-it"' in page and 'name="images"' in page
    assert 'id="undeploy"' not in page  # a viewer
    assert 'id="undeploy"' in login("member").get(f"/deployments/{deployment.pk}").content.decode()
    assert "digits-v1" in login("viewer").get("/deployments").content.decode()


def test_it_undeploys_from_its_page(cast, ckpt):
    deployment = Deployment.objects.create(team=cast.team, run=ckpt.run, checkpoint=ckpt, name="d",
                                           status=DeploymentStatus.RUNNING)
    assert login("viewer").post(f"/deployments/{deployment.pk}/undeploy").status_code == 403
    r = login("owner").post(f"/deployments/{deployment.pk}/undeploy", follow=True)
    assert "Undeployed: it answers no more predictions." in r.content.decode()
    deployment.refresh_from_db()
    assert deployment.status == "stopped"


def test_it_answers_the_try_box_with_the_refusal(cast, ckpt):
    deployment = Deployment.objects.create(team=cast.team, run=ckpt.run, checkpoint=ckpt, name="d",
                                           status=DeploymentStatus.PENDING)
    client = login("viewer")
    r = client.post(f"/deployments/{deployment.pk}/try", {})
    assert r.status_code == 400 and "Send one image file or more" in r.content.decode()
    r = client.post(f"/deployments/{deployment.pk}/try", {"images": SimpleUploadedFile("7.png", b"\x89PNG")})
    assert r.status_code == 409 and "The deployment is pending, not running." in r.content.decode()
