"""Classification metrics with MMClassification 0.25's names and definitions (``mmcls/core/evaluation``).

Values are percentages (0..100), as MMCls reports them.
"""

from __future__ import annotations

from numbers import Number

import numpy as np
import torch

__all__ = ["accuracy", "average_performance", "average_precision", "calculate_confusion_matrix", "f1_score", "mAP",
           "precision", "precision_recall_f1", "recall", "support"]


def _accuracy_numpy(pred: np.ndarray, target: np.ndarray, topk: tuple[int, ...], thrs: tuple[float, ...]):
    num = pred.shape[0]
    maxk = max(topk)
    # descending top-k labels and scores (argsort is stable, so ties keep the lower class first)
    pred_label = np.argsort(-pred, axis=1, kind="stable")[:, :maxk]
    pred_score = np.take_along_axis(pred, pred_label, axis=1)
    res = []
    for k in topk:
        correct_k = pred_label[:, :k] == target.reshape(-1, 1)
        res_thr = []
        for thr in thrs:
            _correct_k = correct_k & (pred_score[:, :k] > thr)
            res_thr.append(float(_correct_k.any(axis=1).sum()) * 100.0 / num)
        res.append(res_thr)
    return res


def _accuracy_torch(pred: torch.Tensor, target: torch.Tensor, topk: tuple[int, ...], thrs: tuple[float, ...]):
    num = pred.size(0)
    pred = pred.float()
    maxk = max(topk)
    pred_score, pred_label = pred.topk(maxk, dim=1)
    pred_score, pred_label = pred_score.t(), pred_label.t()
    correct = pred_label.eq(target.view(1, -1).expand_as(pred_label))
    res = []
    for k in topk:
        res_thr = []
        for thr in thrs:
            _correct = correct & (pred_score > thr)
            correct_k = _correct[:k].reshape(-1).float().sum(0, keepdim=True)
            res_thr.append(correct_k.mul_(100.0 / num))
        res.append(res_thr)
    return res


def accuracy(pred, target, topk: int | tuple[int, ...] = 1, thrs: float | tuple[float, ...] = 0.0):
    """Top-k accuracy in percent.

    A sample counts as correct when its label is among the ``k`` highest scores and that score is
    above ``thr``. A ``k`` larger than the number of classes is clipped to it.

    Args:
        pred: Scores ``(N, C)``, a tensor or an array.
        target: Labels ``(N,)`` of the same kind.
        topk: One ``k`` or a tuple of them.
        thrs: One score threshold or a tuple of them.

    Returns:
        For an int ``topk`` and a number ``thrs``: one value (a 1-element tensor for tensor inputs, a
        float for arrays). Tuples give a list over ``topk``, and a tuple ``thrs`` a list over ``thrs``
        inside each.
    """
    if isinstance(topk, int):
        topks, return_single = (topk,), True
    elif isinstance(topk, tuple):
        topks, return_single = topk, False
    else:
        raise TypeError(f"topk must be an int or a tuple, got {type(topk).__name__}")
    if isinstance(thrs, Number):
        thrs_t, single_thr = (float(thrs),), True
    elif isinstance(thrs, tuple):
        thrs_t, single_thr = thrs, False
    else:
        raise TypeError(f"thrs must be a number or a tuple, got {type(thrs).__name__}")
    num_classes = pred.shape[1]
    clipped = tuple(min(k, num_classes) for k in topks)
    if isinstance(pred, torch.Tensor) and isinstance(target, torch.Tensor):
        res = _accuracy_torch(pred, target, clipped, thrs_t)
    elif isinstance(pred, np.ndarray) and isinstance(target, np.ndarray):
        res = _accuracy_numpy(pred, target, clipped, thrs_t)
    else:
        raise TypeError(f"pred and target should both be torch.Tensor or np.ndarray, "
                        f"got {type(pred).__name__} and {type(target).__name__}")
    if single_thr:
        res = [r[0] for r in res]
    return res[0] if return_single else res


