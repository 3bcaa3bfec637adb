"""What a spec's training does, by the engine's own rules: its length and the names of its val metrics.

The engine (``workers/engine/loop.py``, ``workers/evaluation/evaluate.py``) names its metrics and counts its
epochs with these functions, and ``jobspecs.contract.spec_facts`` tells the service the same facts before a
worker starts: one rule, so the service's checks (a sweep's metric, a run's best value) cannot drift from
what an evaluation really logs. Pure standard library.

Names are MMClassification 0.25's (``BaseDataset.evaluate``, ``MultiLabelDataset.evaluate``):
``accuracy_top-1``, ``accuracy_top-5``, ``support``, ``precision``, ``recall``, ``f1_score``, a
``_thr_0.50`` suffix per threshold when ``metric_options.thrs`` is a tuple; ``mAP``, ``CP`` ... ``OF1`` for a
multi-label dataset.
"""
from __future__ import annotations

ALLOWED_METRICS = ("accuracy", "precision", "recall", "f1_score", "support")
MULTILABEL_METRICS = ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")
DEFAULT_METRIC_OPTIONS = {"topk": (1, 5)}
_PRF = ("precision", "recall", "f1_score")


def accuracy_keys(topk) -> list[str]:
    """The accuracy keys of ``topk``: ``accuracy_top-<k>`` for a tuple (or list), plain ``accuracy`` for one k."""
    if isinstance(topk, (tuple, list)):
        return [f"accuracy_top-{k}" for k in topk]
    return ["accuracy"]


def threshold_key(key: str, thr: float) -> str:
    """The key of ``key`` at one of a tuple of thresholds (``precision_thr_0.50``)."""
    return f"{key}_thr_{thr:.2f}"


def metric_names(metric: str | list[str] | tuple[str, ...] = "accuracy", metric_options: dict | None = None) -> list[str]:
    """The keys one evaluation returns, in its order, for ``evaluation.metric`` and ``metric_options``.

    A list of multi-label metrics (``mAP``, ``CP``...) names a multi-label evaluation: ``mAP`` first, then the
    others in the spec's order. Otherwise accuracy keys, then ``support``, then precision, recall, f1_score.
    A name neither evaluation knows is kept as it is (the engine refuses it when it evaluates).
    """
    options = metric_options or DEFAULT_METRIC_OPTIONS
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if metrics and all(m in MULTILABEL_METRICS for m in metrics):
        ordered = (["mAP"] if "mAP" in metrics else []) + [m for m in metrics if m != "mAP"]
        return list(dict.fromkeys(ordered))
    topk = options.get("topk", DEFAULT_METRIC_OPTIONS["topk"])
    thrs = options.get("thrs")
    thrs = tuple(thrs) if isinstance(thrs, list) else thrs
    names: list[str] = []

    def add(key: str) -> None:
        names.extend([threshold_key(key, t) for t in thrs] if isinstance(thrs, tuple) else [key])

    if "accuracy" in metrics:
        for key in accuracy_keys(tuple(topk) if isinstance(topk, list) else topk):
            add(key)
    if "support" in metrics:
        names.append("support")
    for key in _PRF:
        if key in metrics:
            add(key)
    names += [m for m in dict.fromkeys(metrics) if m not in ALLOWED_METRICS]
    return names


def greater_is_better(key: str, rule: str | None = None) -> bool:
    """mmcv's ``EvalHook`` rule: ``rule`` when given (``'greater'`` / ``'less'``), else any key but a loss."""
    if rule is not None:
        return rule == "greater"
    return "loss" not in key.lower()


def runner_length(spec: dict) -> tuple[str, int]:
    """``('epoch', max_epochs)`` for an EpochBasedRunner, ``('iter', max_iters)`` for an IterBasedRunner.

    MMCls's legacy top-level ``total_epochs`` / ``total_iters`` count when the runner has no length of its own.

    Raises:
        ValueError: another runner type, or a length that is not a positive int.
        KeyError: a runner key the runner does not take.
    """
    runner = dict(spec.get("runner") or {"type": "EpochBasedRunner"})
    kind = runner.pop("type", "EpochBasedRunner")
    if kind == "IterBasedRunner":
        key, value = "max_iters", runner.pop("max_iters", spec.get("total_iters"))
    elif kind == "EpochBasedRunner":
        key, value = "max_epochs", runner.pop("max_epochs", spec.get("total_epochs"))
    else:
        raise ValueError(f"runner.type {kind!r} is not supported; use EpochBasedRunner or IterBasedRunner")
    if runner:
        raise KeyError(f"unknown runner keys {sorted(runner)}; {kind} takes {key}")
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"runner.{key} must be a positive int, got {value!r}")
    return ("iter" if kind == "IterBasedRunner" else "epoch"), value


__all__ = ["ALLOWED_METRICS", "DEFAULT_METRIC_OPTIONS", "MULTILABEL_METRICS", "accuracy_keys", "greater_is_better",
           "metric_names", "runner_length", "threshold_key"]
