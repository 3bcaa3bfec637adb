"""The web process's numpy scoring of stored predictions (``backend.evaluations.scoring``) gives what the engine's
``evaluate_classification`` and ``evaluate_multilabel`` (behind ``trainyard test`` and ``trainyard eval-metric``)
give, and the multi-label metrics (mAP, CP, CR, CF1, OP, OR, OF1) equal values computed by hand."""
import warnings

import numpy as np
import pytest

from backend.evaluations import scoring
from workers.evaluation import calculate_confusion_matrix, evaluate_classification, evaluate_multilabel

RNG = np.random.default_rng(0)
SCORES = RNG.random((200, 6)).astype(np.float32)
SCORES /= SCORES.sum(1, keepdims=True)
LABELS = RNG.integers(0, 6, 200)
ALL = ["accuracy", "precision", "recall", "f1_score", "support"]


@pytest.mark.parametrize("options", [None, {"topk": [1, 3]}, {"topk": 2}, {"thrs": 0.2},
                                     {"thrs": [0.1, 0.25]}, {"average_mode": "none"},
                                     {"topk": [1, 5], "thrs": [0.0, 0.3], "average_mode": "macro"}])
def test_it_scores_as_the_engine_does(options):
    engine_options = None if options is None else {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    expected = evaluate_classification(SCORES, LABELS, ALL, engine_options)
    got = scoring.evaluate(SCORES, LABELS, ALL, options)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert np.allclose(np.asarray(got[key], dtype=float), np.asarray(value, dtype=float), atol=1e-4), key


def test_it_counts_the_confusion_matrix_as_the_engine_does():
    assert (scoring.confusion_matrix(SCORES, LABELS) == calculate_confusion_matrix(SCORES, LABELS).numpy()).all()


def test_it_orders_best_and_worst_by_score():
    scores = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.7, 0.3]])
    best, worst = scoring.best_and_worst(scores, [0, 0, 0, 1], topn=2)
    assert [b["index"] for b in best] == [0, 1]
    assert [(w["index"], w["pred"]) for w in worst] == [(2, 1), (3, 0)]


@pytest.mark.parametrize("metrics, options, message", [
    ([], None, "Name at least one metric"),
    (["accuracy", "mAP"], None, "Unknown metric 'mAP'"),
    (["accuracy"], {"topk": 0}, "topk must be a positive integer"),
    (["accuracy"], {"thrs": "high"}, "thrs must be a number"),
    (["accuracy"], {"thrs": float("nan")}, "thrs must be a number"),
    (["precision"], {"average_mode": "micro"}, "average_mode must be 'macro' or 'none'"),
    (["accuracy"], {"topn": 3}, "Unknown metric option 'topn'"),
    ([["accuracy"]], None, "Metrics are names"),
    (["accuracy"], ["topk"], "metric_options must be an object"),
    (["mAP", "CP"], {"thrs": 0.5}, "Unknown metric option 'thrs': a multi-label evaluation takes thr or k"),
    (["CP"], {"thr": "half"}, "thr must be a number"),
    (["CP"], {"k": 0}, "k must be a positive integer"),
    (["OF1"], {"k": True}, "k must be a positive integer"),
])
def test_it_refuses_what_it_cannot_score(metrics, options, message):
    with pytest.raises(scoring.ScoringError, match=message):
        scoring.check_request(metrics, options)


def test_it_refuses_single_label_metrics_for_multi_label_predictions_and_back():
    with pytest.raises(scoring.ScoringError, match="Unknown metric 'mAP': choose from accuracy"):
        scoring.check_request(["mAP"], None, multi_label=False)
    with pytest.raises(scoring.ScoringError, match="Unknown metric 'accuracy': choose from mAP, CP, CR, CF1, OP"):
        scoring.evaluate([[0.9, 0.1]], [[1, 0]], ["accuracy"])
    with pytest.raises(scoring.ScoringError, match="Unknown metric 'mAP'"):
        scoring.evaluate([[0.9, 0.1]], [0], ["mAP"])
    with pytest.raises(scoring.ScoringError, match=r"\(1, 3\) scores for \(1, 2\) targets"):
        scoring.evaluate_multilabel([[0.9, 0.1, 0.0]], [[1, 0]], ["mAP"])


# --- multi-label (MMCls's MultiLabelDataset.evaluate) -------------------------------------------------------

