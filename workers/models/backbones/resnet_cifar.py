"""ResNet_CIFAR: ResNet with a 3x3 stride-1 stem and no max-pool, for 32x32 inputs.

Paper: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (https://arxiv.org/abs/1512.03385);
the stem change is MMClassification 0.25's ``resnet_cifar.py``, the example of seed section 8.1.1.
"""

from __future__ import annotations

import torch.nn as nn

from workers.models.backbones.resnet import ResNet
from workers.models.layers import build_norm_layer
from workers.registry import MODELS

__all__ = ["ResNet_CIFAR"]


@MODELS.register()
class ResNet_CIFAR(ResNet):  # noqa: N801 - the MMCls type name
    """ResNet whose stem keeps the resolution: conv 3x3 stride 1, norm, ReLU, no max-pool.

    Args:
        depth: 18, 34, 50, 101 or 152.
        deep_stem: Must stay ``False``.
        **kwargs: Every other :class:`ResNet` argument.
    """

    def __init__(self, depth: int, deep_stem: bool = False, **kwargs):
        if deep_stem:
            raise ValueError("ResNet_CIFAR does not support deep_stem")
        super().__init__(depth, deep_stem=False, **kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 3, stride=1, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.norm1(self.conv1(x)))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
