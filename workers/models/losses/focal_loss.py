"""FocalLoss: sigmoid focal loss for single- or multi-label scores.

Paper: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017 (https://arxiv.org/abs/1708.02002).
Definition and arguments follow MMClassification 0.25's ``focal_loss.py``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from workers.models.losses.utils import convert_to_one_hot, sample_weight, weight_reduce_loss
from workers.registry import MODELS

__all__ = ["FocalLoss", "sigmoid_focal_loss"]


def sigmoid_focal_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                       gamma: float = 2.0, alpha: float = 0.25, reduction: str = "mean",
                       avg_factor: float | None = None) -> torch.Tensor:
    """``alpha_t * (1 - p_t)^gamma * BCE(pred, target)`` element-wise, then weighted and reduced.

    Args:
        pred: Logits ``(N, C)``.
        target: Multi-hot (or soft) targets of the same shape.
        weight: Per-sample weights ``(N,)``.
        gamma: Focusing parameter.
        alpha: Weight of the positives (``1 - alpha`` for the negatives).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: Divisor of a ``'mean'`` instead of the element count.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} need the same shape")
    target = target.type_as(pred)
    prob = pred.sigmoid()
    one_minus_pt = (1 - prob) * target + prob * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * one_minus_pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    weight = sample_weight(weight, pred)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register()
class FocalLoss(nn.Module):
    """Sigmoid focal loss; class-index targets ``(N,)`` are one-hot encoded first.

    Args:
        gamma: Focusing parameter.
        alpha: Balance between positives and negatives.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: Factor on the loss.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float = 0.25,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ):
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        if reduction_override not in (None, "none", "mean", "sum"):
            raise ValueError(f"invalid reduction_override {reduction_override!r}")
        reduction = reduction_override or self.reduction
        if target.dim() == 1 or (target.dim() == 2 and target.shape[1] == 1):
            target = convert_to_one_hot(target.view(-1, 1), pred.shape[-1])
        return self.loss_weight * sigmoid_focal_loss(pred, target, weight, gamma=self.gamma, alpha=self.alpha,
                                                     reduction=reduction, avg_factor=avg_factor)
