"""DenseNet backbone: dense blocks (each layer sees every earlier feature map) joined by transitions.

Paper: Huang et al., "Densely Connected Convolutional Networks", CVPR 2017 (https://arxiv.org/abs/1608.06993).

MMClassification 0.25's ``DenseNet`` arguments (``arch``, ``bn_size``, ``compression_factor``, ...) and
parameter names: ``stem.0`` / ``stem.1`` (7x7 conv and BN), ``stages.I.block.J.norm1/conv1/norm2/conv2``,
``transitions.I.norm/conv`` and, for the last stage, ``transitions.3.0`` (the final BN). torchvision's
DenseNet is the same network under ``features.denseblockI.denselayerJ`` / ``features.transitionI`` /
``features.norm5``; :func:`convert_torchvision_state_dict` maps its checkpoints onto these names (MMCls's
DenseNet checkpoints were converted from torchvision's the same way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.layers import build_activation, build_norm_layer, constant_init, kaiming_init
from workers.registry import MODELS

__all__ = ["DenseBlock", "DenseLayer", "DenseNet", "DenseTransition", "convert_torchvision_state_dict",
           "densenet_tiny"]

_BN = {"type": "BN"}
_RELU = {"type": "ReLU"}


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (to ``bn_size * growth_rate``) then BN-ReLU-3x3 conv (to ``growth_rate``).

    Args:
        in_channels: Channels of all earlier feature maps together.
        growth_rate: Channels this layer adds.
        bn_size: Width multiplier of the 1x1 bottleneck.
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
        drop_rate: Dropout on the new features.
        memory_efficient: Recompute the bottleneck in the backward pass (activation checkpointing).
    """

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        bn_size: int,
        norm_cfg: dict = _BN,
        act_cfg: dict = _RELU,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.act = build_activation(act_cfg)
        self.norm2 = build_norm_layer(norm_cfg, bn_size * growth_rate)[1]
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def _bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.act(self.norm1(torch.cat(features, 1))))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and any(f.requires_grad for f in features):
            out = cp.checkpoint(self._bottleneck, *features, use_reentrant=False)
        else:
            out = self._bottleneck(*features)
        out = self.conv2(self.act(self.norm2(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out


class DenseBlock(nn.Module):
    """``num_layers`` DenseLayers; returns the input concatenated with every layer's output.

    Args:
        num_layers: Layers in the block.
        in_channels: Input channels.
        bn_size: Width multiplier of the bottlenecks.
        growth_rate: Channels each layer adds.
        **kwargs: ``norm_cfg``, ``act_cfg``, ``drop_rate``, ``memory_efficient`` of the layers.
    """

    def __init__(self, num_layers: int, in_channels: int, bn_size: int, growth_rate: int, **kwargs):
        super().__init__()
        self.block = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate=growth_rate, bn_size=bn_size, **kwargs)
            for i in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.block:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseTransition(nn.Sequential):
    """BN, ReLU, 1x1 conv to ``out_channels``, 2x2 average pool.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict = _BN, act_cfg: dict = _RELU):
        super().__init__()
        self.add_module("norm", build_norm_layer(norm_cfg, in_channels)[1])
        self.add_module("act", build_activation(act_cfg))
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(kernel_size=2, stride=2))


@MODELS.register()
class DenseNet(FrozenStagesMixin, nn.Module):
    """DenseNet-121/169/201/161 (MMCls ``type='DenseNet'``).

    Args:
        arch: ``'121'``, ``'169'``, ``'201'``, ``'161'`` or a dict with ``growth_rate``, ``depths`` and
            ``init_channels``.
        in_channels: Image channels.
        bn_size: Width multiplier of the 1x1 bottlenecks.
        drop_rate: Dropout after each dense layer.
        compression_factor: Channel reduction of the transitions.
        memory_efficient: Activation checkpointing in the dense layers.
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
        out_indices: Stages whose outputs are returned (negative counts from the end).
        frozen_stages: Number of stages (with their transitions), from the first, to freeze.
        init_cfg: ``dict(type='Pretrained', ...)`` or ``None``.
    """

    arch_settings = {
        "121": {"growth_rate": 32, "depths": [6, 12, 24, 16], "init_channels": 64},
        "169": {"growth_rate": 32, "depths": [6, 12, 32, 32], "init_channels": 64},
        "201": {"growth_rate": 32, "depths": [6, 12, 48, 32], "init_channels": 64},
        "161": {"growth_rate": 48, "depths": [6, 12, 36, 24], "init_channels": 96},
    }

    def __init__(
        self,
        arch: str | dict = "121",
        in_channels: int = 3,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        compression_factor: float = 0.5,
        memory_efficient: bool = False,
        norm_cfg: dict = _BN,
        act_cfg: dict = _RELU,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = 0,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise KeyError(f"unknown DenseNet arch {arch!r}; choose from {sorted(self.arch_settings)} "
                               "or pass a dict")
            arch = self.arch_settings[arch]
        elif not {"growth_rate", "depths", "init_channels"} <= set(arch):
            raise ValueError("a custom DenseNet arch needs growth_rate, depths and init_channels")
        self.growth_rate = arch["growth_rate"]
        self.depths = list(arch["depths"])
        self.init_channels = arch["init_channels"]
        self.num_stages = len(self.depths)
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        self.out_indices = [i + self.num_stages if i < 0 else i for i in out_indices]
        if not all(0 <= i < self.num_stages for i in self.out_indices):
            raise ValueError(f"out_indices {list(out_indices)} out of range for {self.num_stages} stages")
        self.frozen_stages = frozen_stages
        self.init_cfg = init_cfg
        # one activation module shared by the stem and the final norm, as in MMCls (no parameters)
        self.act = build_activation(act_cfg)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, self.init_channels, 7, stride=2, padding=3, bias=False),
            build_norm_layer(norm_cfg, self.init_channels)[1],
            self.act,
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))

        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        channels = self.init_channels
        for i, depth in enumerate(self.depths):
            self.stages.append(DenseBlock(depth, channels, bn_size=bn_size, growth_rate=self.growth_rate,
                                          norm_cfg=norm_cfg, act_cfg=act_cfg, drop_rate=drop_rate,
                                          memory_efficient=memory_efficient))
            channels += depth * self.growth_rate
            if i != self.num_stages - 1:
                out_channels = math.floor(channels * compression_factor)
                self.transitions.append(DenseTransition(channels, out_channels, norm_cfg, act_cfg))
                channels = out_channels
            else:
                # the final BN + ReLU counts as the last stage's transition (as in the original repo)
                self.transitions.append(nn.Sequential(build_norm_layer(norm_cfg, channels)[1], self.act))
        self.feat_dim = channels
        self.init_weights()
        self._freeze_stages()

    def init_weights(self) -> None:
        """Kaiming-normal convs and unit norms (torchvision's DenseNet initialisation)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m, mode="fan_in")
            elif isinstance(m, _BatchNorm):
                constant_init(m, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i in range(self.num_stages):
            x = self.transitions[i](self.stages[i](x))
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.stages[index], self.transitions[index]]


def convert_torchvision_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a torchvision ``densenet*`` state dict (``features.*``) onto :class:`DenseNet`'s MMCls keys.

    Args:
        state: torchvision's state dict; ``classifier.*`` is left out (MMCls's head holds it).
    """
    num_blocks = max(int(m.group(1)) for key in state if (m := re.match(r"features\.denseblock(\d+)\.", key)))
    out = {}
    for key, value in state.items():
        name = key.removeprefix("features.")
        if m := re.match(r"conv0\.(.+)", name):
            out[f"stem.0.{m.group(1)}"] = value
        elif m := re.match(r"norm0\.(.+)", name):
            out[f"stem.1.{m.group(1)}"] = value
        elif m := re.match(r"denseblock(\d+)\.denselayer(\d+)\.(.+)", name):
            out[f"stages.{int(m.group(1)) - 1}.block.{int(m.group(2)) - 1}.{m.group(3)}"] = value
        elif m := re.match(r"transition(\d+)\.(.+)", name):
            out[f"transitions.{int(m.group(1)) - 1}.{m.group(2)}"] = value
        elif m := re.match(r"norm5\.(.+)", name):
            out[f"transitions.{num_blocks - 1}.0.{m.group(1)}"] = value
    return out


def densenet_tiny(**kwargs) -> DenseNet:
    """A 4-stage DenseNet with growth rate 4 and 2 layers per stage, for tests."""
    kwargs.setdefault("arch", {"growth_rate": 4, "depths": [2, 2, 2, 2], "init_channels": 8})
    return DenseNet(**kwargs)
