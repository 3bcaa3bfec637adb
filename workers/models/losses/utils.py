"""Reduction helpers shared by the losses (MMClassification 0.25 ``losses/utils.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss with ``'none'``, ``'mean'`` or ``'sum'``."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def weight_reduce_loss(loss: torch.Tensor, weight: torch.Tensor | None = None, reduction: str = "mean",
                       avg_factor: float | None = None) -> torch.Tensor:
    """Weight an element-wise loss, then reduce it; ``avg_factor`` replaces the element count of a mean."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == "mean":
        return loss.sum() / avg_factor
    if reduction != "none":
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def sample_weight(weight: torch.Tensor | None, pred: torch.Tensor) -> torch.Tensor | None:
    """A per-sample ``(N,)`` weight shaped to broadcast over an element-wise ``(N, C)`` loss."""
    if weight is None:
        return None
    weight = weight.float()
    return weight.reshape(-1, 1) if pred.dim() > 1 else weight


def convert_to_one_hot(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(N,)`` or ``(N, 1)`` class indices to ``(N, num_classes)`` one-hot integers."""
    return F.one_hot(targets.view(-1).long(), num_classes)
