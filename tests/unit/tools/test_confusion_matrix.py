"""``trainyard confusion-matrix SPEC RESULTS``: the matrix of a results file against the spec's test labels,
printed, saved as JSON and plotted."""

from __future__ import annotations

import json

import numpy as np

from workers.cli import main
from workers.tools.confusion_matrix import confusion_matrix, format_matrix


def test_it_counts_ground_truth_rows_against_predicted_columns():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    normalized = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 4, normalize=True)
    assert np.allclose(normalized[:3].sum(axis=1), 1) and normalized[3].tolist() == [0, 0, 0, 0]
    assert format_matrix(matrix, ["a", "b", "c"]).splitlines()[3].split() == ["c", "1", "0", "2"]


def test_it_prints_saves_and_plots_the_matrix_of_a_results_file(tiny_run, tmp_path, capsys):
    picture, saved = tmp_path / "cm.png", tmp_path / "cm.json"
    assert main(["confusion-matrix", str(tiny_run.spec_file), str(tiny_run.results_json), "--data-root",
                 str(tiny_run.root), "--out", str(picture), "--save-matrix", str(saved)]) == 0
    results = json.loads(tiny_run.results_json.read_text())
    expected = np.zeros((10, 10), dtype=int)
    for gt, pred in zip(np.repeat(np.arange(10), 2), results["pred_label"], strict=True):  # val: 2 images a digit
        expected[gt, pred] += 1
    stored = json.loads(saved.read_text())
    assert stored["classes"] == [str(d) for d in range(10)] and stored["matrix"] == expected.tolist()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:4] == ["gt", "\\", "pred", "0"] and printed[1].split()[1:] == [str(v) for v in expected[0]]
    assert picture.read_bytes()[:4] == b"\x89PNG"


def test_normalize_shows_fractions_of_each_class(tiny_run, tmp_path, capsys):
    saved = tmp_path / "cm.json"
    assert main(["confusion-matrix", str(tiny_run.spec_file), str(tiny_run.results_pkl), "--data-root",
                 str(tiny_run.root), "--normalize", "--save-matrix", str(saved), "--out", str(tmp_path / "cm.svg")]) == 0
    matrix = np.array(json.loads(saved.read_text())["matrix"])
    assert np.allclose(matrix.sum(axis=1), 1.0) and set(np.unique(matrix)) <= {0.0, 0.5, 1.0}
    assert "Normalized Confusion Matrix" in (tmp_path / "cm.svg").read_text()
