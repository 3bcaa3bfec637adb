"""``POST /api/deployments``: a checkpoint of the team's run is deployed (stored pending, its dispatch queued);
a viewer is refused (403), another team's checkpoint does not exist (404), and every value out of bounds is a
400 naming the field and its limit."""
import pytest

from backend.deployments.models import Deployment, DeploymentStatus
from backend.experiments.models import Checkpoint, RunStatus

SERVABLE = {"model": {"type": "ImageClassifier"}, "data": {"test": {"pipeline": [{"type": "LoadImageFromFile"}]}}}


@pytest.fixture
def ckpt(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec=SERVABLE)
    folder = tmp_path / "runs" / str(run.pk)
    folder.mkdir(parents=True)
    (folder / "epoch_6.pth").write_bytes(b"weights")
    return Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_6.pth", epoch=6, iteration=60)


def test_it_deploys_a_checkpoint_of_the_team(cast, ckpt):
    r = cast.clients["member"].post("/api/deployments", {"checkpoint": ckpt.pk, "runtime": "onnxruntime",
                                                         "replicas": 2, "max_batch_size": 16,
                                                         "batch_wait_timeout_s": 0.005}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "pending" and body["team"] == "team-a" and body["checkpoint_file"] == "epoch_6.pth"
    deployment = Deployment.objects.get(pk=body["id"])
    assert (deployment.runtime, deployment.replicas, deployment.max_batch_size) == ("onnxruntime", 2, 16)
    assert deployment.run == ckpt.run and deployment.created_by == cast.users["member"]
    assert body["predict_url"] == f"/api/deployments/{deployment.pk}/predict"


def test_it_refuses_a_viewer(cast, ckpt):
    r = cast.clients["viewer"].post("/api/deployments", {"checkpoint": ckpt.pk}, format="json")
    assert r.status_code == 403
    assert r.json()["detail"] == "Viewers cannot change anything in this team."
    assert not Deployment.objects.exists()


def test_it_hides_another_teams_checkpoint(cast, ckpt):
    r = cast.clients["outsider"].post("/api/deployments", {"checkpoint": ckpt.pk}, format="json")
    assert r.status_code == 404 and r.json()["detail"] == "No such checkpoint."
    assert not Deployment.objects.exists()


@pytest.mark.parametrize("field, value, message", [
    ("runtime", "tensorrt", '"tensorrt" is not a valid choice.'),
    ("replicas", 0, "Ensure this value is greater than or equal to 1."),
    ("replicas", 99, "at most 8 replicas (TRAINYARD_DEPLOY_MAX_REPLICAS)"),
    ("cpus_per_replica", 0, "Ensure this value is greater than or equal to 0.1."),
    ("gpus_per_replica", -1, "Ensure this value is greater than or equal to 0.0."),
    ("max_batch_size", 0, "Ensure this value is greater than or equal to 1."),
    ("max_batch_size", 1000, "at most 256 (TRAINYARD_DEPLOY_MAX_BATCH_SIZE)"),
    ("batch_wait_timeout_s", 11, "Ensure this value is less than or equal to 10.0."),
    ("checkpoint", "latest", "A valid integer is required."),
])
def test_it_refuses_values_out_of_bounds(cast, ckpt, field, value, message):
    r = cast.clients["owner"].post("/api/deployments", {"checkpoint": ckpt.pk, field: value}, format="json")
    assert r.status_code == 400
    assert r.json()[field] == [message]
    assert not Deployment.objects.exists()


def test_it_refuses_a_checkpoint_whose_file_is_gone(cast, ckpt, tmp_path):
    (tmp_path / ckpt.path).unlink()
    r = cast.clients["owner"].post("/api/deployments", {"checkpoint": ckpt.pk}, format="json")
    assert r.status_code == 400
    assert r.json()["detail"].startswith(f"Checkpoint {ckpt.pk} (epoch_6.pth) has no file any more")


def test_it_refuses_a_run_without_a_test_pipeline(cast, ckpt):
    ckpt.run.resolved_spec = {"model": {"type": "ImageClassifier"}}
    ckpt.run.save(update_fields=["resolved_spec"])
    r = cast.clients["owner"].post("/api/deployments", {"checkpoint": ckpt.pk}, format="json")
    assert r.status_code == 400
    assert r.json()["detail"] == ("The run's spec has no data.test pipeline to prepare images with; "
                                  "it cannot be served.")


def test_it_refuses_a_deployment_over_the_teams_limit(cast, ckpt, settings):
    settings.TRAINYARD_TEAM_MAX_DEPLOYMENTS = 1
    Deployment.objects.create(team=cast.team, run=ckpt.run, checkpoint=ckpt, name="up",
                              status=DeploymentStatus.RUNNING)
    r = cast.clients["owner"].post("/api/deployments", {"checkpoint": ckpt.pk}, format="json")
    assert r.status_code == 429
    assert r.json()["detail"] == ("Team 'team-a' has 1 active deployments, its limit "
                                  "(TRAINYARD_TEAM_MAX_DEPLOYMENTS = 1); undeploy one first.")
    assert Deployment.objects.count() == 1
