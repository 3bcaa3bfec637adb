"""RegNet backbone: ResNeXt-style stages whose widths and depths follow a quantized linear rule.

Paper: Radosavovic et al., "Designing Network Design Spaces", CVPR 2020 (https://arxiv.org/abs/2003.13678).

A subclass of this project's ResNet built from :class:`~workers.models.backbones.resnext.ResNeXtBottleneck`
(expansion 1, one group width per stage) with MMClassification 0.25's arguments (``arch`` as a name such
as ``'regnetx_400mf'`` or a dict of ``w0, wa, wm, group_w, depth, bot_mul``) and parameter names
(``conv1``/``bn1`` stem, ``layerN.M.conv1..3``), so MMCls RegNet checkpoints (converted from pycls) load
unchanged. timm's RegNet names its stages ``s1..s4.bN`` and its stem ``stem.conv``, hence not wrapped.
"""

from __future__ import annotations

import numpy as np
import torch.nn as nn

from workers.models.backbones.resnet import ResLayer, ResNet
from workers.models.backbones.resnext import ResNeXtBottleneck
from workers.models.layers import build_norm_layer
from workers.registry import MODELS

__all__ = ["RegNet", "generate_regnet", "regnet_tiny"]


def generate_regnet(initial_width: int, width_slope: float, width_parameter: float, depth: int,
                    divisor: int = 8) -> tuple[list[int], int]:
    """Per-block widths of a RegNet: ``w0 + wa * j`` snapped to ``w0 * wm**k`` and to multiples of 8.

    Args:
        initial_width: ``w0``.
        width_slope: ``wa``.
        width_parameter: ``wm`` (> 1).
        depth: Number of blocks.
        divisor: Widths are multiples of it.

    Returns:
        ``(widths, num_stages)``: one width per block, and the number of distinct widths.
    """
    if width_slope < 0 or initial_width <= 0 or width_parameter <= 1 or initial_width % divisor:
        raise ValueError(f"invalid RegNet parameters w0={initial_width} wa={width_slope} wm={width_parameter}")
    widths_cont = np.arange(depth) * width_slope + initial_width
    ks = np.round(np.log(widths_cont / initial_width) / np.log(width_parameter))
    widths = np.round(initial_width * np.power(width_parameter, ks) / divisor) * divisor
    return widths.astype(int).tolist(), len(np.unique(widths))


def _stages_from_blocks(widths: list[int]) -> tuple[list[int], list[int]]:
    """Collapse per-block widths into (stage widths, blocks per stage)."""
    changes = [w != prev for w, prev in zip(widths + [0], [0] + widths, strict=True)]
    stage_widths = [w for w, changed in zip(widths, changes[:-1], strict=True) if changed]
    stage_blocks = np.diff([i for i, changed in enumerate(changes) if changed]).tolist()
    return stage_widths, stage_blocks


def _adjust_width_group(widths: list[int], bottleneck_ratio: list[float],
                        groups: list[int]) -> tuple[list[int], list[int]]:
    """Make each stage's bottleneck width a multiple of its group width (pycls's rule)."""
    bottleneck = [int(w * b) for w, b in zip(widths, bottleneck_ratio, strict=True)]
    groups = [min(g, w) for g, w in zip(groups, bottleneck, strict=True)]
    bottleneck = [int(round(w / g) * g) for w, g in zip(bottleneck, groups, strict=True)]
    widths = [int(w / b) for w, b in zip(bottleneck, bottleneck_ratio, strict=True)]
    return widths, groups


