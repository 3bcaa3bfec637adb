"""``trainyard analyze-results SPEC RESULT --out-dir --topk``: the most confident right and wrong predictions as
annotated images and a JSON list each."""

from __future__ import annotations

import json

import cv2
import numpy as np

from workers.cli import main
from workers.tools.analyze_results import draw_infos, split_results


def test_it_keeps_the_most_confident_successes_and_failures():
    results = {"pred_score": [0.9, 0.6, 0.8, 0.7, 0.95], "pred_label": [0, 1, 1, 0, 1],
               "pred_class": ["a", "b", "b", "a", "b"]}
    success, fail = split_results(results, ["p0", "p1", "p2", "p3", "p4"], [0, 1, 0, 1, 1], ["a", "b"], topk=2)
    assert [r["filename"] for r in success] == ["p4", "p0"]
    assert [r["filename"] for r in fail] == ["p2", "p3"] and fail[0]["gt_class"] == "a"


def test_it_writes_the_galleries_of_a_results_file(tiny_run, tmp_path, capsys):
    out = tmp_path / "galleries"
    assert main(["analyze-results", str(tiny_run.spec_file), str(tiny_run.results_pkl), "--data-root",
                 str(tiny_run.root), "--out-dir", str(out), "--topk", "3"]) == 0
    results = json.loads(tiny_run.results_json.read_text())
    right = sum(int(p) == i // 2 for i, p in enumerate(results["pred_label"]))  # val: 2 images a digit, in order
    for name, expected in (("success", min(3, right)), ("fail", min(3, 20 - right))):
        rows = json.loads((out / name / f"{name}.json").read_text())
        assert len(rows) == expected
        assert [r["pred_score"] for r in rows] == sorted((r["pred_score"] for r in rows), reverse=True)
        assert all((r["pred_label"] == r["gt_label"]) == (name == "success") for r in rows)
        pictures = sorted(p.name for p in (out / name).glob("*.png"))
        assert len(pictures) == expected and all(p.startswith(f"{i}_") for i, p in enumerate(pictures, 1))
        for picture in (out / name).glob("*.png"):
            assert min(cv2.imread(str(picture)).shape[:2]) >= 224  # the 16x16 digits are enlarged to be read
    assert f"successful and {min(3, 20 - right)} failed predictions saved to {out}/success" in capsys.readouterr().out


def test_the_text_is_written_on_the_image():
    plain = np.zeros((16, 16, 3), np.uint8)
    drawn = draw_infos(plain, {"pred_score": 0.5, "pred_class": "3", "gt_class": "7"})
    assert drawn.shape == (224, 224, 3) and drawn[:60].max() > 200 and drawn[100:].max() == 0


def test_it_explains_a_results_file_without_predictions(tiny_run, tmp_path, capsys):
    scores_only = tmp_path / "scores.json"
    scores_only.write_text(json.dumps({"class_scores": [[0.1] * 10] * 20}))
    assert main(["analyze-results", str(tiny_run.spec_file), str(scores_only), "--data-root", str(tiny_run.root),
                 "--out-dir", str(tmp_path / "o")]) == 1
    assert ("the results file has no pred_score, pred_label, pred_class; write it with `trainyard test ... --out FILE "
            "--out-items all`") in capsys.readouterr().err
