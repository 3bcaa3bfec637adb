"""The ``trainyard`` command: train, print-config, demo-data, list, and clear spec errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import jobspecs
from tests.support.specs import tiny_spec
from workers.cli import main


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny_1xb4-1e_tiny.py"
    path.write_text(jobspecs.dumps(tiny_spec(max_epochs=1)))
    return path


def test_it_trains_a_spec_file(spec_file, tiny_root, tmp_path, capsys):
    code = main(["train", str(spec_file), "--work-dir", str(tmp_path / "wd"), "--data-root", str(tiny_root),
                 "--seed", "0", "--cfg-options", "log_config.interval=3"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("best: accuracy_top-1: ") and f"work dir: {tmp_path / 'wd'}" in out
    assert (tmp_path / "wd" / "epoch_1.pth").is_file()


def test_it_reports_misspelt_types_without_a_traceback(spec_file, capsys):
    code = main(["train", str(spec_file), "--cfg-options", "model.backbone.type=ResNt",
                 "optimizer.type=SDG"])
    err = capsys.readouterr().err
    assert code == 2
    assert "spec error: model.backbone.type: unknown model type 'ResNt'. Did you mean: ResNet" in err
    assert "spec error: optimizer.type: unknown optimizer type 'SDG'. Did you mean: SGD" in err
    assert "Traceback" not in err


def test_it_reports_a_missing_spec_file(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.py")]) == 2
    assert "nope.py" in capsys.readouterr().err


def test_it_prints_the_resolved_spec(spec_file, capsys):
    assert main(["print-config", str(spec_file), "--format", "json", "--cfg-options", "runner.max_epochs=7"]) == 0
    assert json.loads(capsys.readouterr().out)["runner"] == {"type": "EpochBasedRunner", "max_epochs": 7}
    assert main(["print-config", str(spec_file)]) == 0
    assert "model = dict(" in capsys.readouterr().out


def test_it_writes_demo_data_and_lists_types(tmp_path, capsys):
    assert main(["demo-data", str(tmp_path / "digits"), "--size", "8", "--val-fraction", "0.5"]) == 0
    assert "899 train, 898 val images, 10 classes" in capsys.readouterr().out
    with Image.open(next((tmp_path / "digits" / "train" / "0").iterdir())) as image:
        assert image.size == (8, 8)
    assert main(["list", "models", "ResNet_*"]) == 0
    assert capsys.readouterr().out == "models: ResNet_CIFAR\n"
