"""Class activation maps on the pages: the "try it" box of a deployment (one image on a PyTorch deployment asks
its replica for the map; an ONNX Runtime one says maps are unavailable) and the run page's "Try a checkpoint"
box, whose map a short Ray job makes (``backend.deployments.checkpoint_cams``): what it refuses before Ray is
asked, who may see a request, and the fragment of each state (running, refused, failed, done)."""
import base64
import json

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client

from backend.deployments.models import Deployment, DeploymentStatus
from backend.experiments.models import Checkpoint, RunStatus
from tests.support.ports import free_port

SERVABLE = {"model": {"type": "ImageClassifier"}, "data": {"test": {"pipeline": [{"type": "LoadImageFromFile"}]}}}
REQUEST = "0123456789abcdef" * 2


def login(who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


def _png_b64() -> str:
    ok, png = cv2.imencode(".png", np.zeros((16, 32, 3), np.uint8))
    return base64.b64encode(png.tobytes()).decode()


ANSWER = {"filename": "7.png", "pred_label": 7, "pred_score": 0.91, "pred_class": "7",
          "topk": [{"label": c, "class": str(c), "score": s} for c, s in ((7, 0.91), (1, 0.05), (9, 0.02),
                                                                          (4, 0.01), (2, 0.01))]}
CAM = {"method": "GradCAM", "target_layers": ["backbone.layer4"], "category": 7, "class": "7", "score": 0.91,
       "png": _png_b64()}


@pytest.fixture
def ckpt(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    settings.RAY_ADDRESS = f"http://127.0.0.1:{free_port()}"  # no Ray: nothing listens there
    run = cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec=SERVABLE)
    (tmp_path / "runs" / str(run.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(run.pk) / "epoch_2.pth").write_bytes(b"weights")
    return Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_2.pth", epoch=2, iteration=20)


def _request(tmp_path, ckpt, result: dict | None = None, checkpoint_id=None):
    folder = tmp_path / "cams" / str(ckpt.pk) / REQUEST
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"checkpoint_id": checkpoint_id or ckpt.pk}))
    if result is not None:
        (folder / "result.json").write_text(json.dumps(result))
    return f"/runs/{ckpt.run_id}/checkpoints/{ckpt.pk}/cam/{REQUEST}"


# --- a deployment's "try it" box --------------------------------------------------------------------------


def test_the_try_box_shows_the_top5_beside_the_map():
    page = render_to_string("frontend/_deployment_prediction.html", {
        "result": {"predictions": [ANSWER], "cam": CAM, "latency_ms": 41.5, "runtime": "pytorch"}})
    assert f'src="data:image/png;base64,{CAM["png"]}"' in page
    assert "GradCAM of <b>7</b> (0.910) at <code>backbone.layer4</code>" in page
    assert page.count("<tr><td>") == 5 and "pytorch · 41.5 ms" in page


def test_the_try_box_says_an_onnx_deployment_has_no_maps(cast, ckpt):
    deployment = Deployment.objects.create(team=cast.team, run=ckpt.run, checkpoint=ckpt, name="d",
                                           status=DeploymentStatus.RUNNING, runtime="onnxruntime")
    page = login("viewer").get(f"/deployments/{deployment.pk}").content.decode()
    assert "Class activation maps are unavailable for onnxruntime deployments" in page
    assert 'name="method"' not in page
    fragment = render_to_string("frontend/_deployment_prediction.html", {
        "result": {"predictions": [ANSWER], "latency_ms": 3.0, "runtime": "onnxruntime"}, "cam_unavailable": True})
    assert "class activation maps are unavailable for onnxruntime deployments" in fragment
    assert "<img" not in fragment


def test_the_try_box_of_a_pytorch_deployment_asks_for_the_map(cast, ckpt, settings):
    deployment = Deployment.objects.create(team=cast.team, run=ckpt.run, checkpoint=ckpt, name="d",
                                           status=DeploymentStatus.RUNNING)
    page = login("viewer").get(f"/deployments/{deployment.pk}").content.decode()
    assert '<option value="GradCAM">GradCAM</option>' in page and "its class activation map" in page
    settings.TRAINYARD_SERVE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    r = login("viewer").post(f"/deployments/{deployment.pk}/try",
                             {"images": SimpleUploadedFile("7.png", b"\x89PNG"), "method": "Nope"})
    assert r.status_code == 400 and "Unknown CAM method &#x27;Nope&#x27;" in r.content.decode()
    r = login("viewer").post(f"/deployments/{deployment.pk}/try", {"images": SimpleUploadedFile("7.png", b"\x89PNG")})
    assert r.status_code == 503 and "Ray Serve did not answer" in r.content.decode()


