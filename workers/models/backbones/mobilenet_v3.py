"""MobileNetV3 backbone.

Paper: Howard et al., "Searching for MobileNetV3", ICCV 2019 (https://arxiv.org/abs/1905.02244).
Arguments and the ``arch_settings`` tables are MMClassification 0.25's
``mmcls/models/backbones/mobilenet_v3.py`` (whose checkpoints were converted from torchvision); the
blocks are torchvision's ``InvertedResidual`` / ``Conv2dNormActivation`` / ``SqueezeExcitation``
(``torchvision/models/mobilenetv3.py``), built from MMCls's tables. The classifier of the paper
(1x1 "conv" 1024/1280, HSwish, dropout, fc) is MMCls's ``StackedLinearClsHead`` in the specs.

The top-level names are MMCls's (``layer0`` stem, ``layer1..N`` blocks, the last 1x1 conv ``layerN+1``);
MMCls checkpoints load through this mapping (``E``: 0 when the block has an expansion conv, else absent;
the indices inside ``block`` shift when there is no expansion conv or no SE):

==================================  ======================================
MMCls                                here (torchvision)
==================================  ======================================
``layerK.conv`` / ``layerK.bn``       ``layerK.0`` / ``layerK.1`` (stem, last conv)
``layerK.expand_conv.conv`` / ``.bn``  ``layerK.block.0.0`` / ``.block.0.1``
``layerK.depthwise_conv.conv`` / ``.bn``  ``layerK.block.D.0`` / ``.block.D.1``
``layerK.se.conv1.conv`` / ``conv2``   ``layerK.block.S.fc1`` / ``.fc2``
``layerK.linear_conv.conv`` / ``.bn``  ``layerK.block.L.0`` / ``.block.L.1``
==================================  ======================================
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models.mobilenetv3 import InvertedResidual, InvertedResidualConfig
from torchvision.ops.misc import Conv2dNormActivation

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones._keymap import MMClsKeysMixin
from workers.models.layers import NORM_LAYERS, constant_init, kaiming_init
from workers.registry import MODELS

__all__ = ["MobileNetV3", "mobilenet_v3_tiny"]


class _Block(nn.Module):
    """torchvision's ``InvertedResidual`` with optional activation checkpointing (the ``block`` key stays)."""

    def __init__(self, config: InvertedResidualConfig, norm_layer, with_cp: bool):
        super().__init__()
        inner = InvertedResidual(config, norm_layer)
        self.block = inner.block
        self.use_res_connect = inner.use_res_connect
        self.with_cp = with_cp

    def _inner_forward(self, x):
        return x + self.block(x) if self.use_res_connect else self.block(x)

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register()
class MobileNetV3(MMClsKeysMixin, FrozenStagesMixin, nn.Module):
    """MobileNetV3 returning a tuple of the outputs of ``out_indices`` (0: stem, 1..N: blocks, N+1: last conv).

    Args:
        arch: ``'small'``, ``'large'``, or a list of ``[kernel, mid, out, with_se, act, stride]`` rows (the
            last conv then has ``6 * out`` channels).
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Norm config (BN with eps 0.001, momentum 0.01: torchvision's).
        out_indices: Layers whose outputs are returned (default: the last, 12 or 16).
        frozen_stages: Freeze ``layer0..frozen_stages``; -1 freezes nothing.
        norm_eval: Keep every BatchNorm in eval mode while training.
        with_cp: Activation checkpointing in the blocks.
        init_cfg: Extra ``init_cfg``; without it the weights start as MMCls's default
            (Kaiming-normal convs, unit norms).
    """

    # kernel size, mid channels, out channels, with SE, activation, stride
    arch_settings = {
        "small": [[3, 16, 16, True, "ReLU", 2], [3, 72, 24, False, "ReLU", 2], [3, 88, 24, False, "ReLU", 1],
                  [5, 96, 40, True, "HSwish", 2], [5, 240, 40, True, "HSwish", 1],
                  [5, 240, 40, True, "HSwish", 1], [5, 120, 48, True, "HSwish", 1],
                  [5, 144, 48, True, "HSwish", 1], [5, 288, 96, True, "HSwish", 2],
                  [5, 576, 96, True, "HSwish", 1], [5, 576, 96, True, "HSwish", 1]],
        "large": [[3, 16, 16, False, "ReLU", 1], [3, 64, 24, False, "ReLU", 2], [3, 72, 24, False, "ReLU", 1],
                  [5, 72, 40, True, "ReLU", 2], [5, 120, 40, True, "ReLU", 1], [5, 120, 40, True, "ReLU", 1],
                  [3, 240, 80, False, "HSwish", 2], [3, 200, 80, False, "HSwish", 1],
                  [3, 184, 80, False, "HSwish", 1], [3, 184, 80, False, "HSwish", 1],
                  [3, 480, 112, True, "HSwish", 1], [3, 672, 112, True, "HSwish", 1],
                  [5, 672, 160, True, "HSwish", 2], [5, 960, 160, True, "HSwish", 1],
                  [5, 960, 160, True, "HSwish", 1]],
    }
    last_channels = {"small": 576, "large": 960}

    def __init__(
        self,
        arch: str | list = "small",
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        out_indices: Sequence[int] | None = None,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str) and arch not in self.arch_settings:
            raise KeyError(f"arch {arch!r} is not one of {sorted(self.arch_settings)}")
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        settings = self.arch_settings[arch] if isinstance(arch, str) else [list(row) for row in arch]
        num_layers = len(settings) + 2
        out_indices = tuple(out_indices) if out_indices is not None else (num_layers - 1,)
        for index in out_indices:
            if index not in range(num_layers):
                raise ValueError(f"the item in out_indices must in range(0, {num_layers}). But received {index}")
        if frozen_stages not in range(-1, num_layers):
            raise ValueError(f"frozen_stages must be in range(-1, {num_layers}). But received {frozen_stages}")
        norm_cfg = dict(norm_cfg or {"type": "BN", "eps": 0.001, "momentum": 0.01})
        norm_cls = NORM_LAYERS.get(norm_cfg.pop("type"))
        norm_cfg.pop("requires_grad", None)
        norm_layer = partial(norm_cls, **norm_cfg)
        self.arch = arch if isinstance(arch, str) else "custom"
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg

        self.layers: list[str] = ["layer0"]
        self.layer0 = Conv2dNormActivation(3, 16, 3, stride=2, norm_layer=norm_layer,
                                           activation_layer=nn.Hardswish)
        rules = [(r"^(layer0)\.conv\.", r"\1.0."), (r"^(layer0)\.bn\.", r"\1.1.")]
        in_channels = 16
        for i, (kernel, mid, out, with_se, act, stride) in enumerate(settings, start=1):
            config = InvertedResidualConfig(in_channels, kernel, mid, out, with_se, "HS" if act == "HSwish" else "RE",
                                            stride, 1, 1.0)
            self.add_module(f"layer{i}", _Block(config, norm_layer, with_cp))
            self.layers.append(f"layer{i}")
            rules += self._block_rules(i, has_expand=mid != in_channels, has_se=with_se)
            in_channels = out
        last = len(settings) + 1
        self.add_module(f"layer{last}", Conv2dNormActivation(in_channels, self.last_channels.get(self.arch, in_channels * 6),
                                                             1, norm_layer=norm_layer, activation_layer=nn.Hardswish))
        self.layers.append(f"layer{last}")
        rules += [(rf"^(layer{last})\.conv\.", r"\1.0."), (rf"^(layer{last})\.bn\.", r"\1.1.")]
        self.mmcls_key_rules = rules

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                constant_init(m, 1)
        self._install_mmcls_key_hook()
        self._freeze_stages()

    @staticmethod
    def _block_rules(index: int, has_expand: bool, has_se: bool) -> list[tuple[str, str]]:
        names = (["expand_conv"] if has_expand else []) + ["depthwise_conv"] + (["se"] if has_se else []) + [
            "linear_conv"]
        rules = []
        for position, name in enumerate(names):
            head = rf"^(layer{index})\.{name}\."
            if name == "se":
                rules += [(head + r"conv1\.conv\.", rf"\1.block.{position}.fc1."),
                          (head + r"conv2\.conv\.", rf"\1.block.{position}.fc2.")]
            else:
                rules += [(head + r"conv\.", rf"\1.block.{position}.0."), (head + r"bn\.", rf"\1.block.{position}.1.")]
        return rules

    def forward(self, x):
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _stem_modules(self) -> list[nn.Module]:
        return [self.layer0]  # frozen_stages = k freezes layer0..layer{k}

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [getattr(self, f"layer{index + 1}")]


def _create_mobilenet_v3(variant: str, **kwargs) -> MobileNetV3:
    settings = {"mobilenet_v3_tiny": [[3, 16, 16, True, "ReLU", 2], [3, 32, 24, False, "HSwish", 2],
                                      [5, 48, 24, True, "HSwish", 1]]}[variant]
    return MobileNetV3(arch=kwargs.pop("arch", settings), **kwargs)


def mobilenet_v3_tiny(**kwargs) -> MobileNetV3:
    """A MobileNetV3 of three blocks (with and without expansion conv and SE) and a 144-channel last conv."""
    return _create_mobilenet_v3("mobilenet_v3_tiny", **kwargs)
