"""Scoring stored predictions in the web process: numpy only (the web process never imports torch, see
``tests/unit/backend/test_web_without_the_engine.py``).

``evaluate`` gives what ``workers.evaluation.evaluate_classification`` (the dataset's ``evaluate`` behind
``trainyard test`` and ``trainyard eval-metric``, seed 52.2.1) gives for the same scores, labels, metrics and
``metric_options`` — MMClassification 0.25's definitions and key names (``jobspecs.training``); that engine
module imports torch at load, so its arithmetic is mirrored here, and a unit test holds the two equal
(``tests/unit/backend/test_evaluation_scoring.py``). Also the confusion matrix, per-class
precision/recall/F1/support and the best and worst predictions of the evaluation page (the seed's
``analyze_results``).

A multi-label dataset (labels ``(N, C)`` of 1 / 0 / -1, MMCls 0.25's ``MultiLabelDataset``) is scored with its own
metrics: ``mAP`` and ``CP``, ``CR``, ``CF1``, ``OP``, ``OR``, ``OF1`` (``metric_options`` ``thr`` or ``k``), as
``workers.evaluation.evaluate_multilabel`` scores them (seed: "Multi-label classification" metrics of
``MultiLabelDataset.evaluate``; ``mean_ap.average_precision`` and ``multilabel_metrics.average_performance``).
"""
from __future__ import annotations

from numbers import Number

import numpy as np

from jobspecs.training import ALLOWED_METRICS, MULTILABEL_METRICS, accuracy_keys, threshold_key


class ScoringError(ValueError):
    """Metrics or options that cannot score these predictions; the message says why."""


def is_multi_label(metrics) -> bool:
    """Whether ``metrics`` name a multi-label evaluation: all of them are multi-label metrics (``mAP``, ``CP``...),
    as ``jobspecs.training.metric_names`` reads a spec's ``evaluation.metric``."""
    names = [metrics] if isinstance(metrics, str) else list(metrics or [])
    return bool(names) and all(m in MULTILABEL_METRICS for m in names)


