"""VGG backbone: stages of 3x3 conv (+ BN) + ReLU blocks, each ending with a max-pool, and the 3-layer
fully-connected classifier when ``num_classes > 0``.

Paper: Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015 (https://arxiv.org/abs/1409.1556).

MMClassification 0.25's ``VGG`` arguments and parameter names: the convs are ConvModules
(``features.N.conv`` / ``features.N.bn``, one index per conv block and one per pool), the classifier is
``classifier.0/3/6``. torchvision's VGG is the same network but flattens conv, BN and ReLU into separate
``features`` indices and adds an adaptive pool, so its keys differ; :func:`convert_torchvision_state_dict`
maps a torchvision checkpoint onto this layout.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.layers import ConvModule, constant_init, kaiming_init, normal_init
from workers.registry import MODELS

__all__ = ["VGG", "convert_torchvision_state_dict", "vgg_tiny"]


@MODELS.register()
class VGG(FrozenStagesMixin, nn.Module):
    """VGG-11/13/16/19, with or without BatchNorm (MMCls ``type='VGG'``).

    Args:
        depth: 11, 13, 16 or 19.
        num_classes: Build the fully-connected classifier (its logits are the last output) if > 0.
        num_stages: Conv stages to build, 1 to 5.
        dilations: Dilation of each stage.
        out_indices: Stages whose outputs are returned; by default ``(5,)`` (the logits) with a
            classifier, else ``(4,)`` (the last feature map).
        frozen_stages: Number of stages, from the first, to freeze (no grad, eval mode).
        conv_cfg: Only ``None`` (plain convs).
        norm_cfg: ``dict(type='BN')`` for VGG-BN, ``None`` for none.
        act_cfg: Activation config.
        norm_eval: Keep every BatchNorm in eval mode while training.
        ceil_mode: ``ceil_mode`` of the max-pools.
        with_last_pool: Keep the last stage's max-pool.
        init_cfg: ``dict(type='Pretrained', ...)`` or ``None`` (MMCls's defaults are applied on build:
            Kaiming convs, unit norms, N(0, 0.01) linears).
    """

    # convs per stage; e.g. VGG-11 = (1 + 1 + 2 + 2 + 2) convs + 3 fully-connected layers
    arch_settings = {
        11: (1, 1, 2, 2, 2),
        13: (2, 2, 2, 2, 2),
        16: (2, 2, 3, 3, 3),
        19: (2, 2, 4, 4, 4),
    }

    def __init__(
        self,
        depth: int,
        num_classes: int = -1,
        num_stages: int = 5,
        dilations: tuple[int, ...] = (1, 1, 1, 1, 1),
        out_indices: tuple[int, ...] | None = None,
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        norm_eval: bool = False,
        ceil_mode: bool = False,
        with_last_pool: bool = True,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if depth not in self.arch_settings:
            raise KeyError(f"invalid depth {depth} for vgg; choose from {sorted(self.arch_settings)}")
        if not 1 <= num_stages <= 5:
            raise ValueError(f"num_stages must be 1..5, got {num_stages}")
        if len(dilations) != num_stages:
            raise ValueError(f"dilations {tuple(dilations)} need {num_stages} entries")
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        act_cfg = act_cfg or {"type": "ReLU"}
        self.stage_blocks = self.arch_settings[depth][:num_stages]
        self.num_classes = num_classes
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg
        if out_indices is None:
            out_indices = (5,) if num_classes > 0 else (4,)
        if max(out_indices) > num_stages:
            raise ValueError(f"out_indices {tuple(out_indices)} must be <= num_stages ({num_stages})")
        self.out_indices = tuple(out_indices)

        layers: list[nn.Module] = []
        self.range_sub_modules: list[list[int]] = []
        in_channels = 3
        for i, num_blocks in enumerate(self.stage_blocks):
            out_channels = 64 * 2**i if i < 4 else 512
            start = len(layers)
            for _ in range(num_blocks):
                layers.append(ConvModule(in_channels, out_channels, 3, padding=dilations[i], dilation=dilations[i],
                                         bias=True, norm_cfg=norm_cfg, act_cfg=act_cfg))
                in_channels = out_channels
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode))
            self.range_sub_modules.append([start, len(layers)])
        if not with_last_pool:
            layers.pop(-1)
            self.range_sub_modules[-1][1] -= 1
        self.features = nn.Sequential(*layers)

        if num_classes > 0:
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(True),
                nn.Dropout(),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(),
                nn.Linear(4096, num_classes),
            )
        self.init_weights()
        self._freeze_stages()

    def init_weights(self) -> None:
        """MMCls's default ``init_cfg``: Kaiming convs, unit norms, N(0, 0.01) linears."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, _BatchNorm):
                constant_init(m, 1)
            elif isinstance(m, nn.Linear):
                normal_init(m, std=0.01)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i in range(len(self.stage_blocks)):
            for j in range(*self.range_sub_modules[i]):
                x = self.features[j](x)
            if i in self.out_indices:
                outs.append(x)
        if self.num_classes > 0:
            outs.append(self.classifier(x.flatten(1)))
        return tuple(outs)

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.features[j] for j in range(*self.range_sub_modules[index])]


def convert_torchvision_state_dict(state: dict[str, torch.Tensor], with_norm: bool) -> dict[str, torch.Tensor]:
    """Map a torchvision ``vgg*`` / ``vgg*_bn`` state dict onto :class:`VGG`'s MMCls keys.

    torchvision numbers conv, BN, ReLU and pool separately in ``features``; MMCls numbers one ConvModule
    per conv (holding its BN and ReLU) and one index per pool. The classifier keys are the same.

    Args:
        state: torchvision's state dict.
        with_norm: The checkpoint is a ``_bn`` variant.
    """
    convs = sorted({int(m.group(1)) for key in state if (m := re.match(r"features\.(\d+)\.weight$", key))
                    and state[key].dim() == 4})
    # in torchvision each pool sits between convs; rebuild MMCls's indices by walking the conv order
    out: dict[str, torch.Tensor] = {}
    mm_index, previous = 0, None
    step = 3 if with_norm else 2  # conv, [bn,] relu
    for tv_index in convs:
        if previous is not None and tv_index != previous + step:
            mm_index += 1  # a max-pool between the two convs
        for key, value in state.items():
            if key.startswith(f"features.{tv_index}."):
                out[f"features.{mm_index}.conv.{key.rsplit('.', 1)[1]}"] = value
            elif with_norm and key.startswith(f"features.{tv_index + 1}."):
                out[f"features.{mm_index}.bn.{key.rsplit('.', 1)[1]}"] = value
        previous = tv_index
        mm_index += 1
    out.update({key: value for key, value in state.items() if key.startswith("classifier.")})
    return out


def vgg_tiny(**kwargs) -> VGG:
    """The first three stages of a VGG-11 without classifier, for tests."""
    kwargs.setdefault("num_stages", 3)
    kwargs.setdefault("dilations", (1, 1, 1))
    kwargs.setdefault("out_indices", (0, 1, 2))
    return VGG(depth=11, **kwargs)
