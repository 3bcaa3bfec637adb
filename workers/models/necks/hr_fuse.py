"""HRFuseScales neck: fuse HRNet's four resolutions into one feature map for classification.

Paper: Wang et al., "Deep High-Resolution Representation Learning for Visual Recognition", TPAMI 2020
(https://arxiv.org/abs/1908.07919), the classification head of its Fig. 6. Layout, arguments and
parameter names (``increase_layers``, ``downsample_layers``, ``final_layer``) follow MMClassification
0.25's ``necks/hr_fuse.py``, so HRNet checkpoints' neck weights load unchanged.
"""

from __future__ import annotations

import torch.nn as nn

from workers.models.backbones.resnet import Bottleneck, ResLayer
from workers.models.layers import ConvModule
from workers.registry import MODELS

__all__ = ["HRFuseScales"]

# Channels of the four resolutions after the bottlenecks, fixed by the paper.
_FUSE_CHANNELS = (128, 256, 512, 1024)


@MODELS.register()
class HRFuseScales(nn.Module):
    """Raise each scale's channels with a bottleneck, add them from fine to coarse with strided convs.

    Returns a one-tuple ``(N, out_channels, H/8, W/8)`` of the coarsest input's size.

    Args:
        in_channels: Channels of the four input scales, e.g. ``(18, 36, 72, 144)`` for HRNet-W18.
        out_channels: Channels of the final 1x1 conv.
        norm_cfg: Norm of the downsampling and final convs.
        init_cfg: Extra ``init_cfg`` (MMCls's default, Normal on Linear layers, touches nothing here).
    """

    def __init__(
        self,
        in_channels: tuple[int, ...],
        out_channels: int = 2048,
        norm_cfg: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        in_channels = tuple(in_channels)
        if len(in_channels) != len(_FUSE_CHANNELS):
            raise ValueError(f"HRFuseScales needs {len(_FUSE_CHANNELS)} in_channels, got {in_channels}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm_cfg = norm_cfg or {"type": "BN", "momentum": 0.1}
        self.init_cfg = init_cfg
        self.increase_layers = nn.ModuleList(
            ResLayer(Bottleneck, num_blocks=1, in_channels=c, out_channels=o, stride=1)
            for c, o in zip(in_channels, _FUSE_CHANNELS, strict=True))
        self.downsample_layers = nn.ModuleList(
            ConvModule(_FUSE_CHANNELS[i], _FUSE_CHANNELS[i + 1], 3, stride=2, padding=1, bias=False,
                       norm_cfg=self.norm_cfg)
            for i in range(len(in_channels) - 1))
        self.final_layer = ConvModule(_FUSE_CHANNELS[-1], out_channels, 1, bias=False, norm_cfg=self.norm_cfg)

    def forward(self, x):
        if not isinstance(x, tuple) or len(x) != len(self.in_channels):
            raise TypeError(f"HRFuseScales takes a tuple of {len(self.in_channels)} feature maps")
        feat = self.increase_layers[0](x[0])
        for i, down in enumerate(self.downsample_layers):
            feat = down(feat) + self.increase_layers[i + 1](x[i + 1])
        return (self.final_layer(feat),)