def calculate_confusion_matrix(pred, target) -> torch.Tensor:
    """Confusion matrix ``(C, C)``: rows are targets, columns predictions."""
    pred = torch.as_tensor(np.asarray(pred)) if isinstance(pred, np.ndarray) else pred
    target = torch.as_tensor(np.asarray(target)) if isinstance(target, np.ndarray) else target
    num_classes = pred.size(1)
    pred_label = torch.argmax(pred, dim=1).flatten()
    target_label = target.flatten().long()
    indices = num_classes * target_label + pred_label
    matrix = torch.bincount(indices, minlength=num_classes**2)
    return matrix.reshape(num_classes, num_classes)


def precision_recall_f1(pred, target, average_mode: str = "macro", thrs: float | tuple = 0.0):
    """Precision, recall and F1 in percent, ``'macro'``-averaged over classes or per class (``'none'``).

    A prediction is the arg-max class, counted only when its score is above ``thr``.

    Returns:
        ``(precision, recall, f1)``; with a tuple ``thrs`` each is a list over the thresholds.
    """
    if average_mode not in ("macro", "none"):
        raise ValueError(f"Unsupport type of averaging {average_mode}.")
    pred = torch.as_tensor(np.asarray(pred)) if isinstance(pred, np.ndarray) else pred
    target = torch.as_tensor(np.asarray(target)) if isinstance(target, np.ndarray) else target
    pred = pred.float()
    thrs_t = (thrs,) if isinstance(thrs, Number) else tuple(thrs)
    num_classes = pred.size(1)
    pred_score, pred_label = pred.topk(1, dim=1)
    pred_score, pred_label = pred_score.flatten(), pred_label.flatten()
    gt_positive = torch.nn.functional.one_hot(target.flatten().long(), num_classes)
    precisions, recalls, f1s = [], [], []
    for thr in thrs_t:
        pred_positive = torch.nn.functional.one_hot(pred_label, num_classes)
        pred_positive[pred_score <= thr] = 0
        class_correct = (pred_positive & gt_positive).sum(0)
        precision = class_correct / torch.clamp(pred_positive.sum(0), min=1) * 100
        recall = class_correct / torch.clamp(gt_positive.sum(0), min=1) * 100
        f1 = 2 * precision * recall / torch.clamp(precision + recall, min=torch.finfo(torch.float32).eps)
        if average_mode == "macro":
            precision, recall, f1 = float(precision.mean()), float(recall.mean()), float(f1.mean())
        else:
            precision, recall, f1 = precision.numpy(), recall.numpy(), f1.numpy()
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(f1)
    if isinstance(thrs, Number):
        return precisions[0], recalls[0], f1s[0]
    return precisions, recalls, f1s


def precision(pred, target, average_mode: str = "macro", thrs: float | tuple = 0.0):
    """Precision in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(pred, target, average_mode, thrs)[0]


def recall(pred, target, average_mode: str = "macro", thrs: float | tuple = 0.0):
    """Recall in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(pred, target, average_mode, thrs)[1]


