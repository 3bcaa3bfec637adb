"""MobileNetV2 backbone.

Paper: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
(https://arxiv.org/abs/1801.04381). Arguments and parameter names (``conv1``, ``layer1..7`` of
``InvertedResidual`` blocks with ``conv.N.conv`` / ``conv.N.bn``, ``conv2``) are MMClassification 0.25's
``mmcls/models/backbones/mobilenet_v2.py``, so its checkpoints load unchanged. torchvision's MobileNetV2
is not wrapped: its ``features.N`` / ``Conv2dNormActivation`` key names and its lack of ``out_indices``,
``frozen_stages`` and ``norm_eval`` would need a key mapping for every MMCls checkpoint.
"""

from __future__ import annotations

import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.layers import ConvModule, constant_init, kaiming_init
from workers.registry import MODELS

__all__ = ["InvertedResidual", "MobileNetV2", "make_divisible", "mobilenet_v2_tiny"]


def make_divisible(value: float, divisor: int, min_value: int | None = None, min_ratio: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below ``min_ratio * value`` (MMCls's rule)."""
    min_value = divisor if min_value is None else min_value
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return new_value


def _check_conv_cfg(conv_cfg: dict | None) -> None:
    if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
        raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported yet")


class InvertedResidual(nn.Module):
    """1x1 expansion -> 3x3 depthwise -> linear 1x1 projection, with a shortcut when shapes allow.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: 1 or 2, on the depthwise conv.
        expand_ratio: Hidden channels are ``round(in_channels * expand_ratio)``; 1 skips the expansion.
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Norm config.
        act_cfg: Activation config (ReLU6).
        with_cp: Activation checkpointing.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        expand_ratio: float,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        with_cp: bool = False,
    ):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be in [1, 2], but received {stride}")
        _check_conv_cfg(conv_cfg)
        norm_cfg = norm_cfg or {"type": "BN"}
        act_cfg = act_cfg or {"type": "ReLU6"}
        self.stride = stride
        self.with_cp = with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg))
        layers += [
            ConvModule(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, norm_cfg=norm_cfg,
                       act_cfg=act_cfg),
            ConvModule(hidden, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None),
        ]
        self.conv = nn.Sequential(*layers)

    def _inner_forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register()
class MobileNetV2(FrozenStagesMixin, nn.Module):
    """MobileNetV2 returning a tuple of the outputs of ``out_indices`` (0..6: ``layer1..7``, 7: ``conv2``).

    Args:
        widen_factor: Channel multiplier; above 1 it also widens the last conv's 1280 channels.
        out_indices: Layers whose outputs are returned.
        frozen_stages: Freeze ``conv1`` and ``layer1..frozen_stages`` (no grad, eval); -1 freezes nothing.
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Norm config (default BN).
        act_cfg: Activation config (default ReLU6).
        norm_eval: Keep every BatchNorm in eval mode while training.
        with_cp: Activation checkpointing in the blocks.
        init_cfg: Extra ``init_cfg``; without it the weights start as MMCls's default
            (Kaiming-normal convs, unit norms).
    """

    # expand_ratio, channels, num_blocks, stride of each of the seven stages (the paper's Table 2)
    arch_settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                     [6, 160, 3, 2], [6, 320, 1, 1]]

    def __init__(
        self,
        widen_factor: float = 1.0,
        out_indices: tuple[int, ...] = (7,),
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        out_indices = tuple(out_indices)
        for index in out_indices:
            if index not in range(8):
                raise ValueError(f"the item in out_indices must in range(0, 8). But received {index}")
        if frozen_stages not in range(-1, 8):
            raise ValueError(f"frozen_stages must be in range(-1, 8). But received {frozen_stages}")
        _check_conv_cfg(conv_cfg)
        self.widen_factor = widen_factor
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_cfg = norm_cfg or {"type": "BN"}
        self.act_cfg = act_cfg or {"type": "ReLU6"}
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.init_cfg = init_cfg

        self.in_channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, self.in_channels, 3, stride=2, padding=1, norm_cfg=self.norm_cfg,
                                act_cfg=self.act_cfg)
        self.layers: list[str] = []
        for i, (expand_ratio, channels, num_blocks, stride) in enumerate(self.arch_settings):
            out_channels = make_divisible(channels * widen_factor, 8)
            self.add_module(f"layer{i + 1}", self._make_layer(out_channels, num_blocks, stride, expand_ratio))
            self.layers.append(f"layer{i + 1}")
        self.out_channel = int(1280 * widen_factor) if widen_factor > 1.0 else 1280
        self.conv2 = ConvModule(self.in_channels, self.out_channel, 1, norm_cfg=self.norm_cfg,
                                act_cfg=self.act_cfg)
        self.layers.append("conv2")

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                constant_init(m, 1)
        self._freeze_stages()

    def _make_layer(self, out_channels: int, num_blocks: int, stride: int, expand_ratio: float) -> nn.Sequential:
        blocks = []
        for i in range(num_blocks):
            blocks.append(InvertedResidual(self.in_channels, out_channels, stride if i == 0 else 1,
                                           expand_ratio=expand_ratio, norm_cfg=self.norm_cfg,
                                           act_cfg=self.act_cfg, with_cp=self.with_cp))
            self.in_channels = out_channels
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = self.conv1(x)
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _stem_modules(self) -> list[nn.Module]:
        # MMCls only stops conv1's gradients; its BN is put in eval mode here too, so that a frozen
        # stem's running statistics do not drift either (as ResNet's frozen stem does).
        return [self.conv1]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [getattr(self, f"layer{index + 1}")]


def _create_mobilenet_v2(variant: str, **kwargs) -> MobileNetV2:
    widen = {"mobilenet_v2_1x": 1.0, "mobilenet_v2_tiny": 0.25}[variant]
    return MobileNetV2(widen_factor=kwargs.pop("widen_factor", widen), **kwargs)


def mobilenet_v2_tiny(**kwargs) -> MobileNetV2:
    """A MobileNetV2 at widen_factor 0.25 (about 0.24M parameters), for tests."""
    return _create_mobilenet_v2("mobilenet_v2_tiny", **kwargs)