def check_request(metrics, metric_options, multi_label: bool | None = None) -> tuple[list[str], dict]:
    """Validate ``metrics`` (a name or a list of names) and ``metric_options``: ``topk``, ``thrs``,
    ``average_mode`` for a single-label dataset; ``thr`` or ``k`` for a multi-label one.

    Args:
        multi_label: Whether the predictions are multi-label (their labels ``(N, C)``); None: as the metrics say
            (all multi-label metrics, see ``is_multi_label``).

    Returns:
        The metrics as a list and the options as plain JSON (lists for tuples).

    Raises:
        ScoringError: an unknown metric or option, or a value of the wrong kind.
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics or [])
    if multi_label is None:
        multi_label = is_multi_label(names)
    allowed = MULTILABEL_METRICS if multi_label else ALLOWED_METRICS
    if not names:
        raise ScoringError(f"Name at least one metric (choose from {', '.join(allowed)}).")
    if not all(isinstance(m, str) for m in names):
        raise ScoringError(f"Metrics are names (choose from {', '.join(allowed)}).")
    unknown = [m for m in names if m not in allowed]
    if unknown:
        hint = ("a multi-label dataset is scored with these (MMCls's MultiLabelDataset)" if multi_label else
                "multi-label metrics such as mAP need a multi-label dataset")
        raise ScoringError(f"Unknown metric {unknown[0]!r}: choose from {', '.join(allowed)} ({hint}).")
    if not isinstance(metric_options or {}, dict):
        raise ScoringError("metric_options must be an object.")
    options = dict(metric_options or {})
    if multi_label:
        return names, _check_multilabel_options(options)
    extra = sorted(set(options) - {"topk", "thrs", "average_mode"})
    if extra:
        raise ScoringError(f"Unknown metric option {extra[0]!r}: use topk, thrs or average_mode.")
    out: dict = {}
    if "topk" in options:
        topk = options["topk"]
        ks = topk if isinstance(topk, (list, tuple)) else [topk]
        if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
            raise ScoringError(f"topk must be a positive integer or a list of them, got {topk!r}.")
        out["topk"] = list(topk) if isinstance(topk, (list, tuple)) else topk
    if "thrs" in options and options["thrs"] is not None:
        thrs = options["thrs"]
        values = thrs if isinstance(thrs, (list, tuple)) else [thrs]
        if not values or not all(_finite_number(t) for t in values):
            raise ScoringError(f"thrs must be a number or a list of numbers, got {thrs!r}.")
        out["thrs"] = list(thrs) if isinstance(thrs, (list, tuple)) else thrs
    if "average_mode" in options:
        if options["average_mode"] not in ("macro", "none"):
            raise ScoringError(f"average_mode must be 'macro' or 'none', got {options['average_mode']!r}.")
        out["average_mode"] = options["average_mode"]
    return names, out


def _finite_number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool) and bool(np.isfinite(value))


def _check_multilabel_options(options: dict) -> dict:
    """A multi-label evaluation's options: ``thr`` (a score at or above it is a predicted label) or ``k`` (each
    sample's ``k`` highest scores are); the engine's default, ``thr=0.5``, when neither is given."""
    extra = sorted(set(options) - {"thr", "k"})
    if extra:
        raise ScoringError(f"Unknown metric option {extra[0]!r}: a multi-label evaluation takes thr or k.")
    out: dict = {}
    if options.get("thr") is not None:
        if not _finite_number(options["thr"]):
            raise ScoringError(f"thr must be a number, got {options['thr']!r}.")
        out["thr"] = options["thr"]
    if options.get("k") is not None:
        k = options["k"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ScoringError(f"k must be a positive integer, got {k!r}.")
        out["k"] = k
    return out


def _accuracy(scores: np.ndarray, labels: np.ndarray, topk: tuple[int, ...], thrs: tuple[float, ...]):
    num, num_classes = scores.shape
    ks = tuple(min(k, num_classes) for k in topk)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :max(ks)]
    top_scores = np.take_along_axis(scores, order, axis=1)
    out = []
    for k in ks:
        hit = order[:, :k] == labels.reshape(-1, 1)
        out.append([float((hit & (top_scores[:, :k] > thr)).any(axis=1).sum()) * 100.0 / num for thr in thrs])
    return out


def _prf(scores: np.ndarray, labels: np.ndarray, thr: float):
    """Per-class precision, recall and F1 in percent at one threshold (MMCls's definitions)."""
    num_classes = scores.shape[1]
    pred = scores.argmax(axis=1)
    kept = scores.max(axis=1) > thr
    pred_pos = np.zeros((len(pred), num_classes), dtype=np.int64)
    pred_pos[np.arange(len(pred))[kept], pred[kept]] = 1
    gt_pos = np.eye(num_classes, dtype=np.int64)[labels]
    correct = (pred_pos & gt_pos).sum(0).astype(np.float32)
    precision = correct / np.maximum(pred_pos.sum(0), 1).astype(np.float32) * 100
    recall = correct / np.maximum(gt_pos.sum(0), 1).astype(np.float32) * 100
    f1 = 2 * precision * recall / np.maximum(precision + recall, np.finfo(np.float32).eps)
    return precision.astype(np.float32), recall.astype(np.float32), f1.astype(np.float32)


def evaluate(scores, labels, metrics, metric_options: dict | None = None) -> dict:
    """Score ``(N, C)`` class scores against ``(N,)`` labels as ``evaluate_classification`` does, or against
    ``(N, C)`` multi-label targets as ``evaluate_multilabel`` does (``evaluate_multilabel`` here).

    Returns:
        Metric name to value: floats (percentages, except ``support``), lists for ``average_mode='none'``.

    Raises:
        ScoringError: see ``check_request``.
    """
    labels = np.asarray(labels).astype(np.int64)
    if labels.ndim == 2:
        names, options = check_request(metrics, metric_options, multi_label=True)
        return evaluate_multilabel(scores, labels, names, options)
    names, options = check_request(metrics, metric_options, multi_label=False)
    options = options or {"topk": (1, 5)}
    scores = np.asarray(scores, dtype=np.float32)
    topk = options.get("topk", (1, 5))
    topk = tuple(topk) if isinstance(topk, list) else topk
    thrs = options.get("thrs")
    thrs = tuple(thrs) if isinstance(thrs, list) else thrs
    mode = options.get("average_mode", "macro")
    out: dict = {}
    if "accuracy" in names:
        thr_list = thrs if isinstance(thrs, tuple) else (float(thrs or 0.0),)
        acc = _accuracy(scores, labels, topk if isinstance(topk, tuple) else (topk,), thr_list)
        keys = accuracy_keys(topk)
        for key, per_thr in zip(keys, acc, strict=True):
            if isinstance(thrs, tuple):
                out.update({threshold_key(key, t): v for t, v in zip(thrs, per_thr, strict=True)})
            else:
                out[key] = per_thr[0]
    if "support" in names:
        counts = np.bincount(labels, minlength=scores.shape[1])
        out["support"] = float(counts.sum()) if mode == "macro" else counts.tolist()
    wanted = [k for k in ("precision", "recall", "f1_score") if k in names]
    if wanted:
        thr_list = thrs if isinstance(thrs, tuple) else (float(thrs or 0.0),)
        per_thr = [dict(zip(("precision", "recall", "f1_score"), _prf(scores, labels, t), strict=True))
                   for t in thr_list]
        for key in wanted:  # each metric, then its thresholds: the engine's key order
            for thr, values in zip(thr_list, per_thr, strict=True):
                value = float(values[key].mean()) if mode == "macro" else values[key].tolist()
                out[threshold_key(key, thr) if isinstance(thrs, tuple) else key] = value
    return out


def evaluate_multilabel(scores, targets, metrics, metric_options: dict | None = None) -> dict:
    """Score ``(N, C)`` scores against ``(N, C)`` targets (1 present, 0 absent, -1 difficult) as the engine's
    ``evaluate_multilabel`` does: ``mAP`` first, then the others in the order asked, in percent.

    Raises:
        ScoringError: see ``check_request``; scores and targets of different shapes.
    """
    names, options = check_request(metrics, metric_options, multi_label=True)
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets).astype(np.int64)
    if scores.shape != targets.shape:
        raise ScoringError(f"{scores.shape} scores for {targets.shape} targets: a multi-label evaluation needs one "
                           "score per sample and class.")
    out: dict = {}
    if "mAP" in names:
        out["mAP"] = float(average_precisions(scores, targets).mean() * 100.0) if scores.shape[1] else 0.0
    others = [m for m in names if m != "mAP"]
    if others:
        thr, k = options.get("thr"), options.get("k")
        values = dict(zip(MULTILABEL_METRICS[1:], average_performance(scores, targets, thr=thr, k=k), strict=True))
        out.update({name: values[name] for name in others})
    return out


