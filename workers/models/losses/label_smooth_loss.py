"""LabelSmoothLoss: cross-entropy against smoothed one-hot targets.

Paper: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016
(https://arxiv.org/abs/1512.00567). Modes follow MMClassification 0.25's ``label_smooth_loss.py``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.models.losses.cross_entropy_loss import CrossEntropyLoss
from workers.models.losses.utils import convert_to_one_hot
from workers.registry import MODELS

__all__ = ["LabelSmoothLoss"]


@MODELS.register()
class LabelSmoothLoss(nn.Module):
    """Label-smoothed cross-entropy.

    With ``mode='original'`` the target is ``(1 - eps) * one_hot + eps / num_classes``;
    ``'classy_vision'`` uses ``eps / (1 + eps)`` in place of ``eps``; ``'multi_label'`` smooths
    multi-hot targets to ``eps`` / ``1 - eps`` and uses the sigmoid loss.

    Args:
        label_smooth_val: The smoothing ``eps``, in [0, 1).
        num_classes: Classes (default: taken from the scores).
        mode: ``'original'``, ``'classy_vision'`` or ``'multi_label'``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: Factor on the loss.
    """

    def __init__(
        self,
        label_smooth_val: float,
        num_classes: int | None = None,
        mode: str = "original",
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ):
        super().__init__()
        if not 0 <= label_smooth_val < 1:
            raise ValueError(f"label_smooth_val must be in [0, 1), got {label_smooth_val}")
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        if mode not in ("original", "classy_vision", "multi_label"):
            raise ValueError(f"mode must be 'original', 'classy_vision' or 'multi_label', got {mode!r}")
        self.num_classes = num_classes
        self.loss_weight = loss_weight
        self.label_smooth_val = label_smooth_val
        self.reduction = reduction
        self.mode = mode
        self._eps = label_smooth_val / (1 + label_smooth_val) if mode == "classy_vision" else label_smooth_val
        self.ce = CrossEntropyLoss(use_sigmoid=True) if mode == "multi_label" else CrossEntropyLoss(use_soft=True)

    def smooth_label(self, one_hot_like: torch.Tensor) -> torch.Tensor:
        """Smooth a one-hot (or multi-hot) ``(N, C)`` target."""
        if self.mode == "multi_label":
            smooth = torch.full_like(one_hot_like, self._eps)
            smooth.masked_fill_(one_hot_like > 0, 1 - self._eps)
            return smooth
        return one_hot_like * (1 - self._eps) + self._eps / self.num_classes

    def forward(self, cls_score, label, weight=None, avg_factor=None, reduction_override=None, **kwargs):
        num_classes = cls_score.shape[1]
        if self.num_classes is None:
            self.num_classes = num_classes
        elif self.num_classes != num_classes:
            raise ValueError(f"num_classes={self.num_classes} but the scores have {num_classes} classes")
        if label.dim() == 1 or (label.dim() == 2 and label.shape[1] == 1):
            label = convert_to_one_hot(label, num_classes)
        smoothed = self.smooth_label(label.float())
        return self.loss_weight * self.ce(cls_score, smoothed, weight=weight, avg_factor=avg_factor,
                                          reduction_override=reduction_override or self.reduction, **kwargs)
