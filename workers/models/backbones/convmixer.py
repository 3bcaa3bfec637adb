"""ConvMixer backbone, wrapping timm's ``ConvMixer`` under MMClassification 0.25's arguments.

Paper: Trockman and Kolter, "Patches Are All You Need?", 2022 (https://arxiv.org/abs/2201.09792). The
stem and mixer blocks are timm's (``timm/models/convmixer.py``); arguments, ``arch`` settings,
``out_indices`` and ``frozen_stages`` are MMCls's ``mmcls/models/backbones/convmixer.py``. timm's blocks
(``blocks``) are held here as ``stages``, so every key of an MMCls checkpoint is already this module's
name: ``stem.{0,2}`` (patchify conv, norm), ``stages.i.0.fn.{0,2}`` (depthwise conv and its norm, inside
the residual), ``stages.i.{1,3}`` (pointwise conv and its norm).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from timm.models.convmixer import ConvMixer as TimmConvMixer

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.layers import build_activation
from workers.registry import MODELS

__all__ = ["ConvMixer", "convmixer_tiny_test"]


@MODELS.register()
class ConvMixer(FrozenStagesMixin, nn.Module):
    """ConvMixer returning the feature map after each of ``out_indices`` (mixer blocks).

    Args:
        arch: ``'768/32'``, ``'1024/20'``, ``'1536/20'`` or a dict with ``embed_dims``, ``depth``,
            ``patch_size`` and ``kernel_size``.
        in_channels: Image channels.
        norm_cfg: Only ``BN``.
        act_cfg: Activation config (GELU; the 768/32 config uses ReLU).
        out_indices: Blocks whose outputs are returned; -1 is the last.
        frozen_stages: Blocks frozen in eval mode.
        init_cfg: ``init_cfg`` applied after construction.
    """

    arch_settings = {
        "768/32": {"embed_dims": 768, "depth": 32, "patch_size": 7, "kernel_size": 7},
        "1024/20": {"embed_dims": 1024, "depth": 20, "patch_size": 14, "kernel_size": 9},
        "1536/20": {"embed_dims": 1536, "depth": 20, "patch_size": 7, "kernel_size": 9},
    }

    def __init__(
        self,
        arch: str | dict = "768/32",
        in_channels: int = 3,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = 0,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ValueError(f"Unavailable arch {arch!r}, please choose from {sorted(self.arch_settings)}")
            arch = self.arch_settings[arch]
        essential = {"embed_dims", "depth", "patch_size", "kernel_size"}
        if not isinstance(arch, dict) or not essential <= set(arch):
            raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}, got {arch!r}")
        if (norm_cfg or {"type": "BN"})["type"] not in ("BN", "BN2d"):
            raise NotImplementedError("ConvMixer supports norm_cfg type 'BN' only")
        act_cfg = act_cfg or {"type": "GELU"}
        self.embed_dims = arch["embed_dims"]
        self.depth = arch["depth"]
        timm_model = TimmConvMixer(dim=self.embed_dims, depth=self.depth, kernel_size=arch["kernel_size"],
                                   patch_size=arch["patch_size"], in_chans=in_channels, num_classes=0,
                                   act_layer=lambda: build_activation(act_cfg))
        self.stem = timm_model.stem
        self.stages = timm_model.blocks

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            if index < 0:
                indices[i] = self.depth + index
            if not 0 <= indices[i] < self.depth:
                raise ValueError(f"Invalid out_indices {index}")
        self.out_indices = indices
        self.frozen_stages = frozen_stages
        self.init_cfg = init_cfg
        self._freeze_stages()

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.stages[index]]  # as in MMCls, the stem is never frozen

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def convmixer_tiny_test(**kwargs) -> ConvMixer:
    """A 3-block, 16-wide ConvMixer with 4x4 patches and 3x3 kernels, for tests."""
    return ConvMixer(arch={"embed_dims": 16, "depth": 3, "patch_size": 4, "kernel_size": 3}, **kwargs)
