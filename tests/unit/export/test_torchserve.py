"""``trainyard export torchserve`` (MMCls's ``mmcls2torchserve.py``): a ``.mar`` whose handler, loaded as
TorchServe loads it (from the unpacked archive, ``handle(None, context)`` then a request batch), answers an
image as ``trainyard infer`` does. TorchServe itself does not run here."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from workers.cli import main


def _unpack(mar: Path, folder: Path) -> dict:
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(folder)
    return json.loads((folder / "MAR-INF" / "MANIFEST.json").read_text())


def _load_handler(folder: Path, manifest: dict):
    """The handler module from the unpacked archive (not from our source tree), as TorchServe imports it."""
    path = folder / manifest["model"]["handler"]
    spec = importlib.util.spec_from_file_location(f"mar_handler_{folder.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _an_image(root: Path) -> Path:
    return sorted((root / "data" / "digits" / "val" / "7").iterdir())[0]


@pytest.fixture(scope="module")
def archive(demo_run, tmp_path_factory) -> Path:
    spec_file, checkpoint, _ = demo_run
    store = tmp_path_factory.mktemp("model-store")
    assert main(["export", "torchserve", str(spec_file), str(checkpoint), str(store), "--model-name", "digits-h4",
                 "--model-version", "2.1"]) == 0
    return store / "digits-h4.mar"


def test_it_writes_a_mar_with_the_manifest_torchserve_reads(archive, tmp_path):
    manifest = _unpack(archive, tmp_path)
    assert manifest["model"]["modelName"] == "digits-h4"
    assert manifest["model"]["modelVersion"] == "2.1"
    assert manifest["model"]["handler"] == "torchserve_handler.py"
    assert (tmp_path / manifest["model"]["serializedFile"]).is_file()
    assert (tmp_path / "spec.py").is_file()


def test_its_handler_answers_an_image_as_infer_does(archive, demo_run, tmp_path, capsys):
    spec_file, checkpoint, root = demo_run
    image = _an_image(root)
    assert main(["infer", str(image), str(spec_file), str(checkpoint)]) == 0
    expected = json.loads(capsys.readouterr().out)

    manifest = _unpack(archive, tmp_path)
    handler = _load_handler(tmp_path, manifest)
    context = SimpleNamespace(system_properties={"model_dir": str(tmp_path), "gpu_id": None}, manifest=manifest)
    assert handler.handle(None, context) is None  # TorchServe's initialising call
    answers = handler.handle([{"body": image.read_bytes()}, {"data": bytearray(image.read_bytes())}], context)
    assert len(answers) == 2
    for answer in answers:
        assert set(answer) == {"pred_label", "pred_score", "pred_class"}
        assert answer["pred_label"] == expected["pred_label"]
        assert answer["pred_class"] == expected["pred_class"]
        assert answer["pred_score"] == pytest.approx(expected["pred_score"], abs=1e-6)
    json.dumps(answers)  # what TorchServe sends back must be JSON


def test_the_handler_refuses_a_request_without_an_image(archive, tmp_path):
    manifest = _unpack(archive, tmp_path)
    handler = _load_handler(tmp_path, manifest)
    context = SimpleNamespace(system_properties={"model_dir": str(tmp_path), "gpu_id": None}, manifest=manifest)
    with pytest.raises(ValueError, match="each request's body must be an image file"):
        handler.handle([{"body": b""}], context)


def test_it_keeps_an_existing_archive_unless_forced(archive, demo_run, capsys):
    spec_file, checkpoint, _ = demo_run
    before = archive.stat().st_mtime_ns
    args = ["export", "torchserve", str(spec_file), str(checkpoint), str(archive.parent), "--model-name", "digits-h4"]
    assert main(args) == 1
    assert "digits-h4.mar exists; pass --force to overwrite it" in capsys.readouterr().err
    assert archive.stat().st_mtime_ns == before
    assert main([*args, "--force"]) == 0
    assert archive.stat().st_mtime_ns != before


def test_it_refuses_a_model_name_torchserve_cannot_serve(demo_run, tmp_path, capsys):
    spec_file, checkpoint, _ = demo_run
    assert main(["export", "torchserve", str(spec_file), str(checkpoint), str(tmp_path), "--model-name",
                 "../evil"]) == 1
    assert "--model-name '../evil'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())

