"""``evaluate_classification``: MMClassification 0.25's ``BaseDataset.evaluate`` as a plain function.

Result keys are MMCls's: ``accuracy_top-1``, ``accuracy_top-5``, ``precision``, ``recall``, ``f1_score``,
``support``; a tuple of thresholds adds ``_thr_0.50``-style suffixes.
"""

from __future__ import annotations

import numpy as np

from jobspecs.training import ALLOWED_METRICS, MULTILABEL_METRICS, accuracy_keys, threshold_key
from workers.evaluation.metrics import accuracy, average_performance, mAP, precision_recall_f1, support

__all__ = ["ALLOWED_METRICS", "MULTILABEL_METRICS", "evaluate_classification", "evaluate_multilabel"]

# The names (and their order) are jobspecs.training's: the service learns them from the spec before a
# worker starts (jobspecs.contract.spec_facts); tests/unit/jobspecs/test_contract.py checks both agree.


def evaluate_classification(results, gt_labels: np.ndarray, metric: str | list[str] = "accuracy",
                            metric_options: dict | None = None) -> dict[str, float]:
    """Score predictions against labels.

    Args:
        results: Scores, ``(N, C)`` array or a list of per-sample ``(C,)`` arrays.
        gt_labels: ``(N,)`` integer labels.
        metric: One of :data:`ALLOWED_METRICS` or a list of them.
        metric_options: ``topk`` (default ``(1, 5)``), ``thrs``, ``average_mode`` (default ``'macro'``).

    Returns:
        Metric name to value (percentages, except ``support``).
    """
    metric_options = metric_options or {"topk": (1, 5)}
    metrics = [metric] if isinstance(metric, str) else list(metric)
    invalid = set(metrics) - set(ALLOWED_METRICS)
    if invalid:
        raise ValueError(f"metric {sorted(invalid)} is not supported; choose from {list(ALLOWED_METRICS)}")
    results = np.vstack(results) if isinstance(results, list) else np.asarray(results)
    gt_labels = np.asarray(gt_labels)
    if len(gt_labels) != len(results):
        raise ValueError(f"{len(results)} results for {len(gt_labels)} labels: the test results should be "
                         "as many as the samples")
    topk = metric_options.get("topk", (1, 5))
    if isinstance(topk, list):
        topk = tuple(topk)
    thrs = metric_options.get("thrs")
    if isinstance(thrs, list):
        thrs = tuple(thrs)
    average_mode = metric_options.get("average_mode", "macro")

    eval_results: dict[str, float] = {}
    if "accuracy" in metrics:
        acc = accuracy(results, gt_labels, topk=topk, thrs=thrs if thrs is not None else 0.0)
        named = dict(zip(accuracy_keys(topk), acc, strict=True)) if isinstance(topk, tuple) else {"accuracy": acc}
        if isinstance(thrs, tuple):
            for key, values in named.items():
                eval_results.update({threshold_key(key, thr): float(v) for thr, v in zip(thrs, values, strict=True)})
        else:
            eval_results.update({k: float(v) for k, v in named.items()})
    if "support" in metrics:
        eval_results["support"] = support(results, gt_labels, average_mode=average_mode)
    prf_keys = [k for k in ("precision", "recall", "f1_score") if k in metrics]
    if prf_keys:
        values = precision_recall_f1(results, gt_labels, average_mode=average_mode,
                                     thrs=thrs if thrs is not None else 0.0)
        for key, value in zip(("precision", "recall", "f1_score"), values, strict=True):
            if key not in prf_keys:
                continue
            if isinstance(thrs, tuple):
                eval_results.update({threshold_key(key, thr): v for thr, v in zip(thrs, value, strict=True)})
            else:
                eval_results[key] = value
    return eval_results


def evaluate_multilabel(results, gt_labels: np.ndarray, metric: str | list[str] = "mAP",
                        metric_options: dict | None = None) -> dict[str, float]:
    """MMCls 0.25's ``MultiLabelDataset.evaluate``: ``mAP`` and the ``average_performance`` numbers.

    Args:
        results: Scores ``(N, C)``.
        gt_labels: ``(N, C)`` of 1 / 0 / -1 (difficult).
        metric: Names from :data:`MULTILABEL_METRICS`.
        metric_options: ``thr`` (default 0.5) or ``k`` for CP ... OF1.
    """
    metric_options = metric_options or {"thr": 0.5}
    metrics = [metric] if isinstance(metric, str) else list(metric)
    invalid = set(metrics) - set(MULTILABEL_METRICS)
    if invalid:
        raise ValueError(f"metric {sorted(invalid)} is not supported; choose from {list(MULTILABEL_METRICS)}")
    results = np.vstack(results) if isinstance(results, list) else np.asarray(results)
    gt_labels = np.asarray(gt_labels)
    eval_results: dict[str, float] = {}
    if "mAP" in metrics:
        eval_results["mAP"] = mAP(results, gt_labels)
    others = [m for m in metrics if m != "mAP"]
    if others:
        values = dict(zip(MULTILABEL_METRICS[1:], average_performance(results, gt_labels, **metric_options),
                          strict=True))
        eval_results.update({name: values[name] for name in others})
    return eval_results
