"""What a deployment's replica runs (``workers.serve.classifier``), without Ray: image bytes in, ``trainyard
infer``'s answer plus the top-5 out, in PyTorch eager and in ONNX Runtime; a file that is not a usable image
is refused with a message naming it, and the next one is still answered."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import jobspecs
from workers.apis import inference_model, init_model
from workers.serve.app import split_body
from workers.serve.classifier import BadImage, ServedClassifier


def _images(root: Path, n: int = 4) -> list[Path]:
    val = root / "data" / "digits" / "val"
    return [sorted((val / str(c)).iterdir())[0] for c in range(n)]


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its pixels are never there: never decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.fixture(scope="module", params=["pytorch", "onnxruntime"])
def served(request, demo_run):
    spec_file, checkpoint, _ = demo_run
    return ServedClassifier(jobspecs.load(str(spec_file)), checkpoint, runtime=request.param)


def test_it_answers_as_trainyard_infer_does(served, demo_run):
    spec_file, checkpoint, root = demo_run
    model = init_model(str(spec_file), checkpoint)
    for image in _images(root):
        expected = inference_model(model, str(image))
        [got] = served.classify([(image.name, image.read_bytes())])
        assert got["pred_label"] == expected["pred_label"] and got["pred_class"] == expected["pred_class"]
        assert got["pred_score"] == pytest.approx(expected["pred_score"], abs=1e-4)
        assert len(got["topk"]) == 5 and got["topk"][0]["label"] == got["pred_label"]
        scores = [k["score"] for k in got["topk"]]
        assert scores == sorted(scores, reverse=True)


def test_it_scores_a_batch_as_it_scores_each_image(served, demo_run):
    files = [(p.name, p.read_bytes()) for p in _images(demo_run[2])]
    prepared = [served.prepare(content, name) for name, content in files]
    together = served.scores(prepared)
    alone = np.concatenate([served.scores([p]) for p in prepared])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_it_refuses_bytes_that_are_not_an_image_and_goes_on(served, demo_run):
    with pytest.raises(BadImage, match=r"^notes\.txt: not an image"):
        served.prepare(b"this is not an image", "notes.txt")
    with pytest.raises(BadImage, match="empty"):
        served.prepare(b"", "empty.png")
    image = _images(demo_run[2], 1)[0]
    assert served.classify([(image.name, image.read_bytes())])[0]["pred_class"]


def test_it_refuses_an_image_over_the_pixel_limit_before_decoding_it(served, monkeypatch):
    monkeypatch.setenv("TRAINYARD_MAX_IMAGE_PIXELS", "10000")
    with pytest.raises(BadImage, match=r"huge\.png: 200x200 = 40000 pixels, over the limit of 10000"):
        served.prepare(_png_header(200, 200), "huge.png")


def test_it_splits_a_request_body_by_its_sizes():
    assert split_body(b"abcde", "2,3", '["a.png", "b.png"]') == [("a.png", b"ab"), ("b.png", b"cde")]
    with pytest.raises(ValueError, match="do not add up"):
        split_body(b"abcde", "2,2", '["a.png", "b.png"]')
    with pytest.raises(ValueError, match="whole numbers"):
        split_body(b"abcde", "2,x", "")
