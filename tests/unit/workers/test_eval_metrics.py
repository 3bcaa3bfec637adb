"""MMCls's metrics on tiny arrays whose values are worked out by hand in the comments.

Single-label case, 4 samples, 4 classes (class 3 neither occurs nor is predicted):

    sample  scores                     arg-max (score)  target
    0       0.70 0.20 0.05 0.05        0 (0.70)         0
    1       0.10 0.25 0.60 0.05        2 (0.60)         2
    2       0.35 0.50 0.10 0.05        1 (0.50)         0
    3       0.20 0.15 0.60 0.05        2 (0.60)         1
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workers.evaluation import (
    accuracy,
    average_performance,
    average_precision,
    calculate_confusion_matrix,
    evaluate_multilabel,
    f1_score,
    mAP,
    precision,
    precision_recall_f1,
    recall,
    support,
)

PRED = np.array([[0.70, 0.20, 0.05, 0.05], [0.10, 0.25, 0.60, 0.05], [0.35, 0.50, 0.10, 0.05],
                 [0.20, 0.15, 0.60, 0.05]])
TARGET = np.array([0, 2, 0, 1])


def test_it_scores_topk_accuracy_with_threshold_lists():
    # top-1 right: samples 0, 1; top-2 adds sample 2 (0 is second); above 0.55 only samples 0 and 1 count
    assert accuracy(PRED, TARGET, topk=(1, 2)) == pytest.approx([50.0, 75.0])
    assert np.array(accuracy(PRED, TARGET, topk=(1, 2), thrs=(0.0, 0.55))).tolist() == [[50.0, 50.0], [75.0, 50.0]]
    got = accuracy(torch.from_numpy(PRED), torch.from_numpy(TARGET), topk=1)
    assert float(got) == pytest.approx(50.0)


def test_it_counts_a_score_equal_to_the_threshold_as_wrong_and_tied_scores_inside_k_as_right():
    assert accuracy(np.array([[0.6, 0.3, 0.1]]), np.array([0]), thrs=0.6) == 0.0
    assert accuracy(np.array([[0.4, 0.4, 0.2]]), np.array([1]), topk=2) == 100.0


def test_it_gives_per_class_and_macro_precision_recall_f1():
    # class 0: predicted {0}, true {0, 2} -> P 100, R 50, F1 66.67; class 1: predicted {2}, true {3} -> 0s;
    # class 2: predicted {1, 3}, true {1} -> P 50, R 100, F1 66.67; class 3: nothing -> 0s (no division by 0)
    p, r, f = precision_recall_f1(PRED, TARGET, average_mode="none")
    assert p == pytest.approx([100, 0, 50, 0])
    assert r == pytest.approx([50, 0, 100, 0])
    assert f == pytest.approx([200 / 3, 0, 200 / 3, 0], rel=1e-5)
    assert precision(PRED, TARGET) == pytest.approx(37.5)
    assert recall(PRED, TARGET) == pytest.approx(37.5)
    assert f1_score(PRED, TARGET) == pytest.approx(100 / 3, rel=1e-5)


def test_it_drops_predictions_not_above_each_threshold():
    # above 0.65 only sample 0 stays predicted: class 0 P 100 R 50, class 2 loses its right prediction
    p, r, f = precision_recall_f1(PRED, TARGET, thrs=(0.0, 0.65))
    assert p == pytest.approx([37.5, 25.0])
    assert r == pytest.approx([37.5, 12.5])
    assert f == pytest.approx([100 / 3, 50 / 3], rel=1e-5)
    with pytest.raises(ValueError, match="averaging"):
        precision(PRED, TARGET, average_mode="micro")


def test_it_counts_support_and_the_confusion_matrix():
    assert support(PRED, TARGET) == 4.0
    assert support(PRED, TARGET, average_mode="none").tolist() == [2, 1, 1, 0]
    # rows are targets, columns predictions
    assert calculate_confusion_matrix(PRED, TARGET).tolist() == [[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0],
                                                                 [0, 0, 0, 0]]


# Multi-label: 4 samples, 2 classes; -1 marks a difficult label.
ML_PRED = np.array([[0.9, 0.2], [0.8, 0.7], [0.3, 0.6], [0.1, 0.4]])
ML_TARGET = np.array([[1, 1], [0, 1], [1, 0], [-1, 0]])


def test_it_averages_precision_over_the_positives_ignoring_difficult_ones():
    # class 0 ranked 0.9(+) 0.8(-) 0.3(+) 0.1(difficult): precisions at the positives 1/1 and 2/3 -> 5/6
    assert average_precision(ML_PRED[:, 0], ML_TARGET[:, 0]) == pytest.approx(5 / 6)
    # class 1 ranked 0.7(+) 0.6(-) 0.4(-) 0.2(+): 1/1 and 2/4 -> 3/4
    assert average_precision(ML_PRED[:, 1], ML_TARGET[:, 1]) == pytest.approx(0.75)
    assert mAP(ML_PRED, ML_TARGET) == pytest.approx((5 / 6 + 0.75) / 2 * 100)
    assert mAP(torch.from_numpy(ML_PRED), torch.from_numpy(ML_TARGET)) == pytest.approx(79.1666667)
    with pytest.raises(TypeError):
        mAP(ML_PRED, torch.from_numpy(ML_TARGET))


def test_it_gives_class_wise_and_overall_multilabel_scores():
    target = ML_TARGET.copy()
    # thr 0.35: class 0 positive {0, 1} (tp 1, fp 1, fn 1); class 1 positive {1, 2, 3} (tp 1, fp 2, fn 1)
    cp, cr, cf1, op, o_r, of1 = average_performance(ML_PRED, target, thr=0.35)
    assert (cp, cr) == pytest.approx(((0.5 + 1 / 3) / 2 * 100, 50.0))
    assert cf1 == pytest.approx(2 * cp * cr / (cp + cr))
    assert (op, o_r, of1) == pytest.approx((40.0, 50.0, 2 * 40 * 50 / 90))
    assert (target == ML_TARGET).all()  # the caller's -1 labels are left alone
    # k=1: class 0 positive {0, 1}, class 1 positive {2, 3} (both wrong): 1 tp, 3 fp, 3 fn overall
    assert average_performance(ML_PRED, ML_TARGET, k=1) == pytest.approx((25.0, 25.0, 25.0, 25.0, 25.0, 25.0))
    with pytest.warns(UserWarning, match="thr as 0.5"):
        average_performance(ML_PRED, ML_TARGET)
    results = evaluate_multilabel(ML_PRED, ML_TARGET, metric=["mAP", "CP", "OF1"], metric_options={"thr": 0.35})
    assert list(results) == ["mAP", "CP", "OF1"] and results["OF1"] == pytest.approx(of1)


def test_it_names_threshold_results_as_mmcls_datasets_do():
    from workers.evaluation import evaluate_classification

    results = evaluate_classification(PRED, TARGET, metric=["accuracy", "precision", "support"],
                                      metric_options={"topk": (1,), "thrs": (0.0, 0.65), "average_mode": "none"})
    assert list(results) == ["accuracy_top-1_thr_0.00", "accuracy_top-1_thr_0.65", "support",
                             "precision_thr_0.00", "precision_thr_0.65"]
    assert results["accuracy_top-1_thr_0.65"] == 25.0  # only sample 0 is right and above 0.65
    assert results["support"].tolist() == [2, 1, 1, 0]
    assert results["precision_thr_0.65"].tolist() == pytest.approx([100, 0, 0, 0])
