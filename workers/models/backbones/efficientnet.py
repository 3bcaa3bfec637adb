"""EfficientNet backbone (B0-B8 and the EdgeTPU ES/EM/EL).

Paper: Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019
(https://arxiv.org/abs/1905.11946). Arguments are MMClassification 0.25's
``mmcls/models/backbones/efficientnet.py``; the network is timm's ``tf_efficientnet_<arch>``
(``timm/models/efficientnet.py``; MMCls's checkpoints were converted from the TensorFlow ones, as timm's
``tf_`` weights were), with TensorFlow "same" padding when ``conv_cfg=dict(type='Conv2dAdaptivePadding')``
(what the configs use) and PyTorch's ``k // 2`` padding when ``conv_cfg=None``.

MMCls groups the blocks in seven ``layers``: the stem, five block groups (a stage whose first block has
stride 1 joins the previous one: B0's 80- and 112-channel blocks are ``layers.4``), and the last 1x1 conv;
``out_indices`` counts those. The stem and last conv keep MMCls's ``conv``/``bn`` names; inside a block
timm's names differ, and MMCls checkpoints load through this mapping:

===============================  ================================  ==========================
MMCls                            timm ``InvertedResidual``          timm ``DepthwiseSeparable``
===============================  ================================  ==========================
``expand_conv.conv`` / ``.bn``   ``conv_pw`` / ``bn1``             (none)
``depthwise_conv.conv`` / ``.bn``  ``conv_dw`` / ``bn2``           ``conv_dw`` / ``bn1``
``se.conv1.conv`` / ``se.conv2.conv``  ``se.conv_reduce`` / ``se.conv_expand``  (same)
``linear_conv.conv`` / ``.bn``   ``conv_pwl`` / ``bn3``            ``conv_pw`` / ``bn2``
===============================  ================================  ==========================

(EdgeTPU ``EdgeResidual``: ``conv1`` -> ``conv_exp``/``bn1``, ``conv2`` -> ``conv_pwl``/``bn2``.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import timm
import torch.nn as nn
import torch.utils.checkpoint as cp
from timm.models._efficientnet_blocks import DepthwiseSeparableConv, EdgeResidual, InvertedResidual
from timm.models.efficientnet import _gen_efficientnet

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones._keymap import MMClsKeysMixin
from workers.registry import MODELS

__all__ = ["EfficientNet", "efficientnet_tiny"]

_BLOCK_NAMES = {
    InvertedResidual: {"expand_conv.conv": "conv_pw", "expand_conv.bn": "bn1", "depthwise_conv.conv": "conv_dw",
                       "depthwise_conv.bn": "bn2", "linear_conv.conv": "conv_pwl", "linear_conv.bn": "bn3"},
    DepthwiseSeparableConv: {"depthwise_conv.conv": "conv_dw", "depthwise_conv.bn": "bn1",
                             "linear_conv.conv": "conv_pw", "linear_conv.bn": "bn2"},
    EdgeResidual: {"conv1.conv": "conv_exp", "conv1.bn": "bn1", "conv2.conv": "conv_pwl", "conv2.bn": "bn2"},
}


class _ConvBN(nn.Module):
    """timm's stem or head conv and its ``BatchNormAct2d`` under MMCls's ``ConvModule`` names."""

    def __init__(self, conv: nn.Module, bn: nn.Module):
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x):
        return self.bn(self.conv(x))


class _Layer(nn.Sequential):
    """A group of blocks, with optional activation checkpointing per block."""

    def __init__(self, *blocks: nn.Module, with_cp: bool = False):
        super().__init__(*blocks)
        self.with_cp = with_cp

    def forward(self, x):
        for block in self:
            x = cp.checkpoint(block, x, use_reentrant=False) if self.with_cp and x.requires_grad else block(x)
        return x


@MODELS.register()
class EfficientNet(MMClsKeysMixin, FrozenStagesMixin, nn.Module):
    """EfficientNet returning a tuple of the outputs of ``out_indices`` (0: stem, 1-5: block groups, 6: last conv).

    Args:
        arch: 'b0' ... 'b8', 'es', 'em' or 'el', or a dict of B0's ``channel_multiplier`` and
            ``depth_multiplier`` (a custom scaling).
        drop_path_rate: Stochastic depth, rising over the blocks up to this value.
        out_indices: Layers whose outputs are returned.
        frozen_stages: Freeze ``layers[:frozen_stages]`` (0: nothing).
        conv_cfg: ``None`` (PyTorch padding) or ``dict(type='Conv2dAdaptivePadding')`` (TensorFlow "same").
        norm_cfg: BN config (the configs use eps 1e-3, TensorFlow's).
        act_cfg: Only Swish (the EdgeTPU archs use ReLU, as in MMCls).
        norm_eval: Keep every BatchNorm in eval mode while training.
        with_cp: Activation checkpointing per block.
        init_cfg: Extra ``init_cfg``; without it the weights start as timm's.
    """

    archs = ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "es", "em", "el")

    def __init__(
        self,
        arch: str | dict = "b0",
        drop_path_rate: float = 0.0,
        out_indices: Sequence[int] = (6,),
        frozen_stages: int = 0,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str) and arch not in self.archs:
            raise KeyError(f"arch {arch!r} is not one of {list(self.archs)}")
        out_indices = tuple(out_indices)
        for index in out_indices:
            if index not in range(7):
                raise ValueError(f"the item in out_indices must in range(0, 7). But received {index}")
        if frozen_stages not in range(8):
            raise ValueError(f"frozen_stages must be in range(0, 8). But received {frozen_stages}")
        if conv_cfg not in (None, {"type": "Conv2dAdaptivePadding"}, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        norm_cfg = dict(norm_cfg or {"type": "BN"})
        if norm_cfg.pop("type") not in ("BN", "BN2d"):
            raise NotImplementedError("EfficientNet wraps timm's blocks: BN only")
        if (act_cfg or {"type": "Swish"})["type"] not in ("Swish", "SiLU"):
            raise NotImplementedError("EfficientNet wraps timm's blocks: Swish only")
        self.arch = arch if isinstance(arch, str) else "custom"
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg

        same = conv_cfg == {"type": "Conv2dAdaptivePadding"}
        kwargs = {"pad_type": "same" if same else "", "bn_eps": norm_cfg.get("eps", 1e-5),
                  "bn_momentum": norm_cfg.get("momentum", 0.1), "drop_path_rate": drop_path_rate}
        if isinstance(arch, str):
            net = timm.create_model(f"tf_efficientnet_{arch}", pretrained=False, num_classes=0, global_pool="",
                                    **kwargs)
        else:
            net = _gen_efficientnet("tf_efficientnet_b0", channel_multiplier=arch["channel_multiplier"],
                                    depth_multiplier=arch["depth_multiplier"], pretrained=False, num_classes=0,
                                    global_pool="", **kwargs)

        groups: list[list[nn.Module]] = []
        for i, stage in enumerate(net.blocks):
            first = stage[0]
            stride = getattr(first, "conv_dw", None) or first.conv_exp
            if i > 0 and max(_pair(stride.stride)) == 1:
                groups[-1].extend(stage)  # MMCls merges a stride-1 stage into the previous layer
            else:
                groups.append(list(stage))
        self.layers = nn.ModuleList([_ConvBN(net.conv_stem, net.bn1)])
        rules = []
        for i, blocks in enumerate(groups, start=1):
            self.layers.append(_Layer(*blocks, with_cp=with_cp))
            for j, block in enumerate(blocks):
                names = {**_BLOCK_NAMES[type(block)], "se.conv1.conv": "se.conv_reduce",
                         "se.conv2.conv": "se.conv_expand"}
                rules += [(rf"^layers\.{i}\.{j}\.{re.escape(mmcls)}\.", f"layers.{i}.{j}.{own}.")
                          for mmcls, own in names.items()]
        self.layers.append(_ConvBN(net.conv_head, net.bn2))
        if len(self.layers) != 7:
            raise ValueError(f"expected 7 layers (stem, 5 block groups, last conv), got {len(self.layers)}")
        self.mmcls_key_rules = rules
        self._install_mmcls_key_hook()
        self._freeze_stages()

    def forward(self, x):
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.layers[index]]  # layers[0] is the stem conv: MMCls counts it as a stage


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _create_efficientnet(variant: str, **kwargs) -> EfficientNet:
    arch = {"efficientnet_tiny": {"channel_multiplier": 0.25, "depth_multiplier": 0.34}}[variant]
    return EfficientNet(arch=kwargs.pop("arch", arch), **kwargs)


def efficientnet_tiny(**kwargs) -> EfficientNet:
    """An EfficientNet-B0 at a quarter of the width and a third of the depth, for tests."""
    return _create_efficientnet("efficientnet_tiny", **kwargs)
