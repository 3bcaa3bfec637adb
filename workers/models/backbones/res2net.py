"""Res2Net backbone: bottlenecks whose 3x3 conv is split into ``scales`` hierarchical groups.

Paper: Gao et al., "Res2Net: A New Multi-scale Backbone Architecture", TPAMI 2021
(https://arxiv.org/abs/1904.01169).

A subclass of this project's ResNet with MMClassification 0.25's arguments (``scales``, ``base_width``,
``deep_stem`` and ``avg_down`` on by default) and parameter names (``layerN.M.convs.K`` / ``bns.K``,
``downsample.1`` after the average pool), so MMCls Res2Net checkpoints load unchanged. timm's Res2Net has
the same block but timm's ResNet stem and shortcut layout (``downsample.0`` is its conv), and no deep-stem
variant with MMCls's ``stem.N.conv`` names.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from workers.models.backbones.resnet import Bottleneck, ResNet, block_drop_path_rates, get_expansion
from workers.models.layers import build_norm_layer
from workers.registry import MODELS

__all__ = ["Bottle2neck", "Res2Layer", "Res2Net", "res2net_tiny"]


class Bottle2neck(Bottleneck):
    """Res2Net block: 1x1 conv to ``scales`` groups of ``width`` channels; each group but the last gets a
    3x3 conv fed with its own split plus the previous group's output; concatenation; 1x1 conv.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scales: Number of groups (> 1).
        base_width: Width of a group in the first stage, per ``base_channels`` middle channels.
        base_channels: Middle channels of the first stage of a plain ResNet (64).
        stage_type: ``'stage'`` for a stage's first block (groups are not chained; the last group is
            average-pooled), ``'normal'`` otherwise.
        **kwargs: Every other :class:`~workers.models.backbones.resnet.Bottleneck` argument.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scales: int = 4,
        base_width: int = 26,
        base_channels: int = 64,
        stage_type: str = "normal",
        **kwargs,
    ):
        super().__init__(in_channels, out_channels, **kwargs)
        if scales <= 1:
            raise ValueError("Res2Net degenerates to ResNet when scales = 1")
        if stage_type not in ("normal", "stage"):
            raise ValueError(f"stage_type must be 'normal' or 'stage', got {stage_type!r}")
        width = int(math.floor(self.mid_channels * (base_width / base_channels)))
        self.scales = scales
        self.width = width
        self.stage_type = stage_type

        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, width * scales, postfix=1)
        self.conv1 = nn.Conv2d(in_channels, width * scales, 1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        if stage_type == "stage":
            self.pool = nn.AvgPool2d(kernel_size=3, stride=self.conv2_stride, padding=1)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, stride=self.conv2_stride, padding=self.dilation, dilation=self.dilation,
                      bias=False)
            for _ in range(scales - 1))
        self.bns = nn.ModuleList(build_norm_layer(self.norm_cfg, width, postfix=i + 1)[1]
                                 for i in range(scales - 1))
        self.conv3 = nn.Conv2d(width * scales, out_channels, 1, bias=False)
        del self.conv2
        delattr(self, self.norm2_name)

    def _inner_forward(self, x):
        identity = x
        out = self.relu(self.norm1(self.conv1(x)))
        splits = torch.split(out, self.width, 1)
        sp = self.relu(self.bns[0](self.convs[0](splits[0].contiguous())))
        outs = [sp]
        for i in range(1, self.scales - 1):
            sp = splits[i] if self.stage_type == "stage" else sp + splits[i]
            sp = self.relu(self.bns[i](self.convs[i](sp.contiguous())))
            outs.append(sp)
        last = splits[self.scales - 1]
        outs.append(self.pool(last) if self.stage_type == "stage" else last)
        out = self.norm3(self.conv3(torch.cat(outs, 1)))
        if self.downsample is not None:
            identity = self.downsample(x)
        return out + identity

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        else:
            out = self._inner_forward(x)
        return self.relu(out)


