"""Class activation maps where the model is served (``workers.serve``), without Ray: the replica's ``cam`` request
kind behind the same key as predict, ``ServedClassifier.explain`` (the image's top-5 and ``trainyard vis-cam``'s
picture), ONNX Runtime refusing it, and the checkpoint's map job (``workers.serve.explain``) on a path storage."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import struct
import zlib

import cv2
import numpy as np
import pytest
from starlette.requests import Request

import jobspecs
from workers.serve.app import Classifier
from workers.serve.classifier import BadImage, CamUnavailable, ServedClassifier
from workers.serve.explain import run_job

KEY = "k" * 64


def _digit(root, label: int = 7):
    return sorted((root / "data" / "digits" / "val" / str(label)).iterdir())[0]


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _picture(cam: dict) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(cam["png"]), np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def pytorch(demo_run):
    spec_file, checkpoint, _ = demo_run
    return ServedClassifier(jobspecs.load(str(spec_file)), checkpoint, runtime="pytorch")


def test_it_explains_an_image_with_its_top5_and_the_picture(pytorch, demo_run):
    image = _digit(demo_run[2])
    answer = pytorch.explain(image.read_bytes(), image.name)
    [expected] = pytorch.classify([(image.name, image.read_bytes())])
    assert answer["prediction"] == {**expected, "filename": image.name}
    cam = answer["cam"]
    assert cam["method"] == "GradCAM" and cam["target_layers"] == ["backbone.layer4"]
    assert cam["category"] == expected["pred_label"] and cam["class"] == expected["pred_class"]
    assert cam["score"] == pytest.approx(expected["pred_score"], abs=1e-4)
    picture = _picture(cam)
    assert picture.shape == (16, 32, 3)  # the 16x16 image the pipeline makes, then the map blended on it
    assert not np.array_equal(picture[:, :16], picture[:, 16:])


def test_it_names_the_methods_when_one_is_unknown(pytorch, demo_run):
    with pytest.raises(ValueError, match=r"unknown CAM method 'GradCam\+'; did you mean GradCAM\+\+ or GradCAM\?"):
        pytorch.explain(_digit(demo_run[2]).read_bytes(), "d.png", "GradCam+")
    assert pytorch.explain(_digit(demo_run[2]).read_bytes(), "d.png", "layercam")["cam"]["method"] == "LayerCAM"


def test_it_refuses_a_map_of_what_is_not_an_image(pytorch):
    with pytest.raises(BadImage, match=r"^notes\.txt: not an image"):
        pytorch.explain(b"this is not an image", "notes.txt")


def test_it_says_onnx_runtime_has_no_maps(demo_run):
    spec_file, checkpoint, root = demo_run
    onnx = ServedClassifier(jobspecs.load(str(spec_file)), checkpoint, runtime="onnxruntime")
    with pytest.raises(CamUnavailable, match="need the PyTorch runtime; this deployment runs onnxruntime"):
        onnx.explain(_digit(root).read_bytes(), "d.png")


def test_it_answers_the_others_of_a_batch_beside_a_bad_image(pytorch, demo_run):
    image = _digit(demo_run[2])
    good, bad, also = pytorch.classify_each([("a.png", image.read_bytes()), ("b.txt", b"text"),
                                             ("c.png", image.read_bytes())])
    assert isinstance(bad, BadImage) and str(bad).startswith("b.txt: not an image")
    [alone] = pytorch.classify([("a.png", image.read_bytes())])
    for answer in (good, also):
        assert [k["label"] for k in answer["topk"]] == [k["label"] for k in alone["topk"]]
        assert answer["pred_score"] == pytest.approx(alone["pred_score"], abs=1e-5)


# --- the replica's HTTP entry point (Serve's deployment class, called as the proxy calls it) -------------------


@pytest.fixture(scope="module")
def replica(demo_run, tmp_path_factory):
    """``Classifier`` built from a job document, its checkpoint on a path storage (as a deploy job gives it), and
    the event loop its requests run on."""
    spec_file, checkpoint, _ = demo_run
    storage = tmp_path_factory.mktemp("storage")
    (storage / "runs" / "r").mkdir(parents=True)
    shutil.copy(checkpoint, storage / "runs" / "r" / "epoch_1.pth")
    job = {"spec": jobspecs.load(str(spec_file)), "checkpoint_key": "runs/r/epoch_1.pth", "storage": str(storage),
           "runtime": "pytorch", "max_batch_size": 4, "batch_wait_timeout_s": 0.001, "cpus_per_replica": 1,
           "gpus_per_replica": 0}
    loop = asyncio.new_event_loop()  # one loop for all calls: Serve's batch queue lives on the first one
    yield Classifier.func_or_class(job, KEY), loop
    loop.close()


def _call(replica, files: list[tuple[str, bytes]], **headers) -> tuple[int, dict]:
    sent = {"x-trainyard-key": KEY, "x-trainyard-sizes": ",".join(str(len(c)) for _, c in files),
            "x-trainyard-names": json.dumps([n for n, _ in files]),
            **{k.replace("_", "-"): v for k, v in headers.items()}}
    body = b"".join(c for _, c in files)

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()]}

    async def go():
        response = await replica[0](Request(scope, receive))
        return response.status_code, json.loads(response.body)

    return replica[1].run_until_complete(go())


def test_the_replica_answers_a_cam_request_behind_the_key(replica, demo_run):
    image = _digit(demo_run[2], 3)
    status, body = _call(replica, [(image.name, image.read_bytes())], x_trainyard_kind="cam",
                         x_trainyard_method="GradCAM++")
    assert status == 200, body
    assert body["cam"]["method"] == "GradCAM++" and _picture(body["cam"]).shape == (16, 32, 3)
    assert body["predictions"][0]["filename"] == image.name and len(body["predictions"][0]["topk"]) == 5
    status, body = _call(replica, [(image.name, image.read_bytes())], x_trainyard_kind="cam", x_trainyard_key="x")
    assert (status, body) == (403, {"detail": "wrong deployment key"})


def test_the_replica_refuses_a_malformed_cam_request_and_goes_on(replica, demo_run):
    image = _digit(demo_run[2]).read_bytes()
    assert _call(replica, [("a.png", image), ("b.png", image)], x_trainyard_kind="cam") == (
        400, {"detail": "a class activation map is of one image; the request has 2"})
    status, body = _call(replica, [("huge.png", _png_header(10000, 10000))], x_trainyard_kind="cam")
    assert status == 400 and body["detail"].startswith("huge.png: 10000x10000 = 100000000 pixels, over the limit")
    assert _call(replica, [("a.png", image)], x_trainyard_kind="train") == (
        400, {"detail": "X-Trainyard-Kind must be one of predict, cam"})
    status, body = _call(replica, [("a.png", image)], x_trainyard_kind="cam")  # the replica goes on
    assert status == 200 and body["predictions"][0]["filename"] == "a.png"
    # (a predict goes through @serve.batch, which only runs inside a replica: tests/integration/test_deployments.py)


# --- a checkpoint's map, as its Ray job makes it ------------------------------------------------------------


def test_the_checkpoint_job_writes_the_map_beside_its_job_file(demo_run, tmp_path, monkeypatch):
    spec_file, checkpoint, root = demo_run
    monkeypatch.setenv("TRAINYARD_STORAGE", str(tmp_path))
    (tmp_path / "runs" / "r").mkdir(parents=True)
    shutil.copy(checkpoint, tmp_path / "runs" / "r" / "epoch_1.pth")
    folder = tmp_path / "cams" / "1" / "req"
    folder.mkdir(parents=True)
    image = _digit(root, 3)
    (folder / "image-d.png").write_bytes(image.read_bytes())
    job = {"checkpoint_id": 1, "spec": jobspecs.load(str(spec_file)), "checkpoint_key": "runs/r/epoch_1.pth",
           "image_key": "cams/1/req/image-d.png", "image_name": "d.png", "method": "EigenCAM"}
    (folder / "job.json").write_text(json.dumps(job))
    result = run_job("cams/1/req/job.json")
    assert json.loads((folder / "result.json").read_text()) == result
    assert result["cam"]["method"] == "EigenCAM" and result["predictions"][0]["filename"] == "d.png"
    assert not (folder / "image-d.png").exists()  # the upload is not kept
    (folder / "image-d.png").write_bytes(b"not an image")
    assert run_job("cams/1/req/job.json")["error"].startswith("d.png: not an image that can be read")


def test_the_checkpoint_job_reads_nothing_outside_its_folders(demo_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_STORAGE", str(tmp_path))
    (tmp_path / "cams" / "1" / "req").mkdir(parents=True)
    job = {"spec": {}, "checkpoint_key": "datasets/other/secret.pth", "image_key": "cams/1/req/i", "image_name": "i",
           "method": "GradCAM"}
    (tmp_path / "cams" / "1" / "req" / "job.json").write_text(json.dumps(job))
    with pytest.raises(ValueError, match="is not in a run's folder"):
        run_job("cams/1/req/job.json")
    job.update(checkpoint_key="runs/r/e.pth", image_key="cams/1/req/../../2/x/i")
    (tmp_path / "cams" / "1" / "req" / "job.json").write_text(json.dumps(job))
    with pytest.raises(ValueError, match="is not in the job's folder"):
        run_job("cams/1/req/job.json")