# 3 samples, 2 classes; sample 2's class 1 is difficult (-1).
ML_SCORES = [[0.9, 0.6], [0.4, 0.8], [0.7, 0.2]]
ML_TARGETS = [[1, 0], [1, 1], [0, -1]]


def test_it_computes_map_by_hand():
    # class 0 ranked 0.9 (+), 0.7 (-), 0.4 (+): precision 1/1 at the first positive, 2/3 at the second -> AP 5/6.
    # class 1 ranked 0.8 (+), 0.6 (-), 0.2 (difficult, not counted): AP 1/1.  mAP = (5/6 + 1) / 2 = 91.67 %.
    got = scoring.evaluate(ML_SCORES, ML_TARGETS, ["mAP"])
    assert got == {"mAP": pytest.approx((5 / 6 + 1) / 2 * 100)}
    assert scoring.average_precisions(np.array(ML_SCORES), np.array(ML_TARGETS)) == pytest.approx([5 / 6, 1.0])


def test_it_computes_cp_cr_cf1_op_or_of1_at_a_threshold_by_hand():
    # thr 0.5 predicts [[1, 1], [0, 1], [1, 0]]; the difficult label counts as absent.
    # class 0: tp 1 (s0), fp 1 (s2), fn 1 (s1): P 1/2, R 1/2.  class 1: tp 1 (s1), fp 1 (s0), fn 0: P 1/2, R 1.
    # CP = 50, CR = 75, CF1 = 2*50*75/125 = 60; OP = 2/4 = 50, OR = 2/3, OF1 = 2*50*66.67/116.67 = 57.14.
    got = scoring.evaluate(ML_SCORES, ML_TARGETS, ["CP", "CR", "CF1", "OP", "OR", "OF1"], {"thr": 0.5})
    assert got == pytest.approx({"CP": 50.0, "CR": 75.0, "CF1": 60.0, "OP": 50.0, "OR": 200 / 3,
                                 "OF1": 2 * 50 * (200 / 3) / (50 + 200 / 3)})
    assert scoring.evaluate(ML_SCORES, ML_TARGETS, ["CP"]) == {"CP": pytest.approx(50.0)}  # thr 0.5 by default


def test_it_computes_them_at_top_k_by_hand():
    # k=1 predicts each sample's highest score: [[1, 0], [0, 1], [1, 0]].
    # class 0: tp 1, fp 1 (s2), fn 1 (s1): P 1/2, R 1/2.  class 1: tp 1 (s1), fp 0, fn 0: P 1, R 1.
    # CP = CR = CF1 = 75; OP = OR = OF1 = 2/3.
    got = scoring.evaluate(ML_SCORES, ML_TARGETS, ["OF1", "mAP", "CP", "CR", "CF1", "OP", "OR"], {"k": 1})
    assert list(got) == ["mAP", "OF1", "CP", "CR", "CF1", "OP", "OR"]  # mAP first, then the order asked
    assert got == pytest.approx({"mAP": (5 / 6 + 1) / 2 * 100, "CP": 75.0, "CR": 75.0, "CF1": 75.0,
                                 "OP": 200 / 3, "OR": 200 / 3, "OF1": 200 / 3})


def test_a_class_without_positives_has_an_average_precision_of_zero():
    got = scoring.evaluate([[0.9, 0.1], [0.2, 0.3]], [[1, 0], [1, -1]], ["mAP"])
    assert got == {"mAP": pytest.approx(50.0)}


@pytest.mark.parametrize("options", [None, {"thr": 0.3}, {"k": 2}, {"thr": 0.6, "k": 1}])
def test_it_scores_multi_label_predictions_as_the_engine_does(options):
    scores = RNG.random((120, 5))
    targets = RNG.choice([-1, 0, 1], size=(120, 5), p=[0.1, 0.6, 0.3])
    names = ["mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the engine warns that thr wins over k, as MMCls does
        expected = evaluate_multilabel(scores, targets.copy(), names, options)
    got = scoring.evaluate(scores.astype(np.float32), targets, names, options)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-3), key


def test_it_shows_each_class_of_a_multi_label_evaluation():
    rows = scoring.per_class_multilabel(ML_SCORES, ML_TARGETS, ["cat", "dog"])
    assert [(r["name"], r["support"]) for r in rows] == [("cat", 2), ("dog", 1)]
    assert rows[0]["ap"] == pytest.approx(500 / 6) and rows[1]["ap"] == pytest.approx(100.0)
    assert (rows[1]["precision"], rows[1]["recall"]) == (pytest.approx(50.0), pytest.approx(100.0))
