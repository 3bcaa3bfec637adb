"""Metrics with MMClassification's names and definitions."""

from workers.evaluation.evaluate import ALLOWED_METRICS, evaluate_classification
from workers.evaluation.metrics import accuracy, calculate_confusion_matrix, precision_recall_f1, support

__all__ = [
    "ALLOWED_METRICS",
    "accuracy",
    "calculate_confusion_matrix",
    "evaluate_classification",
    "precision_recall_f1",
    "support",
]