def average_precisions(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each class's average precision (a fraction): the mean, over the class's positives, of the precision at
    each positive's rank; difficult samples (-1) count neither as hits nor in the ranks (MMCls's
    ``average_precision``)."""
    eps = np.finfo(np.float32).eps
    out = np.zeros(scores.shape[1])
    for c in range(scores.shape[1]):
        ranked = targets[np.argsort(-scores[:, c], kind="stable"), c]
        hits = ranked == 1
        tp = np.cumsum(hits)
        counted = np.cumsum(ranked != -1)
        total = tp[-1] if len(tp) else 0
        out[c] = np.sum(np.where(hits, tp, 0) / np.maximum(counted, eps)) / max(total, eps)
    return out


def _predicted_labels(scores: np.ndarray, thr: float | None, k: int | None) -> np.ndarray:
    """``(N, C)`` 0/1: the labels predicted at ``thr`` (score >= thr), else each sample's top ``k``; thr=0.5 when
    neither is given (MMCls's default)."""
    if thr is None and k is None:
        thr = 0.5
    if thr is not None:
        return (scores >= thr).astype(np.int64)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    pos = np.zeros(scores.shape, dtype=np.int64)
    pos[np.arange(len(scores))[:, None], top] = 1
    return pos


def _counts(scores, targets, thr, k):
    """True positives, false positives and false negatives per class (difficult labels count as absent)."""
    pos = _predicted_labels(scores, thr, k)
    present = (targets == 1).astype(np.int64)
    return (pos & present).sum(0), (pos & (1 - present)).sum(0), ((1 - pos) & present).sum(0)


def average_performance(scores, targets, thr: float | None = None, k: int | None = None) -> tuple[float, ...]:
    """``(CP, CR, CF1, OP, OR, OF1)`` in percent: precision and recall averaged over classes (C) and over all
    labels at once (O), and the F1 of each pair (MMCls's ``average_performance``)."""
    eps = np.finfo(np.float32).eps
    tp, fp, fn = _counts(np.asarray(scores, dtype=np.float64), np.asarray(targets).astype(np.int64), thr, k)
    cp = float((tp / np.maximum(tp + fp, eps)).mean() * 100.0)
    cr = float((tp / np.maximum(tp + fn, eps)).mean() * 100.0)
    op = float(tp.sum() / max(tp.sum() + fp.sum(), eps) * 100.0)
    o_r = float(tp.sum() / max(tp.sum() + fn.sum(), eps) * 100.0)
    return (cp, cr, 2 * cp * cr / max(cp + cr, eps), op, o_r, 2 * op * o_r / max(op + o_r, eps))


def per_class_multilabel(scores, targets, classes: list[str], thr: float = 0.5) -> list[dict]:
    """Each class's average precision and its precision, recall and F1 at ``thr`` (percent), and its support
    (the samples where it is present)."""
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets).astype(np.int64)
    ap = average_precisions(scores, targets) * 100.0
    tp, fp, fn = _counts(scores, targets, thr, None)
    precision = tp / np.maximum(tp + fp, 1) * 100.0
    recall = tp / np.maximum(tp + fn, 1) * 100.0
    f1 = 2 * precision * recall / np.maximum(precision + recall, np.finfo(np.float32).eps)
    return [{"index": i, "name": classes[i] if i < len(classes) else str(i), "ap": float(ap[i]),
             "precision": float(precision[i]), "recall": float(recall[i]), "f1_score": float(f1[i]),
             "support": int((targets[:, i] == 1).sum())} for i in range(scores.shape[1])]


