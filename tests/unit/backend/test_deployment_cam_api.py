"""``POST /api/deployments/<id>/cam`` before it reaches Ray Serve: one image only, within the predict limits, a
known method, a running PyTorch deployment (an ONNX Runtime one says maps are unavailable), an outsider (404),
and a Ray Serve that does not answer (503). The replica's side is ``tests/unit/export/test_served_cam.py``, the
whole path ``tests/integration/test_deployments.py``."""

from backend.deployments.models import Deployment, DeploymentStatus
from tests.support.ports import free_port
from tests.support.uploads import png_upload


def _cam(client, deployment, **data):
    return client.post(f"/api/deployments/{deployment.pk}/cam", data, format="multipart")


def test_it_asks_for_an_image(cast, deployment):
    r = _cam(cast.clients["viewer"], deployment)
    assert r.status_code == 400
    assert r.json()["detail"] == "Send one image file or more as multipart form data (field 'image' or 'images')."


def test_it_makes_a_map_of_one_image_only(cast, deployment):
    r = _cam(cast.clients["member"], deployment, images=[png_upload("a.png"), png_upload("b.png")])
    assert r.status_code == 400 and r.json()["detail"] == "A class activation map is of one image; 2 were sent."


def test_it_refuses_more_bytes_than_predict_allows(cast, deployment, settings):
    settings.TRAINYARD_PREDICT_MAX_BYTES = 1000
    r = _cam(cast.clients["owner"], deployment, image=png_upload(size=1001))
    assert r.status_code == 400
    assert r.json()["detail"] == ("The images add up to 1001 bytes, over the limit of 1000 "
                                  "(TRAINYARD_PREDICT_MAX_BYTES).")


def test_it_names_the_methods_when_one_is_unknown(cast, deployment):
    r = _cam(cast.clients["owner"], deployment, image=png_upload(), method="ScoreCAM")
    assert r.status_code == 400
    assert r.json()["detail"] == ("Unknown CAM method 'ScoreCAM'; use one of GradCAM, GradCAM++, XGradCAM, EigenCAM, "
                                  "EigenGradCAM, LayerCAM.")


def test_it_says_an_onnx_runtime_deployment_has_no_maps(cast, deployment):
    Deployment.objects.filter(pk=deployment.pk).update(runtime="onnxruntime")
    r = _cam(cast.clients["viewer"], deployment, image=png_upload())
    assert r.status_code == 409
    assert r.json()["detail"].startswith("Class activation maps are unavailable for a onnxruntime deployment: they "
                                         "need the PyTorch model's gradients.")


def test_it_answers_only_a_running_deployment(cast, deployment):
    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.LOST, status_reason="lost: gone")
    r = _cam(cast.clients["owner"], deployment, image=png_upload())
    assert r.status_code == 409 and r.json()["detail"] == "The deployment is lost, not running (lost: gone)."


def test_it_hides_the_deployment_from_an_outsider(cast, deployment):
    r = _cam(cast.clients["outsider"], deployment, image=png_upload())
    assert r.status_code == 404 and r.json()["detail"] == "No such deployment."


def test_it_says_when_ray_serve_does_not_answer(cast, deployment, settings):
    settings.TRAINYARD_SERVE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    r = _cam(cast.clients["viewer"], deployment, image=png_upload(), method="eigencam")
    assert r.status_code == 503
    assert r.json()["detail"].startswith("Ray Serve did not answer: Ray Serve's proxy at http://127.0.0.1:")
    deployment.refresh_from_db()
    assert (deployment.error_count, deployment.request_count) == (0, 0)  # a map is not a prediction
