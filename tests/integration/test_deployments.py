"""A run's checkpoint served on the real stack: REST API -> Celery -> Ray job -> Ray Serve, and back.

The demo run is trained, its last checkpoint deployed (PyTorch eager, then ONNX Runtime) and asked to classify
a digit; the answer is the one ``trainyard infer`` prints for the same image and checkpoint, and its class
activation map is the replica's (an ONNX Runtime deployment has none). A viewer cannot
deploy, an outsider cannot even see the deployment, a malformed or oversized image is a 400 and the deployment
keeps answering; undeploy removes the Serve application, and one Ray lost behind Trainyard's back is marked so.
"""
import base64
import json
import struct
import subprocess
import sys
import time
import zlib

import pytest
import requests

import jobspecs
from tests.support.live import ONE_WORKER

pytestmark = pytest.mark.integration

DEPLOY_TIMEOUT = 420  # a replica loads torch and the model (ONNX: exports it first) on a busy 2-core machine


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in its header (the pixels are never there)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _serve_apps(live) -> dict:
    env = live.stack.env
    r = requests.get(env["RAY_ADDRESS"].rstrip("/") + "/api/serve/applications/",
                     headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"}, timeout=30)
    r.raise_for_status()
    return r.json().get("applications") or {}


def _wait_deployment(live, pk: str, predicate, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    body = {}
    while time.monotonic() < deadline:
        body = live.api("GET", f"/api/deployments/{pk}").json()
        if predicate(body):
            return body
        if body.get("status") == "failed":
            break
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}: {body.get('status')} ({body.get('status_reason')})\n"
                         + live.logs_tail())


@pytest.fixture(scope="module")
def trained(pg_stack, tmp_path_factory):
    """The demo run trained (2 epochs), its spec and last checkpoint as files, and a few digits of its dataset."""
    run = pg_stack.submit(name="to-serve", resources=ONE_WORKER, cfg_options={"runner.max_epochs": 2})
    done = pg_stack.wait_for(run["id"], lambda r: r["status"] in ("succeeded", "failed", "cancelled"), 420,
                             "the run to finish")
    assert done["status"] == "succeeded", done["status_reason"]
    ckpt = pg_stack.api("GET", f"/api/runs/{run['id']}/checkpoints").json()[-1]
    folder = tmp_path_factory.mktemp("served")
    (folder / "ckpt.pth").write_bytes(pg_stack.api("GET", ckpt["download_url"]).content)
    (folder / "spec.py").write_text(jobspecs.dumps(done["resolved_spec"], format="py"))
    val = pg_stack.stack.var_dir / "storage" / "datasets" / "demo" / "digits" / "val"
    images = [sorted((val / str(c)).iterdir())[0] for c in (3, 7)]
    return {"run": done, "ckpt": ckpt, "spec": folder / "spec.py", "file": folder / "ckpt.pth", "images": images}