def f1_score(pred, target, average_mode: str = "macro", thrs: float | tuple = 0.0):
    """F1 score in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(pred, target, average_mode, thrs)[2]


def _to_numpy_pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(pred, torch.Tensor) and isinstance(target, torch.Tensor):
        return pred.detach().cpu().numpy(), target.detach().cpu().numpy()
    if isinstance(pred, np.ndarray) and isinstance(target, np.ndarray):
        return pred, target
    raise TypeError("pred and target should both be torch.Tensor or np.ndarray.")


def average_precision(pred: np.ndarray, target: np.ndarray) -> float:
    """Average precision of one class (MMCls's ``mean_ap.average_precision``, a fraction 0..1).

    Args:
        pred: Scores ``(N,)``.
        target: ``1`` positive, ``0`` negative, ``-1`` difficult (ignored in the ranking's counts).

    Returns:
        The mean, over the positives, of the precision at each positive's rank.
    """
    eps = np.finfo(np.float32).eps
    sort_inds = np.argsort(-pred)  # MMCls's (unstable) default sort; ties are rare in real scores
    sort_target = target[sort_inds]
    pos_inds = sort_target == 1
    tp = np.cumsum(pos_inds)
    total_pos = tp[-1]
    pn = np.cumsum(sort_target != -1)
    tp[np.logical_not(pos_inds)] = 0
    return float(np.sum(tp / np.maximum(pn, eps)) / np.maximum(total_pos, eps))


def mAP(pred, target) -> float:  # noqa: N802 - MMCls's name
    """Mean of the classes' average precision, in percent (multi-label).

    Args:
        pred: Scores ``(N, C)``, a tensor or an array.
        target: ``(N, C)`` of 1 / 0 / -1 (difficult), of the same kind.
    """
    pred, target = _to_numpy_pair(pred, target)
    if pred.shape != target.shape:
        raise ValueError("pred and target should be in the same shape.")
    ap = np.array([average_precision(pred[:, k], target[:, k]) for k in range(pred.shape[1])])
    return float(ap.mean() * 100.0)


def average_performance(pred, target, thr: float | None = None, k: int | None = None):
    """Multi-label CP, CR, CF1 (per-class precision, recall, F1 averaged over classes) and OP, OR, OF1
    (over all labels), in percent, as MMCls's ``average_performance``.

    A label is predicted positive when its score is ``>= thr``, or when it is among the ``k`` highest
    of its sample; ``thr`` wins when both are given, ``thr=0.5`` when neither (with a warning).
    Difficult labels (-1) count as negatives.

    Returns:
        ``(CP, CR, CF1, OP, OR, OF1)``.
    """
    import warnings

    pred, target = _to_numpy_pair(pred, target)
    if thr is None and k is None:
        thr = 0.5
        warnings.warn("Neither thr nor k is given, set thr as 0.5 by default.", stacklevel=2)
    elif thr is not None and k is not None:
        warnings.warn("Both thr and k are given, use threshold in favor of top-k.", stacklevel=2)
    if pred.shape != target.shape:
        raise ValueError("pred and target should be in the same shape.")
    eps = np.finfo(np.float32).eps
    target = np.where(target == -1, 0, target)  # MMCls edits the caller's array here; we copy
    if thr is not None:
        pos_inds = (pred >= thr).astype(pred.dtype)
    else:
        top = np.argsort(-pred, axis=1)[:, :k]
        pos_inds = np.zeros_like(pred)
        pos_inds[np.indices(top.shape)[0], top] = 1
    tp = (pos_inds * target) == 1
    fp = (pos_inds * (1 - target)) == 1
    fn = ((1 - pos_inds) * target) == 1
    precision_class = tp.sum(axis=0) / np.maximum(tp.sum(axis=0) + fp.sum(axis=0), eps)
    recall_class = tp.sum(axis=0) / np.maximum(tp.sum(axis=0) + fn.sum(axis=0), eps)
    cp = precision_class.mean() * 100.0
    cr = recall_class.mean() * 100.0
    cf1 = 2 * cp * cr / np.maximum(cp + cr, eps)
    op = tp.sum() / np.maximum(tp.sum() + fp.sum(), eps) * 100.0
    o_r = tp.sum() / np.maximum(tp.sum() + fn.sum(), eps) * 100.0
    of1 = 2 * op * o_r / np.maximum(op + o_r, eps)
    return float(cp), float(cr), float(cf1), float(op), float(o_r), float(of1)


def support(pred, target, average_mode: str = "macro"):
    """Samples per class; ``'macro'`` gives their sum."""
    confusion = calculate_confusion_matrix(pred, target)
    res = confusion.sum(1)
    if average_mode == "macro":
        return float(res.sum())
    if average_mode == "none":
        return res.numpy()
    raise ValueError(f"Unsupport type of averaging {average_mode}.")
