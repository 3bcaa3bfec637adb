"""MultiLabelDataset: one 0/1/-1 vector per image (1 present, 0 absent, -1 difficult) and its metrics."""

from __future__ import annotations

import numpy as np

from workers.data.datasets.base_dataset import BaseDataset

__all__ = ["MULTI_LABEL_METRICS", "MultiLabelDataset"]

MULTI_LABEL_METRICS = ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")


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
        from workers.evaluation import evaluate_multilabel

        gt_labels = self.get_gt_labels()
        if indices is not None:
            gt_labels = gt_labels[indices]
        scores = np.stack([np.asarray(r, dtype=np.float64) for r in results])
        if scores.shape != gt_labels.shape:
            raise ValueError(f"results {scores.shape} do not match the labels {gt_labels.shape}")
        return evaluate_multilabel(scores, gt_labels, metric, metric_options)