class Res2Layer(nn.Sequential):
    """One Res2Net stage; unlike ResNet-D's ResLayer the average-pooled shortcut is used in every stage
    that changes the shape (a 1x1 pool where the stride is 1), so its conv is always ``downsample.1``.

    Args:
        block: :class:`Bottle2neck`.
        num_blocks: Blocks in the stage.
        in_channels: Input channels.
        out_channels: Output channels.
        expansion: Block expansion.
        stride: Stride of the first block.
        avg_down: Average-pool then stride-1 conv in the shortcut; else a strided conv.
        norm_cfg: Norm layer config.
        scales: Groups per block.
        base_width: Group width in the first stage.
        base_channels: Middle channels of the first stage of a plain ResNet.
        drop_path_rate: Passed on per block; like MMCls's Bottle2neck, the block does not apply it.
        **kwargs: Passed to every block (dilation, style, with_cp).
    """

    def __init__(
        self,
        block: type[nn.Module],
        num_blocks: int,
        in_channels: int,
        out_channels: int,
        expansion: int | None = None,
        stride: int = 1,
        avg_down: bool = True,
        norm_cfg: dict | None = None,
        scales: int = 4,
        base_width: int = 26,
        base_channels: int = 64,
        drop_path_rate: float | list[float] = 0.0,
        **kwargs,
    ):
        norm_cfg = norm_cfg or {"type": "BN"}
        rates = block_drop_path_rates(drop_path_rate, num_blocks)
        self.block = block
        expansion = get_expansion(block, expansion)
        downsample = None
        if stride != 1 or in_channels != out_channels:
            if avg_down:
                layers = [nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False),
                          nn.Conv2d(in_channels, out_channels, 1, bias=False)]
            else:
                layers = [nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)]
            downsample = nn.Sequential(*layers, build_norm_layer(norm_cfg, out_channels)[1])
        common = dict(expansion=expansion, norm_cfg=norm_cfg, scales=scales, base_width=base_width,
                      base_channels=base_channels, **kwargs)
        blocks = [block(in_channels=in_channels, out_channels=out_channels, stride=stride, downsample=downsample,
                        stage_type="stage", drop_path_rate=rates[0], **common)]
        blocks += [block(in_channels=out_channels, out_channels=out_channels, stride=1, drop_path_rate=rates[i],
                         **common) for i in range(1, num_blocks)]
        super().__init__(*blocks)


@MODELS.register()
class Res2Net(ResNet):
    """Res2Net-50/101/152 (MMCls ``type='Res2Net'``).

    Args:
        depth: 50, 101 or 152.
        scales: Groups per block ("s" in "res2net50-w14-s8").
        base_width: Group width in the first stage ("w").
        style: ``'pytorch'`` or ``'caffe'``.
        deep_stem: Three 3x3 convs as the stem (MMCls's default here: True).
        avg_down: Average-pooled shortcuts (default True).
        **kwargs: Every other :class:`~workers.models.backbones.resnet.ResNet` argument.
    """

    arch_settings = {
        50: (Bottle2neck, (3, 4, 6, 3)),
        101: (Bottle2neck, (3, 4, 23, 3)),
        152: (Bottle2neck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int,
        scales: int = 4,
        base_width: int = 26,
        style: str = "pytorch",
        deep_stem: bool = True,
        avg_down: bool = True,
        **kwargs,
    ):
        self.scales = scales
        self.base_width = base_width
        super().__init__(depth, style=style, deep_stem=deep_stem, avg_down=avg_down, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        return Res2Layer(scales=self.scales, base_width=self.base_width, base_channels=self.base_channels,
                         **kwargs)


def res2net_tiny(**kwargs) -> Res2Net:
    """A Res2Net-50 with 8 base channels, 4 scales of width 2, for tests."""
    for key, value in {"stem_channels": 8, "base_channels": 8, "base_width": 2, "scales": 4}.items():
        kwargs.setdefault(key, value)
    return Res2Net(depth=50, **kwargs)
