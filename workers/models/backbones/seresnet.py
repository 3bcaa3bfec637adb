"""SE-ResNet and SE-ResNeXt backbones: ResNet/ResNeXt bottlenecks followed by a squeeze-and-excitation gate.

Paper: Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018 (https://arxiv.org/abs/1709.01507).

Subclasses of this project's ResNet / ResNeXt with MMClassification 0.25's arguments (``se_ratio``) and
parameter names: each block's gate is ``se_layer.conv1.conv`` / ``se_layer.conv2.conv`` (1x1 convs with
bias, as mmcv's ConvModule without norm), so MMCls SE-ResNet checkpoints load unchanged. timm's SE-ResNets
(``seresnet50``) keep the gate as ``se.fc1`` / ``se.fc2`` and have none of MMCls's stem arguments.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from workers.models.backbones.mobilenet_v2 import make_divisible
from workers.models.backbones.resnet import Bottleneck, ResLayer, ResNet
from workers.models.backbones.resnext import grouped_mid_channels, rebuild_bottleneck_convs
from workers.models.layers import ConvModule
from workers.registry import MODELS

__all__ = ["SELayer", "SEBottleneck", "SEResNeXtBottleneck", "SEResNet", "SEResNeXt", "seresnet_tiny"]


class SELayer(nn.Module):
    """Squeeze-and-excitation: global average pool, 1x1 conv down, ReLU, 1x1 conv up, sigmoid, rescale.

    Args:
        channels: Input (and output) channels.
        squeeze_channels: Middle channels (default ``make_divisible(channels // ratio, divisor)``).
        ratio: Squeeze ratio.
        divisor: The middle channels are rounded to a multiple of it.
        act_cfg: The two activations (one dict is used for both).
    """

    def __init__(
        self,
        channels: int,
        squeeze_channels: int | None = None,
        ratio: int = 16,
        divisor: int = 8,
        act_cfg: dict | tuple[dict, dict] = ({"type": "ReLU"}, {"type": "Sigmoid"}),
    ):
        super().__init__()
        if isinstance(act_cfg, dict):
            act_cfg = (act_cfg, act_cfg)
        if squeeze_channels is None:
            squeeze_channels = make_divisible(channels // ratio, divisor)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, squeeze_channels, 1, act_cfg=act_cfg[0])
        self.conv2 = ConvModule(squeeze_channels, channels, 1, act_cfg=act_cfg[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


class SEBottleneck(Bottleneck):
    """ResNet bottleneck whose residual branch is rescaled by an :class:`SELayer` before the addition.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        se_ratio: Squeeze ratio of the gate.
        **kwargs: Every other :class:`~workers.models.backbones.resnet.Bottleneck` argument.
    """

    def __init__(self, in_channels: int, out_channels: int, se_ratio: int = 16, **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        self.se_layer = SELayer(out_channels, ratio=se_ratio)

    def _inner_forward(self, x):
        identity = x
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.se_layer(self.norm3(self.conv3(out)))
        if self.downsample is not None:
            identity = self.downsample(x)
        return out + identity

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        else:
            out = self._inner_forward(x)
        return self.relu(out)


class SEResNeXtBottleneck(SEBottleneck):
    """:class:`SEBottleneck` with ResNeXt's grouped 3x3 conv.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        base_channels: Middle channels of the first stage of a plain ResNet (64).
        groups: Groups of conv2.
        width_per_group: Channels per group in the first stage.
        se_ratio: Squeeze ratio of the gate.
        **kwargs: Every other Bottleneck argument.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int = 64,
        groups: int = 32,
        width_per_group: int = 4,
        se_ratio: int = 16,
        **kwargs,
    ):
        super().__init__(in_channels, out_channels, se_ratio=se_ratio, **kwargs)
        self.groups = groups
        self.width_per_group = width_per_group
        if groups != 1:
            mid = grouped_mid_channels(self.mid_channels, groups, width_per_group, base_channels)
            rebuild_bottleneck_convs(self, mid, groups)


@MODELS.register()
class SEResNet(ResNet):
    """SE-ResNet-50/101/152 (MMCls ``type='SEResNet'``).

    Args:
        depth: 50, 101 or 152.
        se_ratio: Squeeze ratio of every block's gate.
        **kwargs: Every other :class:`~workers.models.backbones.resnet.ResNet` argument.
    """

    arch_settings = {
        50: (SEBottleneck, (3, 4, 6, 3)),
        101: (SEBottleneck, (3, 4, 23, 3)),
        152: (SEBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, se_ratio: int = 16, **kwargs):
        if depth not in self.arch_settings:
            raise KeyError(f"invalid depth {depth} for {type(self).__name__}; "
                           f"choose from {sorted(self.arch_settings)}")
        self.se_ratio = se_ratio
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        return ResLayer(se_ratio=self.se_ratio, **kwargs)


@MODELS.register()
class SEResNeXt(SEResNet):
    """SE-ResNeXt-50/101/152 (MMCls ``type='SEResNeXt'``).

    Args:
        depth: 50, 101 or 152.
        groups: Groups of each bottleneck's 3x3 conv.
        width_per_group: Width of a group in the first stage.
        **kwargs: Every other :class:`SEResNet` argument.
    """

    arch_settings = {
        50: (SEResNeXtBottleneck, (3, 4, 6, 3)),
        101: (SEResNeXtBottleneck, (3, 4, 23, 3)),
        152: (SEResNeXtBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, groups: int = 32, width_per_group: int = 4, **kwargs):
        self.groups = groups
        self.width_per_group = width_per_group
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        return ResLayer(se_ratio=self.se_ratio, groups=self.groups, width_per_group=self.width_per_group,
                        base_channels=self.base_channels, **kwargs)


def seresnet_tiny(**kwargs) -> SEResNet:
    """An SE-ResNet-50 with 8 base channels and squeeze ratio 4, for tests."""
    for key, value in {"stem_channels": 8, "base_channels": 8, "se_ratio": 4}.items():
        kwargs.setdefault(key, value)
    return SEResNet(depth=50, **kwargs)
