"""The web process's numpy scoring of stored predictions (``backend.evaluations.scoring``) gives what the engine's
``evaluate_classification`` (behind ``trainyard test`` and ``trainyard eval-metric``) gives."""
import numpy as np
import pytest

from backend.evaluations import scoring
from workers.evaluation import calculate_confusion_matrix, evaluate_classification

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
    (["mAP"], None, "Unknown metric 'mAP'"),
    (["accuracy"], {"topk": 0}, "topk must be a positive integer"),
    (["accuracy"], {"thrs": "high"}, "thrs must be a number"),
    (["precision"], {"average_mode": "micro"}, "average_mode must be 'macro' or 'none'"),
    (["accuracy"], {"topn": 3}, "Unknown metric option 'topn'"),
])
def test_it_refuses_what_it_cannot_score(metrics, options, message):
    with pytest.raises(scoring.ScoringError, match=message):
        scoring.check_request(metrics, options)
