"""AsymmetricLoss (ASL) for multi-label classification.

Paper: Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021
(https://arxiv.org/abs/2009.14119). Definition and arguments follow MMClassification 0.25's
``asymmetric_loss.py``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from workers.models.losses.utils import convert_to_one_hot, sample_weight, weight_reduce_loss
from workers.registry import MODELS

__all__ = ["AsymmetricLoss", "asymmetric_loss"]


def asymmetric_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                    gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float | None = 0.05,
                    reduction: str = "mean", avg_factor: float | None = None, use_sigmoid: bool = True,
                    eps: float = 1e-8) -> torch.Tensor:
    """``-(1 - p_t)^gamma * log(p_t)`` with a probability margin ``clip`` shifting the negatives.

    For a positive ``p_t = p``; for a negative ``p_t = min(1 - p + clip, 1)``, so easy negatives
    (``p < clip``) contribute nothing. ``gamma`` is ``gamma_pos`` on positives, ``gamma_neg`` on negatives.

    Args:
        pred: Logits ``(N, C)``.
        target: Multi-hot targets of the same shape.
        weight: Per-sample weights ``(N,)``.
        gamma_pos: Focusing parameter of the positives.
        gamma_neg: Focusing parameter of the negatives.
        clip: Probability margin (``None`` or 0: none).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: Divisor of a ``'mean'`` instead of the element count.
        use_sigmoid: Sigmoid probabilities (else softmax over classes).
        eps: Lower bound of the argument of the log.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} need the same shape")
    prob = pred.sigmoid() if use_sigmoid else F.softmax(pred, dim=-1)
    target = target.type_as(pred)
    if clip and clip > 0:
        pt = (1 - prob + clip).clamp(max=1) * (1 - target) + prob * target
    else:
        pt = (1 - prob) * (1 - target) + prob * target
    asymmetric_weight = (1 - pt).pow(gamma_pos * target + gamma_neg * (1 - target))
    loss = -torch.log(pt.clamp(min=eps)) * asymmetric_weight
    weight = sample_weight(weight, pred)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register()
class AsymmetricLoss(nn.Module):
    """Asymmetric loss; class-index targets ``(N,)`` are one-hot encoded first.

    Args:
        gamma_pos: Focusing parameter of the positives.
        gamma_neg: Focusing parameter of the negatives (usually ``> gamma_pos``).
        clip: Probability margin.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: Factor on the loss.
        use_sigmoid: Sigmoid (multi-label) or softmax probabilities.
        eps: Lower bound of the argument of the log.
    """

    def __init__(
        self,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        use_sigmoid: bool = True,
        eps: float = 1e-8,
    ):
        super().__init__()
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.use_sigmoid = use_sigmoid
        self.eps = eps

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        if reduction_override not in (None, "none", "mean", "sum"):
            raise ValueError(f"invalid reduction_override {reduction_override!r}")
        reduction = reduction_override or self.reduction
        if target.dim() == 1 or (target.dim() == 2 and target.shape[1] == 1):
            target = convert_to_one_hot(target.view(-1, 1), pred.shape[-1])
        return self.loss_weight * asymmetric_loss(
            pred, target, weight, gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg, clip=self.clip,
            reduction=reduction, avg_factor=avg_factor, use_sigmoid=self.use_sigmoid, eps=self.eps)