def _infer(trained, image) -> dict:
    """What ``trainyard infer IMAGE SPEC CKPT`` prints."""
    out = subprocess.run([sys.executable, "-m", "workers.cli", "infer", str(image), str(trained["spec"]),
                          str(trained["file"])], capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _predict(live, pk: str, *images: tuple[str, bytes]):
    field = "image" if len(images) == 1 else "images"
    return live.api("POST", f"/api/deployments/{pk}/predict", files=[(field, img) for img in images])


def _deploy(live, trained, **options) -> dict:
    r = live.api("POST", "/api/deployments", json={"checkpoint": trained["ckpt"]["id"], **options})
    assert r.status_code == 201, r.text
    return r.json()


def test_it_serves_a_checkpoint_as_trainyard_infer_answers_and_undeploys(pg_stack, trained):
    viewer = pg_stack.client_for("vera", "demo", role="viewer")
    outsider = pg_stack.client_for("oscar", "elsewhere")
    refused = viewer.api("POST", "/api/deployments", json={"checkpoint": trained["ckpt"]["id"]})
    assert refused.status_code == 403

    t0 = time.monotonic()
    deployment = _deploy(pg_stack, trained, max_batch_size=4)
    pk = deployment["id"]
    assert deployment["status"] == "pending"
    running = _wait_deployment(pg_stack, pk, lambda d: d["status"] == "running", DEPLOY_TIMEOUT, "running")
    assert running["live"]["replicas_running"] == 1

    image = trained["images"][0]
    r = _predict(pg_stack, pk, (image.name, image.read_bytes()))
    assert r.status_code == 200, r.text
    print(f"\ndeploy -> first prediction: {time.monotonic() - t0:.1f}s")
    [got] = r.json()["predictions"]
    expected = _infer(trained, image)
    assert got["pred_class"] == expected["pred_class"] and got["pred_label"] == expected["pred_label"]
    assert got["pred_score"] == pytest.approx(expected["pred_score"], abs=1e-4)
    assert [k["label"] for k in got["topk"]][0] == got["pred_label"] and len(got["topk"]) == 5

    # its class activation map, made by the replica: the same class, a picture of the image and of the map
    cam = pg_stack.api("POST", f"/api/deployments/{pk}/cam", files=[("image", (image.name, image.read_bytes()))])
    assert cam.status_code == 200, cam.text
    assert cam.json()["cam"]["class"] == expected["pred_class"] and cam.json()["cam"]["method"] == "GradCAM"
    assert base64.b64decode(cam.json()["cam"]["png"]).startswith(b"\x89PNG")

    two = _predict(pg_stack, pk, *[(p.name, p.read_bytes()) for p in trained["images"]])
    assert [p["filename"] for p in two.json()["predictions"]] == [p.name for p in trained["images"]]

    bad = _predict(pg_stack, pk, ("notes.txt", b"this is not an image"))
    assert bad.status_code == 400 and bad.json()["detail"].startswith("notes.txt: not an image that can be read")
    huge = _predict(pg_stack, pk, ("huge.png", _png_header(10000, 10000)))
    assert huge.status_code == 400
    assert "huge.png: 10000x10000 = 100000000 pixels, over the limit of 67108864" in huge.json()["detail"]
    after = _predict(pg_stack, pk, (image.name, image.read_bytes()))
    assert after.status_code == 200 and after.json()["predictions"][0]["pred_class"] == expected["pred_class"]

    assert viewer.api("POST", f"/api/deployments/{pk}/predict",
                      files=[("image", (image.name, image.read_bytes()))]).status_code == 200
    assert outsider.api("POST", f"/api/deployments/{pk}/predict",
                        files=[("image", (image.name, image.read_bytes()))]).status_code == 404
    assert outsider.api("GET", f"/api/deployments/{pk}").status_code == 404
    assert viewer.api("DELETE", f"/api/deployments/{pk}").status_code == 403

    shown = pg_stack.api("GET", f"/api/deployments/{pk}").json()
    assert shown["request_count"] == 4 and shown["error_count"] == 2 and shown["latency_p50_ms"] > 0

    gone = pg_stack.api("DELETE", f"/api/deployments/{pk}")
    assert gone.status_code == 202 and gone.json()["status"] == "stopped"
    assert _predict(pg_stack, pk, (image.name, image.read_bytes())).status_code == 409
    deadline = time.monotonic() + 120
    while f"trainyard-{pk}" in _serve_apps(pg_stack):
        assert time.monotonic() < deadline, "the Serve application was not deleted\n" + pg_stack.logs_tail()
        time.sleep(1)


def test_it_serves_with_onnx_runtime_and_marks_a_lost_deployment(pg_stack, trained):
    from ray.job_submission import JobSubmissionClient

    deployment = _deploy(pg_stack, trained, runtime="onnxruntime")
    pk = deployment["id"]
    _wait_deployment(pg_stack, pk, lambda d: d["status"] == "running", DEPLOY_TIMEOUT, "running")
    image = trained["images"][1]
    r = _predict(pg_stack, pk, (image.name, image.read_bytes()))
    assert r.status_code == 200, r.text
    got, expected = r.json()["predictions"][0], _infer(trained, image)
    assert got["pred_class"] == expected["pred_class"]
    assert got["pred_score"] == pytest.approx(expected["pred_score"], abs=1e-3)

    no_cam = pg_stack.api("POST", f"/api/deployments/{pk}/cam", files=[("image", (image.name, image.read_bytes()))])
    assert no_cam.status_code == 409 and "unavailable for a onnxruntime deployment" in no_cam.json()["detail"]

    # Ray loses the application behind Trainyard's back: reconcile marks the deployment lost
    env = pg_stack.stack.env
    ray = JobSubmissionClient(env["RAY_ADDRESS"], headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"})
    ray.submit_job(entrypoint=f"{env['TRAINYARD_JOB_PYTHON']} -m workers.serve.launch delete trainyard-{pk}")
    lost = _wait_deployment(pg_stack, pk, lambda d: d["status"] == "lost", 180, "lost")
    assert lost["status_reason"] == "lost: Ray Serve has no application of this deployment any more"
    assert _predict(pg_stack, pk, (image.name, image.read_bytes())).status_code == 409
