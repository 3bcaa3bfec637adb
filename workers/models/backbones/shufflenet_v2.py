"""ShuffleNetV2 backbone.

Paper: Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", ECCV 2018
(https://arxiv.org/abs/1807.11164). Arguments (``widen_factor`` 0.5/1.0/1.5/2.0, ``out_indices`` 0..3 with
3 the last 1x1 conv) are MMClassification 0.25's ``mmcls/models/backbones/shufflenet_v2.py``; the stem,
units and last conv are torchvision's (``torchvision/models/shufflenetv2.py``). The top-level names are
MMCls's (``conv1``, ``maxpool``, ``layers.0..2`` stages, ``layers.3`` last conv); inside, torchvision's
``nn.Sequential`` numbering replaces MMCls's ``ConvModule`` names, and MMCls checkpoints load through:

===========================================  ==================================
MMCls                                         here (torchvision)
===========================================  ==================================
``conv1.conv`` / ``conv1.bn``                   ``conv1.0`` / ``conv1.1``
``layers.3.conv`` / ``layers.3.bn``             ``layers.3.0`` / ``layers.3.1``
``branch1.0.conv`` / ``.bn`` (3x3 dw)           ``branch1.0`` / ``branch1.1``
``branch1.1.conv`` / ``.bn`` (1x1)              ``branch1.2`` / ``branch1.3``
``branch2.0.conv`` / ``.bn`` (1x1)              ``branch2.0`` / ``branch2.1``
``branch2.1.conv`` / ``.bn`` (3x3 dw)           ``branch2.3`` / ``branch2.4``
``branch2.2.conv`` / ``.bn`` (1x1)              ``branch2.5`` / ``branch2.6``
===========================================  ==================================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models.shufflenetv2 import ShuffleNetV2 as _TorchvisionShuffleNetV2

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones._keymap import MMClsKeysMixin
from workers.models.layers import constant_init, normal_init
from workers.registry import MODELS

__all__ = ["ShuffleNetV2", "shufflenet_v2_tiny"]


@MODELS.register()
class ShuffleNetV2(MMClsKeysMixin, FrozenStagesMixin, nn.Module):
    """ShuffleNetV2 returning a tuple of the outputs of ``out_indices`` (0..2: stages, 3: the last conv).

    Args:
        widen_factor: 0.5, 1.0, 1.5 or 2.0.
        out_indices: Layers whose outputs are returned.
        frozen_stages: Freeze ``conv1`` and ``layers[:frozen_stages]``; -1 freezes nothing.
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Only BatchNorm (torchvision's units).
        act_cfg: Only ReLU (torchvision's units).
        norm_eval: Keep every BatchNorm in eval mode while training.
        with_cp: Activation checkpointing per unit.
        init_cfg: Extra ``init_cfg``; without it the weights start as MMCls's (convs N(0, 1/fan_in), the
            first conv N(0, 0.01); norms 1 with bias 1e-4, running mean 0).
        stage_blocks: Units per stage (the paper's 4, 8, 4).
    """

    channels_per_widen = {0.5: [48, 96, 192, 1024], 1.0: [116, 232, 464, 1024], 1.5: [176, 352, 704, 1024],
                          2.0: [244, 488, 976, 2048]}

    mmcls_key_rules = [
        (r"^conv1\.conv\.", "conv1.0."), (r"^conv1\.bn\.", "conv1.1."),
        (r"^layers\.3\.conv\.", "layers.3.0."), (r"^layers\.3\.bn\.", "layers.3.1."),
        (r"\.branch1\.0\.conv\.", ".branch1.0."), (r"\.branch1\.0\.bn\.", ".branch1.1."),
        (r"\.branch1\.1\.conv\.", ".branch1.2."), (r"\.branch1\.1\.bn\.", ".branch1.3."),
        (r"\.branch2\.0\.conv\.", ".branch2.0."), (r"\.branch2\.0\.bn\.", ".branch2.1."),
        (r"\.branch2\.1\.conv\.", ".branch2.3."), (r"\.branch2\.1\.bn\.", ".branch2.4."),
        (r"\.branch2\.2\.conv\.", ".branch2.5."), (r"\.branch2\.2\.bn\.", ".branch2.6."),
    ]

    def __init__(
        self,
        widen_factor: float = 1.0,
        out_indices: Sequence[int] = (3,),
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
        out_indices = tuple(out_indices)
        for index in out_indices:
            if index not in range(4):
                raise ValueError(f"the item in out_indices must in range(0, 4). But received {index}")
        if frozen_stages not in range(-1, 4):
            raise ValueError(f"frozen_stages must be in range(-1, 4). But received {frozen_stages}")
        if widen_factor not in self.channels_per_widen:
            raise ValueError(f"widen_factor must be in [0.5, 1.0, 1.5, 2.0]. But received {widen_factor}")
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        if (norm_cfg or {"type": "BN"})["type"] not in ("BN", "BN2d") or (act_cfg or {"type": "ReLU"}) != {
                "type": "ReLU"}:
            raise NotImplementedError("ShuffleNetV2 wraps torchvision's units: BN and ReLU only")
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.init_cfg = init_cfg

        net = _TorchvisionShuffleNetV2(list(stage_blocks), [24, *self.channels_per_widen[widen_factor]])
        self.conv1 = net.conv1
        self.maxpool = net.maxpool
        self.layers = nn.ModuleList([net.stage2, net.stage3, net.stage4, net.conv5])
        self._init_weights()
        self._install_mmcls_key_hook()
        self._freeze_stages()

    def _init_weights(self) -> None:
        # MMCls's ShuffleNetV2.init_weights
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                if name.startswith("conv1"):
                    normal_init(m, mean=0, std=0.01)
                else:
                    normal_init(m, mean=0, std=1.0 / m.weight.shape[1])
            elif isinstance(m, _BatchNorm):
                constant_init(m, val=1, bias=0.0001)
                nn.init.constant_(m.running_mean, 0)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        outs = []
        for i, layer in enumerate(self.layers):
            for unit in (layer if i < 3 else [layer]):
                x = cp.checkpoint(unit, x, use_reentrant=False) if self.with_cp and x.requires_grad else unit(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _stem_modules(self) -> list[nn.Module]:
        return [self.conv1]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.layers[index]]


def _create_shufflenet_v2(variant: str, **kwargs) -> ShuffleNetV2:
    defaults = {"shufflenet_v2_tiny": {"widen_factor": 0.5, "stage_blocks": (1, 2, 1)}}[variant]
    return ShuffleNetV2(**{**defaults, **kwargs})


def shufflenet_v2_tiny(**kwargs) -> ShuffleNetV2:
    """A ShuffleNetV2 at widen_factor 0.5 with 1, 2 and 1 units, for tests."""
    return _create_shufflenet_v2("shufflenet_v2_tiny", **kwargs)