def confusion_matrix(scores, labels) -> np.ndarray:
    """``(C, C)`` counts: rows are true classes, columns predicted (``calculate_confusion_matrix``)."""
    scores = np.asarray(scores)
    num_classes = scores.shape[1]
    return np.bincount(num_classes * np.asarray(labels).astype(np.int64) + scores.argmax(axis=1),
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class(scores, labels, classes: list[str]) -> list[dict]:
    """Each class's precision, recall, F1 (percent) and support."""
    scores, labels = np.asarray(scores, dtype=np.float32), np.asarray(labels).astype(np.int64)
    precision, recall, f1 = _prf(scores, labels, 0.0)
    support = np.bincount(labels, minlength=scores.shape[1])
    return [{"index": i, "name": classes[i] if i < len(classes) else str(i), "precision": float(precision[i]),
             "recall": float(recall[i]), "f1_score": float(f1[i]), "support": int(support[i])}
            for i in range(scores.shape[1])]


def confusions(matrix: np.ndarray, classes: list[str], *, normalize: bool = False, limit: int = 20) -> list[dict]:
    """The off-diagonal cells, most confused first: true class, predicted class, count (and the fraction of the
    true class's samples when ``normalize``)."""
    rows = matrix.sum(1)
    cells = [(int(matrix[t, p]), t, p) for t in range(len(matrix)) for p in range(len(matrix)) if t != p and matrix[t, p]]
    cells.sort(key=lambda c: (-(c[0] / rows[c[1]]) if normalize else -c[0], c[1], c[2]))

    def name(i):
        return classes[i] if i < len(classes) else str(i)

    return [{"true": name(t), "predicted": name(p), "count": n, "fraction": n / rows[t] if rows[t] else 0.0}
            for n, t, p in cells[:limit]]


def best_and_worst(scores, labels, topn: int = 8) -> tuple[list[dict], list[dict]]:
    """The seed's ``analyze_results``: the correct predictions with the highest scores and the wrong ones with
    the highest scores (the model's surest mistakes), each ``{index, label, pred, score}``."""
    scores, labels = np.asarray(scores, dtype=np.float32), np.asarray(labels).astype(np.int64)
    pred, top = scores.argmax(axis=1), scores.max(axis=1)
    right, wrong = np.flatnonzero(pred == labels), np.flatnonzero(pred != labels)

    def rows(idx):
        idx = idx[np.argsort(-top[idx], kind="stable")][:topn]
        return [{"index": int(i), "label": int(labels[i]), "pred": int(pred[i]), "score": float(top[i])} for i in idx]

    return rows(right), rows(wrong)
