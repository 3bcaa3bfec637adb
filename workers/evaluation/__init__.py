"""Metrics with MMClassification's names and definitions."""

from workers.evaluation.evaluate import (
    ALLOWED_METRICS,
    MULTILABEL_METRICS,
    evaluate_classification,
    evaluate_multilabel,
)
from workers.evaluation.metrics import (
    accuracy,
    average_performance,
    average_precision,
    calculate_confusion_matrix,
    f1_score,
    mAP,
    precision,
    precision_recall_f1,
    recall,
    support,
)

__all__ = [
    "ALLOWED_METRICS",
    "MULTILABEL_METRICS",
    "accuracy",
    "average_performance",
    "average_precision",
    "calculate_confusion_matrix",
    "evaluate_classification",
    "evaluate_multilabel",
    "f1_score",
    "mAP",
    "precision",
    "precision_recall_f1",
    "recall",
    "support",
]
