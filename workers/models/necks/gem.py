"""GeM neck: generalized-mean pooling.

Paper: Radenović et al., "Fine-tuning CNN Image Retrieval with No Human Annotation", TPAMI 2018
(https://arxiv.org/abs/1711.02512). Arguments follow MMClassification 0.25's ``necks/gem.py``
(registered there as ``GeM``); the learnable exponent is the parameter ``p``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from workers.registry import MODELS

__all__ = ["GeneralizedMeanPooling", "gem"]


def gem(x: torch.Tensor, p: torch.Tensor, eps: float = 1e-6, clamp: bool = True) -> torch.Tensor:
    """``(mean over H, W of x^p)^(1/p)`` per channel, ``(N, C, 1, 1)``."""
    if clamp:
        x = x.clamp(min=eps)
    return F.avg_pool2d(x.pow(p), (x.size(-2), x.size(-1))).pow(1.0 / p)


@MODELS.register("GeM")
class GeneralizedMeanPooling(nn.Module):
    """Pool each feature map to one vector with a generalized mean; tuples are pooled element-wise.

    ``p = 1`` is average pooling, ``p -> inf`` max pooling.

    Args:
        p: Initial exponent, at least 1.
        eps: Lower clamp of the inputs (the power of a negative number is undefined).
        clamp: Clamp the inputs to ``eps`` first.
        p_trainable: Learn ``p`` (a parameter either way, so checkpoints keep it).
    """

    def __init__(
        self,
        p: float = 3.0,
        eps: float = 1e-6,
        clamp: bool = True,
        p_trainable: bool = True,
    ):
        super().__init__()
        if p < 1:
            raise ValueError(f"'p' must be a value greater than 1, got {p}")
        self.p = nn.Parameter(torch.ones(1) * p, requires_grad=p_trainable)
        self.eps = eps
        self.clamp = clamp

    def forward(self, inputs):
        if isinstance(inputs, tuple):
            return tuple(gem(x, self.p, self.eps, self.clamp).view(x.size(0), -1) for x in inputs)
        if isinstance(inputs, torch.Tensor):
            return gem(inputs, self.p, self.eps, self.clamp).view(inputs.size(0), -1)
        raise TypeError("GeM takes a tensor or a tuple of tensors")
