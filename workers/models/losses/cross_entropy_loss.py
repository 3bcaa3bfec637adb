"""CrossEntropyLoss: softmax cross-entropy with hard or soft targets, or sigmoid binary cross-entropy.

Definitions and arguments follow MMClassification 0.25's ``cross_entropy_loss.py``.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from workers.models.losses.utils import convert_to_one_hot, sample_weight, weight_reduce_loss
from workers.registry import MODELS

__all__ = ["CrossEntropyLoss", "binary_cross_entropy", "cross_entropy", "soft_cross_entropy"]


def cross_entropy(pred, label, weight=None, reduction="mean", avg_factor=None, class_weight=None):
    """Softmax cross-entropy with class-index targets."""
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction="none")
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def soft_cross_entropy(pred, label, weight=None, reduction="mean", avg_factor=None, class_weight=None):
    """Cross-entropy with soft (probability) targets of shape ``(N, C)``."""
    loss = -label * F.log_softmax(pred, dim=-1)
    if class_weight is not None:
        loss = loss * class_weight
    loss = loss.sum(dim=-1)
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def binary_cross_entropy(pred, label, weight=None, reduction="mean", avg_factor=None, class_weight=None,
                         pos_weight=None):
    """Sigmoid binary cross-entropy with ``(N, C)`` targets (multi-hot or soft)."""
    if pred.dim() != label.dim():
        raise ValueError(f"pred {tuple(pred.shape)} and label {tuple(label.shape)} need the same rank")
    if class_weight is not None:
        class_weight = class_weight.repeat(pred.size(0), 1)
    loss = F.binary_cross_entropy_with_logits(pred, label.float(), weight=class_weight,
                                              pos_weight=pos_weight, reduction="none")
    weight = sample_weight(weight, pred)
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


@MODELS.register()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss.

    Args:
        use_sigmoid: Sigmoid binary cross-entropy (multi-label); class indices are one-hot encoded.
        use_soft: Soft targets ``(N, C)`` (mixup, label smoothing).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: Factor on the loss.
        class_weight: Per-class weights, or ``None``.
        pos_weight: Positive-class weights for the sigmoid variant.
    """

    def __init__(
        self,
        use_sigmoid: bool = False,
        use_soft: bool = False,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        class_weight: list[float] | None = None,
        pos_weight: list[float] | None = None,
    ):
        super().__init__()
        if use_sigmoid and use_soft:
            raise ValueError("use_sigmoid and use_soft could not be set simultaneously")
        self.use_sigmoid = use_sigmoid
        self.use_soft = use_soft
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_weight = class_weight
        self.pos_weight = pos_weight
        if use_sigmoid:
            self.cls_criterion = binary_cross_entropy
        elif use_soft:
            self.cls_criterion = soft_cross_entropy
        else:
            self.cls_criterion = cross_entropy

    def forward(self, cls_score, label, weight=None, avg_factor=None, reduction_override=None, **kwargs):
        if reduction_override not in (None, "none", "mean", "sum"):
            raise ValueError(f"invalid reduction_override {reduction_override!r}")
        reduction = reduction_override or self.reduction
        if self.class_weight is not None:
            kwargs["class_weight"] = cls_score.new_tensor(self.class_weight)
        if self.use_sigmoid:
            if label.dim() == 1:
                label = convert_to_one_hot(label, cls_score.size(-1))
            if self.pos_weight is not None:
                kwargs["pos_weight"] = cls_score.new_tensor(self.pos_weight)
        elif not self.use_soft and label.dim() == 2 and label.size(1) == cls_score.size(1) > 1:
            # a soft target given to a hard-label loss: treat it as soft instead of failing
            return self.loss_weight * soft_cross_entropy(cls_score, label, weight, reduction=reduction,
                                                         avg_factor=avg_factor, **kwargs)
        return self.loss_weight * self.cls_criterion(cls_score, label, weight, reduction=reduction,
                                                     avg_factor=avg_factor, **kwargs)
