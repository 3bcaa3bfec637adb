"""RepVGG backbone, with structural re-parameterisation (``switch_to_deploy``).

Paper: Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", CVPR 2021
(https://arxiv.org/abs/2101.03697). Arguments and architectures (``arch`` 'A0' ... 'D2se', the
``groupwise_layers`` of the g2/g4 variants, SE before the activation in D2se) are MMClassification 0.25's
``mmcls/models/backbones/repvgg.py``; the blocks are timm's ``RepVggBlock`` (``timm/models/byobnet.py``),
whose three training branches (3x3 conv-BN, 1x1 conv-BN, identity BN) fuse into one 3x3 conv with its
``reparameterize()``.

The top-level names are MMCls's (``stem``, ``stage_1`` .. ``stage_4``); inside a block timm's names differ,
and MMCls checkpoints (training-time or deploy) load through this mapping:

=============================  ===========================
MMCls                          here (timm ``RepVggBlock``)
=============================  ===========================
``branch_3x3.conv`` / ``.norm``  ``conv_kxk.conv`` / ``.bn``
``branch_1x1.conv`` / ``.norm``  ``conv_1x1.conv`` / ``.bn``
``branch_norm``                  ``identity``
``branch_reparam``               ``reparam_conv``
``se_layer.conv1.conv``          ``attn.fc1``
``se_layer.conv2.conv``          ``attn.fc2``
=============================  ===========================
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from timm.layers import BatchNormAct2d, ConvNormAct, SEModule
from timm.models.byobnet import LayerFn, RepVggBlock
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones._keymap import MMClsKeysMixin
from workers.models.layers import constant_init, kaiming_init
from workers.registry import ACTIVATIONS, MODELS

__all__ = ["RepVGG", "repvgg_tiny"]

_GROUPWISE_LAYERS = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26]
_G2 = {layer: 2 for layer in _GROUPWISE_LAYERS}
_G4 = {layer: 4 for layer in _GROUPWISE_LAYERS}


def _arch(num_blocks, width_factor, group_layer_map=None, se_cfg=None, **extra) -> dict:
    return {"num_blocks": num_blocks, "width_factor": width_factor, "group_layer_map": group_layer_map,
            "se_cfg": se_cfg, **extra}


class _Stage(nn.Sequential):
    """A stage of blocks, with optional activation checkpointing per block."""

    def __init__(self, *blocks: nn.Module, with_cp: bool = False):
        super().__init__(*blocks)
        self.with_cp = with_cp

    def forward(self, x):
        for block in self:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x


@MODELS.register()
class RepVGG(MMClsKeysMixin, FrozenStagesMixin, nn.Module):
    """RepVGG returning a tuple of the outputs of the stages in ``out_indices``.

    Args:
        arch: 'A0', 'A1', 'A2', 'B0', 'B1', 'B1g2', 'B1g4', 'B2', 'B2g2', 'B2g4', 'B3', 'B3g2', 'B3g4',
            'D2se', or a dict with ``num_blocks``, ``width_factor``, ``group_layer_map`` (layer number, from 1
            after the stem, to groups), ``se_cfg``
            (and optionally ``stem_channels``).
        in_channels: Image channels.
        base_channels: Stage ``i`` has ``int(base_channels * 2**i * width_factor[i])`` channels.
        stem_stride: Stride of the stem block.
        out_indices: Stages whose outputs are returned.
        strides: Stride of the first block of each stage.
        dilations: Dilation of each stage.
        frozen_stages: Freeze the stem and ``stage_1..frozen_stages``; -1 freezes nothing.
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Only BatchNorm (what re-parameterisation folds).
        act_cfg: Activation config (ReLU).
        with_cp: Activation checkpointing per block.
        deploy: Build the inference-time model: one 3x3 conv with bias per block.
        norm_eval: Keep every BatchNorm in eval mode while training.
        init_cfg: Extra ``init_cfg``; without it the weights start as MMCls's default
            (Kaiming-normal convs, unit norms).
    """

    arch_settings = {
        "A0": _arch([2, 4, 14, 1], [0.75, 0.75, 0.75, 2.5]),
        "A1": _arch([2, 4, 14, 1], [1, 1, 1, 2.5]),
        "A2": _arch([2, 4, 14, 1], [1.5, 1.5, 1.5, 2.75]),
        "B0": _arch([4, 6, 16, 1], [1, 1, 1, 2.5], stem_channels=64),
        "B1": _arch([4, 6, 16, 1], [2, 2, 2, 4]),
        "B1g2": _arch([4, 6, 16, 1], [2, 2, 2, 4], _G2),
        "B1g4": _arch([4, 6, 16, 1], [2, 2, 2, 4], _G4),
        "B2": _arch([4, 6, 16, 1], [2.5, 2.5, 2.5, 5]),
        "B2g2": _arch([4, 6, 16, 1], [2.5, 2.5, 2.5, 5], _G2),
        "B2g4": _arch([4, 6, 16, 1], [2.5, 2.5, 2.5, 5], _G4),
        "B3": _arch([4, 6, 16, 1], [3, 3, 3, 5]),
        "B3g2": _arch([4, 6, 16, 1], [3, 3, 3, 5], _G2),
        "B3g4": _arch([4, 6, 16, 1], [3, 3, 3, 5], _G4),
        "D2se": _arch([8, 14, 24, 1], [2.5, 2.5, 2.5, 5], se_cfg={"ratio": 16, "divisor": 1}),
    }

    mmcls_key_rules = [
        (r"\.branch_3x3\.norm\.", ".conv_kxk.bn."), (r"\.branch_3x3\.conv\.", ".conv_kxk.conv."),
        (r"\.branch_1x1\.norm\.", ".conv_1x1.bn."), (r"\.branch_1x1\.conv\.", ".conv_1x1.conv."),
        (r"\.branch_norm\.", ".identity."), (r"\.branch_reparam\.", ".reparam_conv."),
        (r"\.se_layer\.conv1\.conv\.", ".attn.fc1."), (r"\.se_layer\.conv2\.conv\.", ".attn.fc2."),
    ]

    def __init__(
        self,
        arch: str | dict,
        in_channels: int = 3,
        base_channels: int = 64,
        stem_stride: int = 2,
        out_indices: Sequence[int] = (3,),
        strides: Sequence[int] = (2, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        with_cp: bool = False,
        deploy: bool = False,
        norm_eval: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise KeyError(f'"arch": "{arch}" is not one of the arch_settings {sorted(self.arch_settings)}')
            arch = self.arch_settings[arch]
        elif not isinstance(arch, dict):
            raise TypeError(f'Expect "arch" to be either a string or a dict, got {type(arch)}')
        if not len(arch["num_blocks"]) == len(arch["width_factor"]) == len(strides) == len(dilations):
            raise ValueError("num_blocks, width_factor, strides and dilations need one entry per stage")
        if max(out_indices) >= len(arch["num_blocks"]):
            raise ValueError(f"out_indices {tuple(out_indices)} beyond the {len(arch['num_blocks'])} stages")
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        norm_cfg = dict(norm_cfg or {"type": "BN"})
        if norm_cfg.pop("type") not in ("BN", "BN2d", "SyncBN"):
            raise NotImplementedError("RepVGG re-parameterisation folds BatchNorm only (norm_cfg type 'BN')")
        norm_cfg.pop("requires_grad", None)
        act_cfg = dict(act_cfg or {"type": "ReLU"})
        act_layer = ACTIVATIONS.get(act_cfg.pop("type"))
        self.arch = arch
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.deploy = False
        self.init_cfg = init_cfg

        se_cfg = arch["se_cfg"]
        attn = None
        if se_cfg is not None:
            attn = partial(SEModule, rd_ratio=1.0 / se_cfg.get("ratio", 16), rd_divisor=se_cfg.get("divisor", 8))
        layers = LayerFn(conv_norm_act=partial(ConvNormAct, norm_layer=partial(BatchNormAct2d, **norm_cfg)),
                         norm_act=partial(BatchNormAct2d, **norm_cfg), act=partial(act_layer, **act_cfg),
                         attn=attn)

        def block(cin: int, cout: int, stride: int, dilation: int = 1, groups: int = 1) -> RepVggBlock:
            return RepVggBlock(cin, cout, 3, stride=stride, dilation=(dilation, dilation),
                               group_size=cin // groups if groups > 1 else None, layers=layers)

        channels = min(arch.get("stem_channels", 64), int(base_channels * arch["width_factor"][0]))
        self.stem = block(in_channels, channels, stem_stride)
        # spec files only allow string keys: ``{'2': 4}`` means layer 2
        group_map = {int(k): v for k, v in (arch["group_layer_map"] or {}).items()}
        layer_index = 1
        self.stages: list[str] = []
        for i, num_blocks in enumerate(arch["num_blocks"]):
            out_channels = int(base_channels * 2**i * arch["width_factor"][i])
            blocks = []
            for j in range(num_blocks):
                blocks.append(block(channels, out_channels, strides[i] if j == 0 else 1, dilations[i],
                                    group_map.get(layer_index, 1)))
                channels = out_channels
                layer_index += 1
            self.add_module(f"stage_{i + 1}", _Stage(*blocks, with_cp=with_cp))
            self.stages.append(f"stage_{i + 1}")

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                constant_init(m, 1)
        if deploy:
            self.switch_to_deploy()
        self._install_mmcls_key_hook()
        self._freeze_stages()

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, name in enumerate(self.stages):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def switch_to_deploy(self) -> None:
        """Fold each block's three branches into one 3x3 conv (eval-mode BN statistics), in place."""
        for m in self.modules():
            if isinstance(m, RepVggBlock):
                # timm builds the fused conv on the default device: make that the block's (meta included)
                with torch.device(next(m.parameters()).device):
                    m.reparameterize()
                # timm detaches every parameter but the fused conv, the SE ones included; they stay trainable
                # here, as in a model built with deploy=True (frozen stages are frozen again below).
                for param in m.parameters():
                    param.requires_grad_(True)
        self.deploy = True
        self._freeze_stages()

    def _stem_modules(self) -> list[nn.Module]:
        return [self.stem]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [getattr(self, f"stage_{index + 1}")]


def _create_repvgg(variant: str, **kwargs) -> RepVGG:
    arch = {"repvgg_tiny": _arch([1, 2, 2, 1], [0.25, 0.25, 0.25, 0.25], {2: 2},
                                 se_cfg={"ratio": 4, "divisor": 1})}[variant]
    return RepVGG(arch=kwargs.pop("arch", arch), **kwargs)


def repvgg_tiny(**kwargs) -> RepVGG:
    """A RepVGG with 1-2 blocks of 16-128 channels per stage, one grouped block and SE, for tests."""
    return _create_repvgg("repvgg_tiny", **kwargs)
