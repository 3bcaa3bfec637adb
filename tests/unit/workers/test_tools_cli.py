"""``trainyard test``, ``infer`` and ``vis-lr`` end to end, and ``workers.apis``, on a subset of the digits
demo data (3 train and 2 val images a class) with the demo spec shrunk to 8 channels."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

import jobspecs
from tests.support.specs import demo_spec
from workers.apis import inference_model, init_model
from workers.cli import main
from workers.data.demo import write_digits_dataset
from workers.tools import iters_per_epoch


def _subset(root, split: str, keep: int) -> None:
    for folder in sorted((root / split).iterdir()):
        for image in sorted(folder.iterdir())[keep:]:
            image.unlink()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(root, spec_file, checkpoint)`` after one epoch on the digits subset."""
    root = tmp_path_factory.mktemp("digits-cli")
    write_digits_dataset(root / "data" / "digits")
    _subset(root / "data" / "digits", "train", 3)
    _subset(root / "data" / "digits", "val", 2)
    spec = demo_spec()
    spec["model"]["backbone"].update(stem_channels=8, base_channels=8)
    spec["model"]["head"]["in_channels"] = 64
    spec["data"]["samples_per_gpu"] = 8
    spec["runner"]["max_epochs"] = 1
    spec["lr_config"] = {"policy": "CosineAnnealing", "min_lr": 0, "warmup": "linear", "warmup_iters": 2}
    spec_file = root / "tiny-digits.py"
    spec_file.write_text(jobspecs.dumps(spec))
    code = main(["train", str(spec_file), "--work-dir", str(root / "wd"), "--data-root", str(root), "--seed", "0"])
    assert code == 0
    return root, spec_file, root / "wd" / "epoch_1.pth"


def test_it_tests_a_checkpoint_with_metrics_and_writes_the_chosen_items(trained, tmp_path, capsys):
    root, spec_file, checkpoint = trained
    out = tmp_path / "results.json"
    code = main(["test", str(spec_file), str(checkpoint), "--data-root", str(root), "--metrics", "accuracy",
                 "precision", "--metric-options", "topk=1,5", "--out", str(out), "--out-items", "pred_label",
                 "pred_class"])
    assert code == 0
    printed = capsys.readouterr().out
    assert [line.split(" : ")[0] for line in printed.splitlines()[:3]] == ["accuracy_top-1", "accuracy_top-5", "precision"]
    results = json.loads(out.read_text())
    assert set(results) == {"accuracy_top-1", "accuracy_top-5", "precision", "pred_label", "pred_class"}
    assert len(results["pred_label"]) == 20
    assert results["pred_class"] == [str(label) for label in results["pred_label"]]  # digits' classes are "0".."9"


def test_it_writes_all_items_as_pickle_and_nothing_with_none(trained, tmp_path, capsys):
    root, spec_file, checkpoint = trained
    assert main(["test", str(spec_file), str(checkpoint), "--data-root", str(root), "--out",
                 str(tmp_path / "r.pkl")]) == 0
    with open(tmp_path / "r.pkl", "rb") as f:
        results = pickle.load(f)
    assert set(results) == {"class_scores", "pred_score", "pred_label", "pred_class"}
    assert results["class_scores"].shape == (20, 10)
    np.testing.assert_allclose(results["pred_score"], results["class_scores"].max(axis=1))
    assert main(["test", str(spec_file), str(checkpoint), "--data-root", str(root), "--out-items", "none",
                 "--out", str(tmp_path / "r.yaml")]) == 0
    assert (tmp_path / "r.yaml").read_text().strip() == "{}"


def test_it_explains_bad_test_arguments(trained, tmp_path, capsys):
    root, spec_file, checkpoint = trained
    assert main(["test", str(spec_file), str(tmp_path / "nope.pth")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["test", str(spec_file), str(checkpoint), "--data-root", str(root), "--out-items", "bogus"]) == 1
    assert "--out-items ['bogus']" in capsys.readouterr().err
    assert main(["test", str(spec_file), str(checkpoint), "--data-root", str(root), "--out", "r.txt"]) == 1
    assert ".json, .pkl or .yaml" in capsys.readouterr().err


def test_it_infers_one_image_from_the_command_line_and_the_api(trained, capsys):
    root, spec_file, checkpoint = trained
    image = next((root / "data" / "digits" / "val" / "3").iterdir())
    assert main(["infer", str(image), str(spec_file), str(checkpoint)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"pred_label", "pred_score", "pred_class"}
    assert result["pred_class"] == str(result["pred_label"]) and 0 < result["pred_score"] <= 1

    model = init_model(str(spec_file), str(checkpoint), device="cpu")
    assert model.CLASSES == [str(i) for i in range(10)]
    assert inference_model(model, str(image)) == pytest.approx(result)
    array = np.array(Image.open(image).convert("RGB"))[:, :, ::-1]  # BGR, as mmcv reads it
    assert inference_model(model, array)["pred_label"] == result["pred_label"]
    changed = init_model(str(spec_file), None, options={"model.head.num_classes": 4, "model.head.topk": (1,)})
    assert changed.head.fc.out_features == 4 and changed.CLASSES is None


def test_it_prints_the_lr_of_every_iteration(trained, tmp_path, capsys):
    root, spec_file, _ = trained
    # 1000 samples on 4 GPUs x 8: ceil(250 / 8) = 32 iterations an epoch, 32 in all (1 epoch)
    assert main(["vis-lr", str(spec_file), "--dataset-size", "1000", "--ngpus", "4"]) == 0
    curve = json.loads(capsys.readouterr().out)
    assert (curve["iters_per_epoch"], curve["max_iters"], len(curve["lr"])) == (32, 32, 32)
    # linear warmup over 2 iterations from 0.1 * 0.1, on top of a by-epoch cosine still at epoch 0
    assert curve["lr"][:3] == pytest.approx([0.01, 0.055, 0.1])
    assert curve["momentum"] == pytest.approx([0.9] * 32)
    # without --dataset-size the train set is counted: 30 images, 8 a batch -> 4 iterations
    text = tmp_path / "lr.txt"
    assert main(["vis-lr", str(spec_file), "--data-root", str(root), "--format", "text", "--save-path",
                 str(text), "--cfg-options", "runner.max_epochs=2"]) == 0
    lines = text.read_text().splitlines()
    assert lines[0] == "iter\tepoch\tlr\tmomentum" and len(lines) == 9 and lines[5].startswith("5\t2\t")
    assert iters_per_epoch(10, 2, ngpus=4) == 2 and iters_per_epoch(10, 2, ngpus=4, drop_last=True) == 1


def test_it_has_help_for_every_new_command(capsys):
    for command in ("test", "infer", "vis-lr"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
    assert "--out-items" in capsys.readouterr().out


def test_it_draws_the_lr_curve_as_a_png(trained, tmp_path, capsys):
    _, spec_file, _ = trained
    out = tmp_path / "lr.png"
    assert main(["vis-lr", str(spec_file), "--dataset-size", "100", "--format", "png", "--save-path", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert "saved to" in capsys.readouterr().out


def test_it_asks_for_a_save_path_for_a_png(trained, capsys):
    _, spec_file, _ = trained
    assert main(["vis-lr", str(spec_file), "--dataset-size", "10", "--format", "png"]) != 0
    assert "--save-path" in capsys.readouterr().err
