"""``POST /api/deployments/<id>/predict`` before it reaches Ray Serve: the upload's limits (no file, too many,
too many bytes, an empty file), a deployment that is not running (409), an outsider (404), and a Ray Serve that
does not answer (503, counted as an error)."""

from django.core.files.uploadedfile import SimpleUploadedFile

from backend.deployments.models import Deployment, DeploymentStatus
from tests.support.ports import free_port
from tests.support.uploads import png_upload


def _predict(client, deployment, **files):
    return client.post(f"/api/deployments/{deployment.pk}/predict", files, format="multipart")


def test_it_asks_for_an_image(cast, deployment):
    r = _predict(cast.clients["viewer"], deployment)
    assert r.status_code == 400
    assert r.json()["detail"] == "Send one image file or more as multipart form data (field 'image' or 'images')."


def test_it_refuses_more_images_than_allowed(cast, deployment, settings):
    settings.TRAINYARD_PREDICT_MAX_IMAGES = 2
    r = _predict(cast.clients["owner"], deployment, images=[png_upload("a.png"), png_upload("b.png"), png_upload("c.png")])
    assert r.status_code == 400
    assert r.json()["detail"] == "3 images in one request; send at most 2 (TRAINYARD_PREDICT_MAX_IMAGES)."


def test_it_refuses_more_bytes_than_allowed(cast, deployment, settings):
    settings.TRAINYARD_PREDICT_MAX_BYTES = 1000
    r = _predict(cast.clients["owner"], deployment, image=png_upload(size=1001))
    assert r.status_code == 400
    assert r.json()["detail"] == ("The images add up to 1001 bytes, over the limit of 1000 "
                                  "(TRAINYARD_PREDICT_MAX_BYTES).")


def test_it_refuses_an_empty_file(cast, deployment):
    r = _predict(cast.clients["owner"], deployment, image=SimpleUploadedFile("blank.png", b""))
    assert r.status_code == 400
    assert r.json()["detail"] == "blank.png: the file is empty."


def test_it_answers_only_a_running_deployment(cast, deployment):
    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.STOPPED,
                                                       status_reason="undeployed by owner")
    r = _predict(cast.clients["owner"], deployment, image=png_upload())
    assert r.status_code == 409
    assert r.json()["detail"] == "The deployment is stopped, not running (undeployed by owner)."


def test_it_hides_the_deployment_from_an_outsider(cast, deployment):
    r = _predict(cast.clients["outsider"], deployment, image=png_upload())
    assert r.status_code == 404 and r.json()["detail"] == "No such deployment."


def test_it_says_when_ray_serve_does_not_answer(cast, deployment, settings):
    settings.TRAINYARD_SERVE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    r = _predict(cast.clients["member"], deployment, image=png_upload())
    assert r.status_code == 503
    assert r.json()["detail"].startswith("Ray Serve did not answer: Ray Serve's proxy at http://127.0.0.1:")
    deployment.refresh_from_db()
    assert (deployment.error_count, deployment.request_count) == (1, 0)