@MODELS.register()
class RegNet(ResNet):
    """RegNetX (MMCls ``type='RegNet'``).

    Args:
        arch: ``'regnetx_400mf'`` ... ``'regnetx_12gf'`` or a dict with ``w0``, ``wa``, ``wm``, ``group_w``,
            ``depth`` and ``bot_mul``.
        in_channels: Image channels.
        stem_channels: Channels of the 3x3 stride-2 stem conv.
        base_channels: Kept for MMCls compatibility (the stage widths come from ``arch``).
        strides: Stride of the first block of each stage.
        dilations: Dilation of each stage.
        out_indices: Stages whose outputs are returned.
        style: ``'pytorch'`` or ``'caffe'``.
        deep_stem: Not supported (as in MMCls).
        avg_down: Average-pool in the projection shortcuts.
        frozen_stages: Stages to freeze; 0 freezes only the stem, -1 nothing.
        conv_cfg: Only ``None``.
        norm_cfg: Norm layer config.
        norm_eval: Keep every BatchNorm in eval mode while training.
        with_cp: Activation checkpointing in the blocks.
        zero_init_residual: Zero-initialise the last norm of each block.
        init_cfg: ``dict(type='Pretrained', ...)`` or ``None``.
    """

    arch_settings = {
        "regnetx_400mf": dict(w0=24, wa=24.48, wm=2.54, group_w=16, depth=22, bot_mul=1.0),
        "regnetx_800mf": dict(w0=56, wa=35.73, wm=2.28, group_w=16, depth=16, bot_mul=1.0),
        "regnetx_1.6gf": dict(w0=80, wa=34.01, wm=2.25, group_w=24, depth=18, bot_mul=1.0),
        "regnetx_3.2gf": dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, bot_mul=1.0),
        "regnetx_4.0gf": dict(w0=96, wa=38.65, wm=2.43, group_w=40, depth=23, bot_mul=1.0),
        "regnetx_6.4gf": dict(w0=184, wa=60.83, wm=2.07, group_w=56, depth=17, bot_mul=1.0),
        "regnetx_8.0gf": dict(w0=80, wa=49.56, wm=2.88, group_w=120, depth=23, bot_mul=1.0),
        "regnetx_12gf": dict(w0=168, wa=73.36, wm=2.37, group_w=112, depth=19, bot_mul=1.0),
    }

    def __init__(
        self,
        arch: str | dict,
        in_channels: int = 3,
        stem_channels: int = 32,
        base_channels: int = 32,
        strides: tuple[int, ...] = (2, 2, 2, 2),
        dilations: tuple[int, ...] = (1, 1, 1, 1),
        out_indices: tuple[int, ...] = (3,),
        style: str = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        init_cfg: dict | list | None = None,
    ):
        nn.Module.__init__(self)  # ResNet's constructor builds depth-indexed stages; RegNet derives its own
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise KeyError(f"unknown RegNet arch {arch!r}; choose from {sorted(self.arch_settings)}")
            arch = self.arch_settings[arch]
        elif not isinstance(arch, dict):
            raise TypeError(f"arch must be a name or a dict, got {type(arch).__name__}")
        if deep_stem:
            raise NotImplementedError("deep_stem has not been implemented for RegNet")
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        widths, num_stages = generate_regnet(arch["w0"], arch["wa"], arch["wm"], arch["depth"])
        stage_widths, stage_blocks = _stages_from_blocks(widths)
        self.bottleneck_ratio = [arch["bot_mul"]] * num_stages
        stage_widths, group_widths = _adjust_width_group(stage_widths, self.bottleneck_ratio,
                                                         [arch["group_w"]] * num_stages)
        if not 1 <= num_stages <= 4:
            raise ValueError(f"RegNet arch gives {num_stages} stages; 1..4 are supported")
        strides, dilations = tuple(strides), tuple(dilations)
        if not len(strides) == len(dilations) == num_stages:
            raise ValueError(f"strides {strides} and dilations {dilations} need {num_stages} entries")
        if max(out_indices) >= num_stages:
            raise ValueError(f"out_indices {tuple(out_indices)} must be < {num_stages}")
        self.stage_widths = stage_widths
        self.group_widths = group_widths
        self.depth = sum(stage_blocks)
        self.stem_channels = stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides = strides
        self.dilations = dilations
        self.out_indices = tuple(out_indices)
        self.style = style
        self.deep_stem = False
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.norm_cfg = norm_cfg or {"type": "BN", "requires_grad": True}
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        self.init_cfg = init_cfg
        self.stage_blocks = stage_blocks[:num_stages]

        self._make_stem_layer(in_channels, stem_channels)
        self.res_layers: list[str] = []
        _in_channels = stem_channels
        for i, num_blocks in enumerate(self.stage_blocks):
            width = int(round(stage_widths[i] * self.bottleneck_ratio[i]))
            res_layer = ResLayer(
                block=ResNeXtBottleneck, num_blocks=num_blocks, in_channels=_in_channels,
                out_channels=stage_widths[i], expansion=1, stride=strides[i], dilation=dilations[i],
                style=style, avg_down=avg_down, with_cp=with_cp, norm_cfg=self.norm_cfg,
                base_channels=stage_widths[i], groups=width // group_widths[i],
                width_per_group=group_widths[i])
            _in_channels = stage_widths[i]
            self.add_module(f"layer{i + 1}", res_layer)
            self.res_layers.append(f"layer{i + 1}")
        self.feat_dim = stage_widths[-1]
        self.init_weights()
        self._freeze_stages()

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 3, stride=2, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.norm1(self.conv1(x)))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def regnet_tiny(**kwargs) -> RegNet:
    """A 4-stage RegNetX with widths 8..64 and group width 8, for tests."""
    kwargs.setdefault("arch", dict(w0=8, wa=14.0, wm=2.0, group_w=8, depth=5, bot_mul=1.0))
    kwargs.setdefault("stem_channels", 8)
    return RegNet(**kwargs)
