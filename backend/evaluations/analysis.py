"""What the evaluation page and ``GET /api/evaluations/<id>/analysis`` show of the stored predictions: the
metrics (re-scored with other metrics or options when asked, the seed's ``eval_metric``), the confusion matrix,
per-class precision/recall/F1/support and the best and worst predictions (the seed's ``analyze_results``).
A multi-label evaluation shows its metrics and each class's average precision, precision, recall and F1 (no
confusion matrix: a sample has several labels).
"""
from __future__ import annotations

import json

from backend.experiments.errors import Conflict, ServiceError

from . import results, scoring
from .models import Evaluation


def parse_request(metrics: str | None, metric_options: str | None) -> tuple[list[str] | None, dict | None]:
    """The query's ``metrics`` (comma-separated) and ``metric_options`` (JSON, or ``key=value`` pairs split by
    ``;`` as the CLI's ``--metric-options topk=1,5``); None where not given. Raises ``ServiceError``."""
    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    options = None
    if metric_options and metric_options.strip():
        text = metric_options.strip()
        if text.startswith("{"):
            try:
                options = json.loads(text)
            except ValueError as exc:
                raise ServiceError(f"metric_options is not valid JSON: {exc}",
                                   errors=[{"field": "metric_options"}]) from None
        else:
            options = {}
            for pair in filter(None, (p.strip() for p in text.split(";"))):
                key, sep, value = pair.partition("=")
                if not sep:
                    raise ServiceError(f"metric_options: {pair!r} is not key=value (e.g. topk=1,5; thrs=0.5)",
                                       errors=[{"field": "metric_options"}])
                options[key.strip()] = _value(value.strip())
        if not isinstance(options, dict):
            raise ServiceError("metric_options must be an object", errors=[{"field": "metric_options"}])
    return names, options


def _value(text: str):
    parts = [p.strip() for p in text.split(",") if p.strip()]
    values = [_number(p) for p in parts]
    return values if len(values) > 1 or text.endswith(",") else (values[0] if values else text)


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def analyse(evaluation: Evaluation, *, metrics=None, metric_options=None, normalize: bool = False,
            sort: str = "class", topn: int = 8) -> dict:
    """The analysis of a finished evaluation.

    Args:
        metrics, metric_options: Re-score with these (default: the evaluation's own).
        normalize: The confusion matrix as fractions of each true class (rows sum to 1).
        sort: ``class`` (dataset order) or ``confusion`` (the classes most often mistaken first).
        topn: How many best and worst predictions.

    Raises:
        ServiceError: no predictions (409), or metrics the scoring refuses (400).
    """
    try:
        pred = results.load(evaluation)
    except results.NoPredictions as exc:
        raise Conflict(f"The evaluation has no predictions to analyse yet ({evaluation.status}): {exc}",
                           errors=[{"field": "status", "message": evaluation.status}]) from None
    rescored = metrics is not None or metric_options is not None
    try:
        scored = scoring.evaluate(pred.scores, pred.labels,
                                  evaluation.metric_names if metrics is None else metrics,
                                  evaluation.metric_options if metric_options is None else metric_options)
    except scoring.ScoringError as err:
        raise ServiceError(str(err), errors=[{"field": "metrics", "message": str(err)}]) from None
    if pred.labels.ndim == 2:  # multi-label: no confusion matrix or single best guess to show
        return {"metrics": scored, "rescored": rescored, "num_samples": len(pred.index), "classes": pred.classes,
                "multi_label": True, "confusion_matrix": None, "top_confusions": [],
                "per_class": scoring.per_class_multilabel(pred.scores, pred.labels, pred.classes),
                "best": [], "worst": []}
    matrix = scoring.confusion_matrix(pred.scores, pred.labels)
    order = list(range(len(matrix)))
    if sort == "confusion":  # the classes with the most off-diagonal mass first (missed or wrongly predicted)
        off = matrix.sum(0) + matrix.sum(1) - 2 * matrix.diagonal()
        order.sort(key=lambda i: (-int(off[i]), i))
    elif sort != "class":
        raise ServiceError(f"sort must be 'class' or 'confusion', got {sort!r}", errors=[{"field": "sort"}])
    rows = matrix.sum(1, keepdims=True)
    shown = (matrix / rows.clip(min=1)) if normalize else matrix
    best, worst = scoring.best_and_worst(pred.scores, pred.labels, topn)
    for item in best + worst:
        item.update(label_name=pred.classes[item["label"]] if item["label"] < len(pred.classes) else str(item["label"]),
                    pred_name=pred.classes[item["pred"]] if item["pred"] < len(pred.classes) else str(item["pred"]),
                    file=pred.files[item["index"]])
    return {
        "metrics": scored, "rescored": rescored, "num_samples": len(pred.index), "classes": pred.classes,
        "multi_label": False, "confusion_matrix": {"order": order, "normalized": normalize,
                             "rows": [[float(shown[t, p]) if normalize else int(shown[t, p]) for p in order]
                                      for t in order]},
        "top_confusions": scoring.confusions(matrix, pred.classes, normalize=normalize),
        "per_class": scoring.per_class(pred.scores, pred.labels, pred.classes),
        "best": best, "worst": worst,
    }
