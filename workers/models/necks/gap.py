"""GlobalAveragePooling neck (seed section 8.1.2)."""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.registry import MODELS

__all__ = ["GlobalAveragePooling"]


@MODELS.register()
class GlobalAveragePooling(nn.Module):
    """Average each feature map to one vector per sample; tuples are pooled element-wise.

    Args:
        dim: 1, 2 or 3 spatial dimensions.
    """

    def __init__(self, dim: int = 2):
        super().__init__()
        pools = {1: nn.AdaptiveAvgPool1d(1), 2: nn.AdaptiveAvgPool2d((1, 1)), 3: nn.AdaptiveAvgPool3d((1, 1, 1))}
        if dim not in pools:
            raise ValueError(f"GlobalAveragePooling dim must be 1, 2 or 3, got {dim}")
        self.gap = pools[dim]

    def forward(self, inputs):
        if isinstance(inputs, tuple):
            return tuple(self.gap(x).view(x.size(0), -1) for x in inputs)
        if isinstance(inputs, torch.Tensor):
            return self.gap(inputs).view(inputs.size(0), -1)
        raise TypeError("GlobalAveragePooling takes a tensor or a tuple of tensors")
