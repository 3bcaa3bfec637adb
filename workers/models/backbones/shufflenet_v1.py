"""ShuffleNetV1 backbone.

Paper: Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
CVPR 2018 (https://arxiv.org/abs/1707.01083). Neither timm nor torchvision holds ShuffleNetV1, so it is
written here; arguments, channel tables and parameter names (``conv1``, ``layers.N.M.g_conv_1x1_compress``
/ ``depthwise_conv3x3_bn`` / ``g_conv_1x1_expand``, each a ``ConvModule`` with ``conv`` and ``bn``) are
MMClassification 0.25's ``mmcls/models/backbones/shufflenet_v1.py``, so its checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones.mobilenet_v2 import make_divisible
from workers.models.layers import ConvModule, build_activation, constant_init, normal_init
from workers.registry import MODELS

__all__ = ["ShuffleNetV1", "ShuffleUnit", "channel_shuffle", "shufflenet_v1_tiny"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups (``(g, c/g)`` -> ``(c/g, g)``), the paper's Fig. 1(c)."""
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width).transpose(1, 2).contiguous()
    return x.view(batch, channels, height, width)


def _check_conv_cfg(conv_cfg: dict | None) -> None:
    if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
        raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")


class ShuffleUnit(nn.Module):
    """Grouped 1x1 compress -> shuffle -> 3x3 depthwise -> grouped 1x1 expand, added to or concatenated
    with (after a 3x3 stride-2 average pool) the input.

    Args:
        in_channels: Input channels.
        out_channels: Output channels (with ``'concat'``, the block's own branch gives the difference).
        groups: Groups of the 1x1 convs.
        first_block: The network's first unit: its compress conv is not grouped (too few input channels).
        combine: ``'add'`` (stride 1) or ``'concat'`` (stride 2).
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Norm config.
        act_cfg: Activation config (ReLU).
        with_cp: Activation checkpointing.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        groups: int = 3,
        first_block: bool = True,
        combine: str = "add",
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        with_cp: bool = False,
    ):
        super().__init__()
        _check_conv_cfg(conv_cfg)
        norm_cfg = norm_cfg or {"type": "BN"}
        act_cfg = act_cfg or {"type": "ReLU"}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.first_block = first_block
        self.combine = combine
        self.groups = groups
        self.bottleneck_channels = out_channels // 4
        self.with_cp = with_cp
        if combine == "add":
            self.depthwise_stride = 1
            if in_channels != out_channels:
                raise ValueError("in_channels must be equal to out_channels when combine is add")
        elif combine == "concat":
            self.depthwise_stride = 2
            self.out_channels -= in_channels
            self.avgpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
        else:
            raise ValueError(f"Cannot combine tensors with {combine}. Only 'add' and 'concat' are supported")
        self.first_1x1_groups = 1 if first_block else groups
        self.g_conv_1x1_compress = ConvModule(in_channels, self.bottleneck_channels, 1,
                                              groups=self.first_1x1_groups, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.depthwise_conv3x3_bn = ConvModule(self.bottleneck_channels, self.bottleneck_channels, 3,
                                               stride=self.depthwise_stride, padding=1,
                                               groups=self.bottleneck_channels, norm_cfg=norm_cfg, act_cfg=None)
        self.g_conv_1x1_expand = ConvModule(self.bottleneck_channels, self.out_channels, 1, groups=groups,
                                            norm_cfg=norm_cfg, act_cfg=None)
        self.act = build_activation(act_cfg)

    def _inner_forward(self, x):
        out = self.g_conv_1x1_compress(x)
        out = self.depthwise_conv3x3_bn(channel_shuffle(out, self.groups))
        out = self.g_conv_1x1_expand(out)
        if self.combine == "add":
            return self.act(x + out)
        return self.act(torch.cat((self.avgpool(x), out), dim=1))

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register()
class ShuffleNetV1(FrozenStagesMixin, nn.Module):
    """ShuffleNetV1 returning a tuple of the outputs of the stages in ``out_indices`` (0..2).

    Args:
        groups: Groups of the 1x1 convs: 1, 2, 3, 4 or 8 (the paper's Table 1).
        widen_factor: Channel multiplier.
        out_indices: Stages whose outputs are returned.
        frozen_stages: Freeze ``conv1`` and ``layers[:frozen_stages]``; -1 freezes nothing.
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Norm config (BN).
        act_cfg: Activation config (ReLU).
        norm_eval: Keep every BatchNorm in eval mode while training.
        with_cp: Activation checkpointing in the units.
        init_cfg: Extra ``init_cfg``; without it the weights start as MMCls's (convs N(0, 1/fan_in), the
            first conv N(0, 0.01); norms 1 with bias 1e-4, running mean 0).
    """

    channels_per_groups = {1: [144, 288, 576], 2: [200, 400, 800], 3: [240, 480, 960], 4: [272, 544, 1088],
                           8: [384, 768, 1536]}

    def __init__(
        self,
        groups: int = 3,
        widen_factor: float = 1.0,
        out_indices: Sequence[int] = (2,),
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: dict | list | None = None,
        stage_blocks: Sequence[int] = (4, 8, 4),
    ):
        super().__init__()
        self.stage_blocks = list(stage_blocks)
        self.groups = groups
        out_indices = tuple(out_indices)
        for index in out_indices:
            if index not in range(3):
                raise ValueError(f"the item in out_indices must in range(0, 3). But received {index}")
        if frozen_stages not in range(-1, 3):
            raise ValueError(f"frozen_stages must be in range(-1, 3). But received {frozen_stages}")
        if groups not in self.channels_per_groups:
            raise ValueError(f"{groups} groups is not supported for 1x1 Grouped Convolutions")
        _check_conv_cfg(conv_cfg)
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_cfg = norm_cfg or {"type": "BN"}
        self.act_cfg = act_cfg or {"type": "ReLU"}
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.init_cfg = init_cfg

        channels = [make_divisible(ch * widen_factor, 8) for ch in self.channels_per_groups[groups]]
        self.in_channels = int(24 * widen_factor)
        self.conv1 = ConvModule(3, self.in_channels, 3, stride=2, padding=1, norm_cfg=self.norm_cfg,
                                act_cfg=self.act_cfg)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layers = nn.ModuleList()
        for i, num_blocks in enumerate(self.stage_blocks):
            self.layers.append(self._make_layer(channels[i], num_blocks, first_block=i == 0))
        self._init_weights()
        self._freeze_stages()

    def _make_layer(self, out_channels: int, num_blocks: int, first_block: bool) -> nn.Sequential:
        units = []
        for i in range(num_blocks):
            units.append(ShuffleUnit(self.in_channels, out_channels, self.groups, first_block and i == 0,
                                     "concat" if i == 0 else "add", norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                                     with_cp=self.with_cp))
            self.in_channels = out_channels
        return nn.Sequential(*units)

    def _init_weights(self) -> None:
        # MMCls's ShuffleNetV1.init_weights
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                if "conv1" in name:
                    normal_init(m, mean=0, std=0.01)
                else:
                    normal_init(m, mean=0, std=1.0 / m.weight.shape[1])
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                constant_init(m, val=1, bias=0.0001)
                if isinstance(m, _BatchNorm) and m.running_mean is not None:
                    nn.init.constant_(m.running_mean, 0)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _stem_modules(self) -> list[nn.Module]:
        return [self.conv1]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.layers[index]]


def _create_shufflenet_v1(variant: str, **kwargs) -> ShuffleNetV1:
    defaults = {"shufflenet_v1_tiny": {"groups": 3, "widen_factor": 0.5, "stage_blocks": (1, 2, 1)}}[variant]
    return ShuffleNetV1(**{**defaults, **kwargs})


def shufflenet_v1_tiny(**kwargs) -> ShuffleNetV1:
    """A ShuffleNetV1 (g=3) at widen_factor 0.5 with 1, 2 and 1 units, for tests."""
    return _create_shufflenet_v1("shufflenet_v1_tiny", **kwargs)
