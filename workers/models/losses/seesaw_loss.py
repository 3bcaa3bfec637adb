"""SeesawLoss: softmax cross-entropy re-balanced for long-tailed classes.

Paper: Wang et al., "Seesaw Loss for Long-Tailed Instance Segmentation", CVPR 2021
(https://arxiv.org/abs/2008.10032). Definition and arguments follow MMClassification 0.25's
``seesaw_loss.py`` (itself from MMDetection): a mitigation factor lowers the penalty a rare class puts
on a frequent one, a compensation factor raises it again for misclassified samples.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from workers.models.losses.utils import weight_reduce_loss
from workers.registry import MODELS

__all__ = ["SeesawLoss", "seesaw_ce_loss"]


def seesaw_ce_loss(cls_score: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None,
                   cum_samples: torch.Tensor, num_classes: int, p: float, q: float, eps: float,
                   reduction: str = "mean", avg_factor: float | None = None) -> torch.Tensor:
    """Cross-entropy on ``cls_score + log(S) * (1 - one_hot)`` with the seesaw factors ``S``.

    Args:
        cls_score: Logits ``(N, C)``.
        labels: Class indices ``(N,)``.
        weight: Per-sample weights ``(N,)`` or ``None``.
        cum_samples: Samples seen so far per class ``(C,)``.
        num_classes: ``C``.
        p: Exponent of the mitigation factor ``(N_j / N_i)^p`` for ``N_j < N_i``.
        q: Exponent of the compensation factor ``(s_j / s_i)^q`` for ``s_j > s_i``.
        eps: Lower bound of the divisor ``s_i``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: Divisor of a ``'mean'`` instead of the element count.
    """
    if cls_score.size(-1) != num_classes or len(cum_samples) != num_classes:
        raise ValueError(f"scores with {cls_score.size(-1)} classes for a seesaw loss of {num_classes}")
    onehot = F.one_hot(labels.long(), num_classes)
    seesaw_weights = cls_score.new_ones(onehot.size())
    if p > 0:
        ratio = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(min=1)
        smaller = (ratio < 1.0).float()
        mitigation = ratio.pow(p) * smaller + (1 - smaller)
        seesaw_weights = seesaw_weights * mitigation[labels.long(), :]
    if q > 0:
        scores = F.softmax(cls_score.detach(), dim=1)
        self_scores = scores[torch.arange(len(scores), device=scores.device), labels.long()]
        score_ratio = scores / self_scores[:, None].clamp(min=eps)
        larger = (score_ratio > 1.0).float()
        seesaw_weights = seesaw_weights * (score_ratio.pow(q) * larger + (1 - larger))
    cls_score = cls_score + seesaw_weights.log() * (1 - onehot)
    loss = F.cross_entropy(cls_score, labels.long(), reduction="none")
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


@MODELS.register()
class SeesawLoss(nn.Module):
    """Seesaw loss; it counts the labels it sees in the ``cum_samples`` buffer (saved in checkpoints).

    Args:
        use_sigmoid: Only ``False`` (softmax) is supported, as in MMCls.
        p: Exponent of the mitigation factor.
        q: Exponent of the compensation factor.
        num_classes: Classes of the scores.
        eps: Lower bound of the compensation divisor.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: Factor on the loss.
    """

    def __init__(
        self,
        use_sigmoid: bool = False,
        p: float = 0.8,
        q: float = 2.0,
        num_classes: int = 1000,
        eps: float = 1e-2,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ):
        super().__init__()
        if use_sigmoid:
            raise ValueError("SeesawLoss does not support use_sigmoid=True")
        self.use_sigmoid = False
        self.p = p
        self.q = q
        self.num_classes = num_classes
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.register_buffer("cum_samples", torch.zeros(num_classes, dtype=torch.float))

    def forward(self, cls_score, labels, weight=None, avg_factor=None, reduction_override=None):
        if reduction_override not in (None, "none", "mean", "sum"):
            raise ValueError(f"invalid reduction_override {reduction_override!r}")
        if labels.dim() != 1 or cls_score.size(0) != labels.size(0):
            raise ValueError(f"SeesawLoss needs class indices of shape ({cls_score.size(0)},), "
                             f"got {list(labels.shape)}")
        if cls_score.size(-1) != self.num_classes:
            raise ValueError(f"The channel number of output ({cls_score.size(-1)}) does not match the "
                             f"`num_classes` of seesaw loss ({self.num_classes}).")
        reduction = reduction_override or self.reduction
        self.cum_samples += torch.bincount(labels.long(), minlength=self.num_classes).to(self.cum_samples)
        if weight is None:
            weight = labels.new_ones(labels.size(), dtype=torch.float)
        return self.loss_weight * seesaw_ce_loss(cls_score, labels, weight, self.cum_samples, self.num_classes,
                                                 self.p, self.q, self.eps, reduction, avg_factor)
