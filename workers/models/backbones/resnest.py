"""ResNeSt backbone: ResNet-D whose bottleneck 3x3 conv is a split-attention conv.

Paper: Zhang et al., "ResNeSt: Split-Attention Networks", CVPR-W 2022 (https://arxiv.org/abs/2004.08955).

A subclass of this project's ResNetV1D with MMClassification 0.25's arguments (``radix``,
``reduction_factor``, ``avg_down_stride``, ``groups``, ``width_per_group``) and parameter names
(``layerN.M.conv2.conv`` / ``bn0`` / ``fc1`` / ``bn1`` / ``fc2``, ``avd_layer``, the deep ``stem.N.conv``),
so MMCls ResNeSt checkpoints load unchanged. timm's ResNeSt has the same split-attention block but names
it ``conv2.conv`` / ``bn0`` / ``fc1`` / ``bn1`` / ``fc2`` inside timm's ResNet, whose stem is
``conv1.0`` / ``bn1`` rather than MMCls's ``stem.N.conv`` / ``stem.N.bn``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

from workers.models.backbones.resnet import Bottleneck, ResLayer, ResNetV1D
from workers.models.backbones.resnext import grouped_mid_channels
from workers.models.layers import build_norm_layer
from workers.registry import MODELS

__all__ = ["RSoftmax", "ResNeSt", "ResNeStBottleneck", "SplitAttentionConv2d", "resnest_tiny"]


class RSoftmax(nn.Module):
    """Softmax over the radix splits of each group (sigmoid when ``radix == 1``).

    Args:
        radix: Splits per group.
        groups: Groups.
    """

    def __init__(self, radix: int, groups: int):
        super().__init__()
        self.radix = radix
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        if self.radix > 1:
            x = x.view(batch, self.groups, self.radix, -1).transpose(1, 2)
            return F.softmax(x, dim=1).reshape(batch, -1)
        return torch.sigmoid(x)


class SplitAttentionConv2d(nn.Module):
    """A grouped conv producing ``radix`` splits, weighted by an attention computed from their sum.

    Args:
        in_channels: Input channels.
        channels: Output channels.
        kernel_size: Kernel size of the conv.
        stride: Stride.
        padding: Padding.
        dilation: Dilation.
        groups: Groups (cardinality).
        radix: Splits per group.
        reduction_factor: The attention's hidden width is ``max(in_channels * radix // reduction_factor, 32)``.
        norm_cfg: Norm layer config.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        radix: int = 2,
        reduction_factor: int = 4,
        norm_cfg: dict | None = None,
    ):
        super().__init__()
        norm_cfg = norm_cfg or {"type": "BN"}
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix = radix
        self.groups = groups
        self.channels = channels
        self.conv = nn.Conv2d(in_channels, channels * radix, kernel_size, stride=stride, padding=padding,
                              dilation=dilation, groups=groups * radix, bias=False)
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix, postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, inter_channels, 1, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = nn.Conv2d(inter_channels, channels * radix, 1, groups=groups)
        self.rsoftmax = RSoftmax(radix, groups)

    @property
    def norm0(self) -> nn.Module:
        return getattr(self, self.norm0_name)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm0(self.conv(x)))
        batch = x.shape[0]
        if self.radix > 1:
            splits = x.view(batch, self.radix, -1, *x.shape[2:])
            gap = splits.sum(dim=1)
        else:
            gap = x
        gap = self.relu(self.norm1(self.fc1(F.adaptive_avg_pool2d(gap, 1))))
        atten = self.rsoftmax(self.fc2(gap)).view(batch, -1, 1, 1)
        if self.radix > 1:
            out = torch.sum(atten.view(batch, self.radix, -1, 1, 1) * splits, dim=1)
        else:
            out = atten * x
        return out.contiguous()


