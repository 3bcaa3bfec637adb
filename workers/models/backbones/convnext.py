"""ConvNeXt backbone, wrapping timm's ``ConvNeXt`` stages under MMClassification 0.25's arguments.

Paper: Liu et al., "A ConvNet for the 2020s", CVPR 2022 (https://arxiv.org/abs/2201.03545). The stem,
downsampling layers and blocks are timm's (``timm/models/convnext.py``); arguments, ``arch`` settings,
``out_indices``, ``frozen_stages``, ``gap_before_final_norm`` and the final ``norm{i}`` layers are
MMCls's ``mmcls/models/backbones/convnext.py``.

MMCls checkpoint keys load through ``mmcls_key_rules`` (applied by ``load_state_dict`` and ``load_weights``):

========================================  ==========================================
MMCls                                     here (timm)
========================================  ==========================================
``downsample_layers.0.{0,1}``             ``stem.{0,1}`` (patchify conv, LayerNorm2d)
``downsample_layers.i.{0,1}`` (i > 0)     ``stages.i.downsample.{0,1}`` (LN2d, conv)
``stages.i.j.depthwise_conv``             ``stages.i.blocks.j.conv_dw``
``stages.i.j.norm``                       ``stages.i.blocks.j.norm``
``stages.i.j.pointwise_conv{1,2}``        ``stages.i.blocks.j.mlp.fc{1,2}``
``stages.i.j.gamma``                      ``stages.i.blocks.j.gamma``
``norm{i}``                               ``norm{i}`` (unchanged)
========================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from timm.layers import LayerNorm2d
from timm.models.convnext import ConvNeXt as TimmConvNeXt

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones._keymap import MMClsKeysMixin
from workers.registry import MODELS

__all__ = ["ConvNeXt", "convnext_tiny_test"]


@MODELS.register()
class ConvNeXt(MMClsKeysMixin, FrozenStagesMixin, nn.Module):
    """ConvNeXt returning, for each of ``out_indices``, the stage's normalised output.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'``, ``'xlarge'``, or a dict with ``depths``
            and ``channels`` (one per stage).
        in_channels: Image channels.
        stem_patch_size: Kernel and stride of the patchify stem.
        norm_cfg: Only ``LN2d`` (its ``eps`` is used).
        act_cfg: Only ``GELU``.
        linear_pw_conv: Pointwise convs as ``nn.Linear`` on channels-last tensors (else 1x1 convs).
        drop_path_rate: Stochastic depth, rising linearly over all blocks up to this value.
        layer_scale_init_value: Initial per-channel ``gamma``; 0 or less disables layer scale.
        out_indices: Stages whose outputs are returned; -1 is the last.
        frozen_stages: Stages (with their downsampling layer) frozen in eval mode.
        gap_before_final_norm: Average-pool each output to ``(N, C)`` before its ``norm{i}``.
        with_cp: Activation checkpointing in the stages.
        init_cfg: ``init_cfg`` applied after construction.
    """

    mmcls_key_rules = [
        (r"^downsample_layers\.0\.(\d)\.", r"stem.\1."),
        (r"^downsample_layers\.(\d+)\.(\d)\.", r"stages.\1.downsample.\2."),
        (r"^stages\.(\d+)\.(\d+)\.depthwise_conv\.", r"stages.\1.blocks.\2.conv_dw."),
        (r"^stages\.(\d+)\.(\d+)\.pointwise_conv(\d)\.", r"stages.\1.blocks.\2.mlp.fc\3."),
        (r"^stages\.(\d+)\.(\d+)\.(norm\.|gamma$)", r"stages.\1.blocks.\2.\3"),
    ]

    arch_settings = {
        "tiny": {"depths": [3, 3, 9, 3], "channels": [96, 192, 384, 768]},
        "small": {"depths": [3, 3, 27, 3], "channels": [96, 192, 384, 768]},
        "base": {"depths": [3, 3, 27, 3], "channels": [128, 256, 512, 1024]},
        "large": {"depths": [3, 3, 27, 3], "channels": [192, 384, 768, 1536]},
        "xlarge": {"depths": [3, 3, 27, 3], "channels": [256, 512, 1024, 2048]},
    }

    stem_frozen_from = 1  # MMCls freezes the stem with the first stage

    def __init__(
        self,
        arch: str | dict = "tiny",
        in_channels: int = 3,
        stem_patch_size: int = 4,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        linear_pw_conv: bool = True,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = 0,
        gap_before_final_norm: bool = True,
        with_cp: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ValueError(f"Unavailable arch {arch!r}, please choose from {sorted(self.arch_settings)}")
            arch = self.arch_settings[arch]
        elif not isinstance(arch, dict) or not {"depths", "channels"} <= set(arch):
            raise ValueError(f"Custom arch needs a dict with 'depths' and 'channels', got {arch!r}")
        self.depths = list(arch["depths"])
        self.channels = list(arch["channels"])
        if len(self.depths) != len(self.channels):
            raise ValueError(f"depths {self.depths} and channels {self.channels} should have the same length")
        self.num_stages = len(self.depths)
        norm_cfg = dict(norm_cfg or {"type": "LN2d", "eps": 1e-6})
        if norm_cfg.pop("type") != "LN2d":
            raise NotImplementedError("ConvNeXt supports norm_cfg type 'LN2d' only")
        eps = norm_cfg.get("eps", 1e-5)
        if (act_cfg or {"type": "GELU"})["type"] != "GELU":
            raise NotImplementedError("ConvNeXt supports act_cfg type 'GELU' only")

        timm_model = TimmConvNeXt(
            in_chans=in_channels, num_classes=0, depths=tuple(self.depths), dims=tuple(self.channels),
            patch_size=stem_patch_size, ls_init_value=layer_scale_init_value if layer_scale_init_value > 0 else None,
            conv_mlp=not linear_pw_conv, norm_eps=eps, drop_path_rate=drop_path_rate)
        self.stem = timm_model.stem
        self.stages = timm_model.stages
        for stage in self.stages:
            stage.grad_checkpointing = with_cp

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            if index < 0:
                indices[i] = self.num_stages + index
            if not 0 <= indices[i] < self.num_stages:
                raise ValueError(f"Invalid out_indices {index}")
        self.out_indices = indices
        for i in self.out_indices:
            self.add_module(f"norm{i}", LayerNorm2d(self.channels[i], eps=eps))
        self.gap_before_final_norm = gap_before_final_norm
        self.frozen_stages = frozen_stages
        self.init_cfg = init_cfg
        self._freeze_stages()
        self._install_mmcls_key_hook()

    def _stem_modules(self) -> list[nn.Module]:
        return [self.stem]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.stages[index]]

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                norm = getattr(self, f"norm{i}")
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean([-2, -1], keepdim=True)).flatten(1))
                else:
                    outs.append(norm(x))
        return tuple(outs)


def convnext_tiny_test(**kwargs) -> ConvNeXt:
    """A 4-stage ConvNeXt with one block per stage and 8..32 channels, for tests."""
    return ConvNeXt(arch={"depths": [1, 1, 1, 1], "channels": [8, 16, 24, 32]}, **kwargs)
