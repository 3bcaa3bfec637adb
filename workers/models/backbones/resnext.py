"""ResNeXt backbone: ResNet whose bottleneck 3x3 conv is grouped (cardinality x width).

Paper: Xie et al., "Aggregated Residual Transformations for Deep Neural Networks", CVPR 2017
(https://arxiv.org/abs/1611.05431).

A subclass of this project's :class:`~workers.models.backbones.resnet.ResNet` with MMClassification 0.25's
arguments (``groups``, ``width_per_group``) and parameter names (``layerN.M.conv2`` grouped), so MMCls
ResNeXt checkpoints load unchanged; torchvision's/timm's ResNeXt lack MMCls's stem and stage arguments,
as for ResNet.
"""

from __future__ import annotations

import torch.nn as nn

from workers.models.backbones.resnet import Bottleneck as _Bottleneck
from workers.models.backbones.resnet import ResLayer, ResNet
from workers.models.layers import build_norm_layer
from workers.registry import MODELS

__all__ = ["ResNeXt", "ResNeXtBottleneck", "grouped_mid_channels", "resnext_tiny"]


def grouped_mid_channels(mid_channels: int, groups: int, width_per_group: int, base_channels: int) -> int:
    """The middle width of a ResNeXt block: ``groups * width_per_group`` scaled with the stage.

    ResNet's middle channels double with each stage (``base_channels`` in the first); ResNeXt keeps that
    ratio, so stage ``i`` has ``groups * width_per_group * 2**i`` middle channels.
    """
    if groups == 1:
        return mid_channels
    if mid_channels % base_channels:
        raise ValueError(f"mid_channels {mid_channels} must be a multiple of base_channels {base_channels}")
    return groups * width_per_group * mid_channels // base_channels


def rebuild_bottleneck_convs(block: _Bottleneck, mid_channels: int, groups: int) -> None:
    """Rebuild a Bottleneck's convs and norms for ``mid_channels`` with a grouped 3x3 conv (MMCls's way)."""
    block.mid_channels = mid_channels
    block.norm1_name, norm1 = build_norm_layer(block.norm_cfg, mid_channels, postfix=1)
    block.norm2_name, norm2 = build_norm_layer(block.norm_cfg, mid_channels, postfix=2)
    block.conv1 = nn.Conv2d(block.in_channels, mid_channels, 1, stride=block.conv1_stride, bias=False)
    block.add_module(block.norm1_name, norm1)
    block.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=block.conv2_stride, padding=block.dilation,
                            dilation=block.dilation, groups=groups, bias=False)
    block.add_module(block.norm2_name, norm2)
    block.conv3 = nn.Conv2d(mid_channels, block.out_channels, 1, bias=False)


class ResNeXtBottleneck(_Bottleneck):
    """Bottleneck with ``groups`` groups of ``width_per_group`` channels (per first-stage width) in conv2.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        base_channels: Middle channels of the first stage of a plain ResNet (64).
        groups: Groups of conv2 (the cardinality, 32 in "32x4d").
        width_per_group: Channels per group in the first stage (4 in "32x4d").
        **kwargs: Every other :class:`~workers.models.backbones.resnet.Bottleneck` argument.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int = 64,
        groups: int = 32,
        width_per_group: int = 4,
        **kwargs,
    ):
        super().__init__(in_channels, out_channels, **kwargs)
        self.groups = groups
        self.width_per_group = width_per_group
        if groups != 1:
            mid = grouped_mid_channels(self.mid_channels, groups, width_per_group, base_channels)
            rebuild_bottleneck_convs(self, mid, groups)


@MODELS.register()
class ResNeXt(ResNet):
    """ResNeXt-50/101/152 (MMCls ``type='ResNeXt'``).

    Args:
        depth: 50, 101 or 152.
        groups: Groups of each bottleneck's 3x3 conv.
        width_per_group: Width of a group in the first stage.
        **kwargs: Every other :class:`~workers.models.backbones.resnet.ResNet` argument.
    """

    arch_settings = {
        50: (ResNeXtBottleneck, (3, 4, 6, 3)),
        101: (ResNeXtBottleneck, (3, 4, 23, 3)),
        152: (ResNeXtBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, groups: int = 32, width_per_group: int = 4, **kwargs):
        self.groups = groups
        self.width_per_group = width_per_group
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        return ResLayer(groups=self.groups, width_per_group=self.width_per_group,
                        base_channels=self.base_channels, **kwargs)


def resnext_tiny(**kwargs) -> ResNeXt:
    """A ResNeXt-50 with 4 groups of 2 channels over 8 base channels, for tests."""
    for key, value in {"stem_channels": 8, "base_channels": 8, "groups": 4, "width_per_group": 2}.items():
        kwargs.setdefault(key, value)
    return ResNeXt(depth=50, **kwargs)