class ResNeStBottleneck(Bottleneck):
    """Bottleneck whose 3x3 conv is a :class:`SplitAttentionConv2d`, strided by an average pool after it.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        groups: Groups of the split-attention conv.
        width_per_group: Width of a group in the first stage (used when ``groups > 1``).
        base_channels: Middle channels of the first stage of a plain ResNet (64).
        radix: Splits per group.
        reduction_factor: Attention width reduction.
        avg_down_stride: Stride with a 3x3 average pool after conv2 instead of in conv2.
        **kwargs: Every other :class:`~workers.models.backbones.resnet.Bottleneck` argument.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        groups: int = 1,
        width_per_group: int = 4,
        base_channels: int = 64,
        radix: int = 2,
        reduction_factor: int = 4,
        avg_down_stride: bool = True,
        **kwargs,
    ):
        super().__init__(in_channels, out_channels, **kwargs)
        self.groups = groups
        self.width_per_group = width_per_group
        mid = grouped_mid_channels(self.mid_channels, groups, width_per_group, base_channels)
        self.mid_channels = mid
        self.avg_down_stride = avg_down_stride and self.conv2_stride > 1

        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, mid, postfix=1)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = SplitAttentionConv2d(
            mid, mid, kernel_size=3, stride=1 if self.avg_down_stride else self.conv2_stride,
            padding=self.dilation, dilation=self.dilation, groups=groups, radix=radix,
            reduction_factor=reduction_factor, norm_cfg=self.norm_cfg)
        delattr(self, self.norm2_name)
        if self.avg_down_stride:
            self.avd_layer = nn.AvgPool2d(3, self.conv2_stride, padding=1)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)

    def _inner_forward(self, x):
        identity = x
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.conv2(out)
        if self.avg_down_stride:
            out = self.avd_layer(out)
        out = self.norm3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return out + identity

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        else:
            out = self._inner_forward(x)
        return self.relu(out)


@MODELS.register()
class ResNeSt(ResNetV1D):
    """ResNeSt-50/101/152/200/269 (MMCls ``type='ResNeSt'``): deep stem, average-pooled shortcuts.

    Args:
        depth: 50, 101, 152, 200 or 269.
        groups: Groups of the split-attention convs.
        width_per_group: Width of a group in the first stage.
        radix: Splits per group.
        reduction_factor: Attention width reduction.
        avg_down_stride: Stride with an average pool after the split-attention conv.
        **kwargs: Every other :class:`~workers.models.backbones.resnet.ResNet` argument (``stem_channels``
            is 64 for ResNeSt-50 and 128 for the deeper ones in MMCls's configs).
    """

    arch_settings = {
        50: (ResNeStBottleneck, (3, 4, 6, 3)),
        101: (ResNeStBottleneck, (3, 4, 23, 3)),
        152: (ResNeStBottleneck, (3, 8, 36, 3)),
        200: (ResNeStBottleneck, (3, 24, 36, 3)),
        269: (ResNeStBottleneck, (3, 30, 48, 8)),
    }

    def __init__(
        self,
        depth: int,
        groups: int = 1,
        width_per_group: int = 4,
        radix: int = 2,
        reduction_factor: int = 4,
        avg_down_stride: bool = True,
        **kwargs,
    ):
        self.groups = groups
        self.width_per_group = width_per_group
        self.radix = radix
        self.reduction_factor = reduction_factor
        self.avg_down_stride = avg_down_stride
        super().__init__(depth=depth, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        return ResLayer(groups=self.groups, width_per_group=self.width_per_group,
                        base_channels=self.base_channels, radix=self.radix,
                        reduction_factor=self.reduction_factor, avg_down_stride=self.avg_down_stride, **kwargs)


def resnest_tiny(**kwargs) -> ResNeSt:
    """A ResNeSt-50 with 8 stem and base channels, for tests."""
    for key, value in {"stem_channels": 8, "base_channels": 8}.items():
        kwargs.setdefault(key, value)
    return ResNeSt(depth=50, **kwargs)
