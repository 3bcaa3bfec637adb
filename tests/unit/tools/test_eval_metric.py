"""``trainyard eval-metric SPEC RESULTS``: a results file of ``trainyard test --out`` scored again without the
model gives what ``trainyard test`` printed, and other metrics and options on the same scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workers.cli import main


def _printed(out: str) -> dict:
    return {line.split(" : ")[0]: line.split(" : ")[1] for line in out.splitlines() if " : " in line}


@pytest.mark.parametrize("results", ["results_pkl", "results_json"])
def test_it_gives_what_trainyard_test_gave_without_the_model(tiny_run, results, capsys):
    common = ["--metrics", "accuracy", "precision", "recall", "--metric-options", "topk=1,5"]
    root = ["--data-root", str(tiny_run.root)]
    assert main(["test", str(tiny_run.spec_file), str(tiny_run.checkpoint), *root, *common]) == 0
    tested = _printed(capsys.readouterr().out)
    assert main(["eval-metric", str(tiny_run.spec_file), str(getattr(tiny_run, results)), *root, *common]) == 0
    assert _printed(capsys.readouterr().out) == tested
    assert set(tested) == {"accuracy_top-1", "accuracy_top-5", "precision", "recall"}


def test_other_options_rescore_the_same_scores(tiny_run, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    assert main(["eval-metric", str(tiny_run.spec_file), str(tiny_run.results_pkl), "--data-root", str(tiny_run.root),
                 "--metrics", "precision", "support", "--metric-options", "average_mode=none",
                 "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert len(metrics["precision"]) == 10 and metrics["support"] == [2.0] * 10  # 2 val images of each digit
    scores = np.asarray(json.loads(tiny_run.results_json.read_text())["class_scores"])
    predicted = set(scores.argmax(axis=1).tolist())
    assert all(p == 0.0 for c, p in enumerate(metrics["precision"]) if c not in predicted)


def test_it_explains_a_file_without_scores_and_another_datasets_results(tiny_run, tmp_path, capsys):
    spec, root = str(tiny_run.spec_file), ["--data-root", str(tiny_run.root)]
    labels_only = tmp_path / "labels.json"
    labels_only.write_text(json.dumps({"pred_label": [0] * 20}))
    assert main(["eval-metric", spec, str(labels_only), *root, "--metrics", "accuracy"]) == 1
    assert ("has no 'class_scores' (it holds pred_label); write it with `trainyard test ... --out FILE --out-items all`"
            in capsys.readouterr().err)
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"class_scores": [[0.1] * 10] * 7}))
    assert main(["eval-metric", spec, str(short), *root, "--metrics", "accuracy"]) == 1
    assert "the results hold 7 samples but data.test has 20" in capsys.readouterr().err


def test_it_refuses_a_pickle_that_names_code(tiny_run, tmp_path, capsys):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'touch " + str(tmp_path / "owned").encode() + b"'\ntR.")
    assert main(["eval-metric", str(tiny_run.spec_file), str(evil), "--metrics", "accuracy"]) == 1
    assert "refused to unpickle 'os.system'" in capsys.readouterr().err
    assert not (tmp_path / "owned").exists()
