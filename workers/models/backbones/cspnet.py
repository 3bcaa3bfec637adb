"""CSPNet backbones: CSPDarkNet, CSPResNet and CSPResNeXt.

Paper: Wang et al., "CSPNet: A New Backbone that can Enhance Learning Capability of CNN", CVPR Workshops
2020 (https://arxiv.org/abs/1911.11929). Arguments (``depth``, ``out_indices``, ``frozen_stages``,
``deep_stem``) are MMClassification 0.25's ``mmcls/models/backbones/cspnet.py``; the network is timm's
``CspNet`` (``timm/models/cspnet.py``: MMCls's CSPNet checkpoints were converted from timm's
``cspdarknet53``, ``cspresnet50`` and ``cspresnext50``, whose configs are used here). The top-level names
are the same (``stem``, ``stages.N``); MMCls checkpoints load through this mapping:

======================================  =====================================
MMCls                                    here (timm)
======================================  =====================================
``stem.conv`` / ``stem.bn`` (DarkNet)     ``stem.conv1.conv`` / ``stem.conv1.bn``
``stem.K.conv`` / ``stem.K.bn`` (ResNet)  ``stem.conv{K+1}.conv`` / ``.bn``
``stages.N.downsample_conv``              ``stages.N.conv_down``
``stages.N.expand_conv``                  ``stages.N.conv_exp``
``stages.N.atfer_blocks_conv``            ``stages.N.conv_transition_b``
``stages.N.final_conv``                   ``stages.N.conv_transition``
``blocks.M.convK.weight`` / ``bnK``       ``blocks.M.convK.conv.weight`` / ``convK.bn`` (ResNet blocks)
======================================  =====================================

(DarkNet blocks already share MMCls's ``conv1``/``conv2`` ``ConvModule`` names.)
``downsamper_conv``, the misspelt name of early copies of MMCls's ``CSPStage``, is accepted too; the stage's
``atfer_blocks_conv`` is spelt so in MMCls 0.25 itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch.nn as nn
from timm.models.cspnet import CspModelCfg, CspNet, CspStagesCfg, CspStemCfg, model_cfgs

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones._keymap import MMClsKeysMixin
from workers.registry import MODELS

__all__ = ["CSPDarkNet", "CSPNet", "CSPResNeXt", "CSPResNet", "cspdarknet_tiny"]

_STAGE_RULES = [
    (r"^(stages\.\d+)\.downsam(?:ple|per)_conv\.", r"\1.conv_down."), (r"^(stages\.\d+)\.expand_conv\.", r"\1.conv_exp."),
    (r"^(stages\.\d+)\.atfer_blocks_conv\.", r"\1.conv_transition_b."),
    (r"^(stages\.\d+)\.final_conv\.", r"\1.conv_transition."),
]
_RESNET_BLOCK_RULES = [
    (r"^(stages\.\d+\.blocks\.\d+)\.conv(\d)\.weight$", r"\1.conv\2.conv.weight"),
    (r"^(stages\.\d+\.blocks\.\d+)\.bn(\d)\.", r"\1.conv\2.bn."),
]


class CSPNet(MMClsKeysMixin, FrozenStagesMixin, nn.Module):
    """A timm ``CspNet`` without its head, returning a tuple of the outputs of ``out_indices``.

    Args:
        cfg: timm's model config.
        mmcls_key_rules: How MMCls's names map to timm's for this configuration.
        in_channels: Image channels.
        out_indices: Stages whose outputs are returned (negative counts from the end).
        frozen_stages: Freeze the stem and ``stages[0..frozen_stages]`` (MMCls's rule: inclusive); -1 none.
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Only BatchNorm (timm's ``BatchNormAct2d``).
        act_cfg: Only LeakyReLU (timm's config, slope 0.01).
        norm_eval: Keep every BatchNorm in eval mode while training.
        init_cfg: Extra ``init_cfg``; without it the weights start as timm's.
    """

    frozen_stages_inclusive = True  # MMCls's CSPNet freezes stages 0..frozen_stages

    def __init__(
        self,
        cfg: CspModelCfg,
        mmcls_key_rules: list[tuple[str, str]],
        in_channels: int = 3,
        out_indices: int | Sequence[int] = (-1,),
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        norm_eval: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        num_stages = len(cfg.stages.depth)
        if frozen_stages not in range(-1, num_stages):
            raise ValueError(f"frozen_stages must be in range(-1, len(arch_setting)). But received {frozen_stages}")
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        if (norm_cfg or {"type": "BN"})["type"] not in ("BN", "BN2d") or (act_cfg or {"type": "LeakyReLU"})[
                "type"] != "LeakyReLU":
            raise NotImplementedError("CSPNet wraps timm's CspNet: BN and LeakyReLU only")
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            indices[i] = num_stages + index if index < 0 else index
            if not 0 <= indices[i] < num_stages:
                raise ValueError(f"Invalid out_indices {index}.")
        self.out_indices = indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg
        self.mmcls_key_rules = mmcls_key_rules
        net = CspNet(cfg, in_chans=in_channels, num_classes=0, global_pool="")
        self.stem = net.stem
        self.stages = net.stages
        self._install_mmcls_key_hook()
        self._freeze_stages()

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _stem_modules(self) -> list[nn.Module]:
        return [self.stem]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.stages[index]]


def _check_depth(depth: int, supported: int) -> None:
    if depth != supported:
        raise ValueError(f"depth must be one of [{supported}], but get {depth}.")


@MODELS.register()
class CSPDarkNet(CSPNet):
    """CSP-DarkNet-53 (five stages of Darknet blocks after a stride-1 stem); ``out_indices`` 0..4.

    Args:
        depth: 53.
        in_channels: Image channels.
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`CSPNet`.
        conv_cfg: Only ``None``.
        norm_cfg: Only BN.
        act_cfg: Only LeakyReLU.
        norm_eval: Keep every BatchNorm in eval mode while training.
        init_cfg: Extra ``init_cfg``.
    """

    def __init__(self, depth: int = 53, in_channels: int = 3, out_indices: Sequence[int] = (4,),
                 frozen_stages: int = -1, conv_cfg: dict | None = None, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None, norm_eval: bool = False, init_cfg: dict | list | None = None):
        _check_depth(depth, 53)
        rules = [(r"^stem\.conv\.", "stem.conv1.conv."), (r"^stem\.bn\.", "stem.conv1.bn."), *_STAGE_RULES]
        super().__init__(model_cfgs["cspdarknet53"], rules, in_channels, out_indices, frozen_stages, conv_cfg,
                         norm_cfg, act_cfg, norm_eval, init_cfg)


@MODELS.register()
class CSPResNet(CSPNet):
    """CSP-ResNet-50 (four stages of ResNet bottlenecks); ``out_indices`` 0..3.

    Args:
        depth: 50.
        in_channels: Image channels.
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`CSPNet`.
        deep_stem: Three 3x3 convs (32 with stride 2, 32, 64) instead of the 7x7 conv and max pool.
        conv_cfg: Only ``None``.
        norm_cfg: Only BN.
        act_cfg: Only LeakyReLU.
        norm_eval: Keep every BatchNorm in eval mode while training.
        init_cfg: Extra ``init_cfg``.
    """

    timm_cfg = "cspresnet50"

    def __init__(self, depth: int = 50, in_channels: int = 3, out_indices: Sequence[int] = (3,),
                 frozen_stages: int = -1, deep_stem: bool = False, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = None, act_cfg: dict | None = None, norm_eval: bool = False,
                 init_cfg: dict | list | None = None):
        _check_depth(depth, 50)
        self.deep_stem = deep_stem
        stem_rules = [(r"^stem\.0\.conv\.", "stem.conv1.conv."), (r"^stem\.0\.bn\.", "stem.conv1.bn.")]
        if deep_stem:
            stem_rules += [(r"^stem\.1\.conv\.", "stem.conv2.conv."), (r"^stem\.1\.bn\.", "stem.conv2.bn."),
                           (r"^stem\.2\.conv\.", "stem.conv3.conv."), (r"^stem\.2\.bn\.", "stem.conv3.bn.")]
        cfg = model_cfgs[self.timm_cfg]
        if deep_stem:  # MMCls's deep stem: 3x3 convs of 32 (stride 2), 32 and 64 channels, no max pool
            cfg = dataclasses.replace(cfg, stem=CspStemCfg(out_chs=(32, 32, 64), kernel_size=3, stride=2, pool=""))
        super().__init__(cfg, [*stem_rules, *_STAGE_RULES, *_RESNET_BLOCK_RULES], in_channels, out_indices,
                         frozen_stages, conv_cfg, norm_cfg, act_cfg, norm_eval, init_cfg)


@MODELS.register()
class CSPResNeXt(CSPResNet):
    """CSP-ResNeXt-50 (four stages of 32-group ResNeXt bottlenecks); arguments as :class:`CSPResNet`."""


    timm_cfg = "cspresnext50"



def _create_cspnet(variant: str, **kwargs) -> CSPNet:
    cfg = {"cspdarknet_tiny": CspModelCfg(
        stem=CspStemCfg(out_chs=8, kernel_size=3, stride=1, pool=""),
        stages=CspStagesCfg(depth=(1, 2), out_chs=(16, 32), stride=2, expand_ratio=(2.0, 1.0),
                            bottle_ratio=(0.5, 1.0), block_ratio=(1.0, 0.5), down_growth=True, block_type="dark"),
    )}[variant]
    rules = [(r"^stem\.conv\.", "stem.conv1.conv."), (r"^stem\.bn\.", "stem.conv1.bn."), *_STAGE_RULES]
    return CSPNet(cfg, rules, **kwargs)


def cspdarknet_tiny(**kwargs) -> CSPNet:
    """A two-stage CSP-DarkNet of 8-32 channels (one and two Darknet blocks), for tests."""
    return _create_cspnet("cspdarknet_tiny", **kwargs)
