"""MultiLabelDataset: one 0/1/-1 vector per image (1 present, 0 absent, -1 difficult) and its metrics."""

from __future__ import annotations

import numpy as np

from workers.data.datasets.base_dataset import BaseDataset

__all__ = ["MULTI_LABEL_METRICS", "MultiLabelDataset", "average_performance", "average_precision"]

MULTI_LABEL_METRICS = ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")


def average_precision(scores: np.ndarray, target: np.ndarray) -> float:
    """AP of one class as MMCls computes it: difficult (-1) samples count as neither hit nor miss."""
    order = np.argsort(-scores, kind="stable")
    sorted_target = target[order]
    positive = sorted_target == 1
    true_pos = np.cumsum(positive)
    counted = np.cumsum(sorted_target != -1)
    total_pos = true_pos[-1] if len(true_pos) else 0
    precision = np.where(positive, true_pos, 0) / np.maximum(counted, np.finfo(np.float64).eps)
    return float(precision.sum() / max(total_pos, np.finfo(np.float64).eps))


def average_performance(scores: np.ndarray, target: np.ndarray, thr: float | None = None,
                        k: int | None = None) -> dict[str, float]:
    """Per-class (C) and overall (O) precision, recall and F1 in percent, as MMCls's ``average_performance``.

    A class is predicted when its score is at least ``thr`` or, without ``thr``, among the ``k`` best;
    difficult (-1) labels count as absent.
    """
    if thr is None and k is None:
        thr = 0.5
    eps = np.finfo(np.float32).eps
    target = np.where(target == -1, 0, target)
    if thr is not None:
        predicted = scores >= thr
    else:
        predicted = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(predicted, np.argsort(-scores, axis=1)[:, :k], True, axis=1)
    tp = predicted & (target == 1)
    fp = predicted & (target != 1)
    fn = ~predicted & (target == 1)
    cp = float((tp.sum(0) / np.maximum(tp.sum(0) + fp.sum(0), eps)).mean() * 100)
    cr = float((tp.sum(0) / np.maximum(tp.sum(0) + fn.sum(0), eps)).mean() * 100)
    op = float(tp.sum() / max(tp.sum() + fp.sum(), eps) * 100)
    o_r = float(tp.sum() / max(tp.sum() + fn.sum(), eps) * 100)
    return {"CP": cp, "CR": cr, "CF1": 2 * cp * cr / max(cp + cr, eps),
            "OP": op, "OR": o_r, "OF1": 2 * op * o_r / max(op + o_r, eps)}


class MultiLabelDataset(BaseDataset):
    """Base of multi-label datasets: ``gt_label`` is an int8 vector over ``CLASSES``."""

    def get_cat_ids(self, idx: int) -> list[int]:
        """The classes present (label 1) in image ``idx``; difficult ones are left out."""
        return np.where(self.data_infos[idx]["gt_label"] == 1)[0].tolist()

    def get_gt_labels(self) -> np.ndarray:
        """All label vectors, ``(N, num_classes)`` int8."""
        return np.stack([info["gt_label"] for info in self.data_infos])

    def evaluate(self, results, metric: str | list[str] = "mAP", metric_options: dict | None = None,
                 indices=None) -> dict[str, float]:
        """Score per-class scores of every sample with ``mAP`` and/or ``CP``, ``CR``, ``CF1``, ``OP``, ``OR``,
        ``OF1`` (in percent).

        Args:
            results: Scores, one ``(num_classes,)`` array per sample, in dataset order.
            metric: A metric name or a list of them.
            metric_options: ``thr`` (default 0.5) or ``k`` (top-k) for the precision/recall metrics.
            indices: Evaluate only these samples (KFoldDataset).
        """
        metrics = [metric] if isinstance(metric, str) else list(metric)
        unsupported = [m for m in metrics if m not in MULTI_LABEL_METRICS]
        if unsupported:
            raise ValueError(f"metric {unsupported[0]} is not supported; use {', '.join(MULTI_LABEL_METRICS)}")
        options = dict(metric_options or {"thr": 0.5})
        gt_labels = self.get_gt_labels()
        if indices is not None:
            gt_labels = gt_labels[indices]
        scores = np.stack([np.asarray(r, dtype=np.float64) for r in results])
        if scores.shape != gt_labels.shape:
            raise ValueError(f"results {scores.shape} do not match the labels {gt_labels.shape}")
        out: dict[str, float] = {}
        if "mAP" in metrics:
            aps = [average_precision(scores[:, c], gt_labels[:, c]) for c in range(gt_labels.shape[1])]
            out["mAP"] = float(np.mean(aps) * 100.0)
        if set(metrics) - {"mAP"}:
            performance = average_performance(scores, gt_labels, options.get("thr"), options.get("k"))
            out.update({m: performance[m] for m in metrics if m != "mAP"})
        return out