def test_the_try_box_hides_another_teams_deployment(cast, ckpt):
    deployment = Deployment.objects.create(team=cast.team, run=ckpt.run, checkpoint=ckpt, name="d",
                                           status=DeploymentStatus.RUNNING)
    r = login("outsider").post(f"/deployments/{deployment.pk}/try", {"images": SimpleUploadedFile("7.png", b"x")})
    assert r.status_code == 404


# --- a checkpoint's box on the run page ------------------------------------------------------------------


def test_the_run_page_offers_a_checkpoint_box_to_viewers_too(cast, ckpt):
    page = login("viewer").get(f"/runs/{ckpt.run_id}").content.decode()
    assert 'id="try-ckpt"' in page and f'<option value="{ckpt.pk}" selected>epoch_2.pth</option>' in page
    assert '<option value="LayerCAM">LayerCAM</option>' in page


def test_it_refuses_before_asking_ray(cast, ckpt, settings, tmp_path):
    client = login("viewer")
    url = f"/runs/{ckpt.run_id}/cam"
    r = client.post(url, {"checkpoint": ckpt.pk})
    assert r.status_code == 400 and "Send one image file or more" in r.content.decode()
    two = [SimpleUploadedFile("a.png", b"\x89PNG"), SimpleUploadedFile("b.png", b"\x89PNG")]
    r = client.post(url, {"checkpoint": ckpt.pk, "image": two})
    assert r.status_code == 400 and "A class activation map is of one image; 2 were sent." in r.content.decode()
    settings.TRAINYARD_PREDICT_MAX_BYTES = 10
    r = client.post(url, {"checkpoint": ckpt.pk, "image": SimpleUploadedFile("a.png", b"\x89PNG" + b"\0" * 10)})
    assert r.status_code == 400 and "over the limit of 10 (TRAINYARD_PREDICT_MAX_BYTES)" in r.content.decode()
    assert not (tmp_path / "cams").exists()


def test_it_says_when_ray_does_not_take_the_job(cast, ckpt):
    r = login("member").post(f"/runs/{ckpt.run_id}/cam", {"checkpoint": ckpt.pk, "method": "gradcam++",
                                                          "image": SimpleUploadedFile("7.png", b"\x89PNG")})
    assert r.status_code == 503 and "Ray did not take the job that makes the map" in r.content.decode()


def test_it_hides_a_checkpoint_from_an_outsider_and_from_another_run(cast, ckpt):
    image = SimpleUploadedFile("7.png", b"\x89PNG")
    assert login("outsider").post(f"/runs/{ckpt.run_id}/cam", {"checkpoint": ckpt.pk, "image": image}
                                  ).status_code == 404
    other = cast.make_run(status=RunStatus.SUCCEEDED)
    assert login("owner").post(f"/runs/{other.pk}/cam", {"checkpoint": ckpt.pk, "image": image}).status_code == 404


def test_it_shows_a_finished_map_to_the_team_only(cast, ckpt, tmp_path):
    url = _request(tmp_path, ckpt, {"predictions": [ANSWER], "cam": CAM, "runtime": "pytorch"})
    r = login("viewer").get(url)
    page = r.content.decode()
    assert r.status_code == 200 and f'src="data:image/png;base64,{CAM["png"]}"' in page
    assert "<code>7.png</code>: 7" in page and "hx-get" not in page  # done: no more polling
    assert login("outsider").get(url).status_code == 404


def test_it_shows_why_a_map_was_refused(cast, ckpt, tmp_path):
    url = _request(tmp_path, ckpt, {"error": "7.png: not an image that can be read"})
    page = login("member").get(url).content.decode()
    assert "7.png: not an image that can be read" in page and "hx-get" not in page


def test_it_keeps_polling_while_the_job_runs_and_ray_is_away(cast, ckpt, tmp_path):
    url = _request(tmp_path, ckpt)
    page = login("member").get(url).content.decode()
    assert f'hx-get="{url}"' in page and "Making the map of <code>epoch_2.pth</code>" in page
    assert "Ray did not answer" in page


def test_it_finds_no_request_of_another_checkpoint_or_a_malformed_id(cast, ckpt, tmp_path):
    url = _request(tmp_path, ckpt, {"error": "x"}, checkpoint_id=ckpt.pk + 1000)
    assert login("owner").get(url).status_code == 404
    assert login("owner").get(f"/runs/{ckpt.run_id}/checkpoints/{ckpt.pk}/cam/..%2F..%2Fjob").status_code == 404
