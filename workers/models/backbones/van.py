"""Visual Attention Network (VAN) backbone.

Paper: Guo et al., "Visual Attention Network", 2022 (https://arxiv.org/abs/2202.09741). Neither timm nor
torchvision has VAN, so it is written here. Arguments, ``arch`` settings (``b0``-``b6`` and the older
``tiny``/``small``/``base``/``large`` names) and parameter names (``patch_embed{i}.projection`` /
``.norm``, ``blocks{i}.j.norm1`` / ``attn.proj_1`` / ``attn.spatial_gating_unit.{DW_conv,DW_D_conv,conv1}``
/ ``attn.proj_2`` / ``norm2`` / ``mlp.{fc1,dwconv,fc2}`` / ``layer_scale_{1,2}``, and ``norm{i}``) are
MMClassification 0.25's ``mmcls/models/backbones/van.py``, so its checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from timm.layers import DropPath

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.layers import build_activation, build_norm_layer
from workers.registry import MODELS

__all__ = ["LKA", "VAN", "MixFFN", "SpatialAttention", "VANBlock", "VANPatchEmbed", "van_tiny_test"]


class MixFFN(nn.Module):
    """1x1 conv, 3x3 depthwise conv (positional information), activation, 1x1 conv.

    Args:
        embed_dims: Input and output channels.
        feedforward_channels: Hidden channels.
        act_cfg: Activation config (GELU).
        ffn_drop: Dropout after the activation and the last conv.
    """

    def __init__(self, embed_dims: int, feedforward_channels: int, act_cfg: dict | None = None,
                 ffn_drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Conv2d(embed_dims, feedforward_channels, 1)
        self.dwconv = nn.Conv2d(feedforward_channels, feedforward_channels, 3, padding=1,
                                groups=feedforward_channels)
        self.act = build_activation(act_cfg or {"type": "GELU"})
        self.fc2 = nn.Conv2d(feedforward_channels, embed_dims, 1)
        self.drop = nn.Dropout(ffn_drop)

    def forward(self, x):
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class LKA(nn.Module):
    """Large kernel attention: 5x5 depthwise, 7x7 depthwise dilated by 3, then 1x1 conv, multiplied with the input.

    Args:
        embed_dims: Channels.
    """

    def __init__(self, embed_dims: int):
        super().__init__()
        self.DW_conv = nn.Conv2d(embed_dims, embed_dims, 5, padding=2, groups=embed_dims)
        self.DW_D_conv = nn.Conv2d(embed_dims, embed_dims, 7, padding=9, groups=embed_dims, dilation=3)
        self.conv1 = nn.Conv2d(embed_dims, embed_dims, 1)

    def forward(self, x):
        return x * self.conv1(self.DW_D_conv(self.DW_conv(x)))


class SpatialAttention(nn.Module):
    """1x1 conv, activation, :class:`LKA`, 1x1 conv, plus the input.

    Args:
        embed_dims: Channels.
        act_cfg: Activation config (GELU).
    """

    def __init__(self, embed_dims: int, act_cfg: dict | None = None):
        super().__init__()
        self.proj_1 = nn.Conv2d(embed_dims, embed_dims, 1)
        self.activation = build_activation(act_cfg or {"type": "GELU"})
        self.spatial_gating_unit = LKA(embed_dims)
        self.proj_2 = nn.Conv2d(embed_dims, embed_dims, 1)

    def forward(self, x):
        return self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x)))) + x


class VANBlock(nn.Module):
    """``x + ls1 * attn(norm1(x))`` then ``x + ls2 * mlp(norm2(x))``, each with stochastic depth.

    Args:
        embed_dims: Channels.
        ffn_ratio: Hidden channels of the MLP over ``embed_dims``.
        drop_rate: Dropout in the MLP.
        drop_path_rate: Stochastic depth probability.
        act_cfg: Activation config (GELU).
        norm_cfg: Norm config (BN).
        layer_scale_init_value: Initial per-channel scale; 0 or less disables layer scale.
    """

    def __init__(
        self,
        embed_dims: int,
        ffn_ratio: float = 4.0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        act_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        layer_scale_init_value: float = 1e-2,
    ):
        super().__init__()
        norm_cfg = norm_cfg or {"type": "BN", "eps": 1e-5}
        self.out_channels = embed_dims
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = SpatialAttention(embed_dims, act_cfg=act_cfg)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = MixFFN(embed_dims, int(embed_dims * ffn_ratio), act_cfg=act_cfg, ffn_drop=drop_rate)
        if layer_scale_init_value > 0:
            self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(embed_dims))
            self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(embed_dims))
        else:
            self.layer_scale_1 = self.layer_scale_2 = None

    def forward(self, x):
        out = self.attn(self.norm1(x))
        if self.layer_scale_1 is not None:
            out = self.layer_scale_1[:, None, None] * out
        x = x + self.drop_path(out)
        out = self.mlp(self.norm2(x))
        if self.layer_scale_2 is not None:
            out = self.layer_scale_2[:, None, None] * out
        return x + self.drop_path(out)


class VANPatchEmbed(nn.Module):
    """Overlapping patch embedding: a strided ``projection`` conv and a BN ``norm``, keeping the map.

    Args:
        in_channels: Input channels.
        embed_dims: Output channels.
        kernel_size: Conv kernel; the stride is ``kernel_size // 2 + 1`` and the padding ``kernel_size // 2``.
        norm_cfg: Norm config (BN).
    """

    def __init__(self, in_channels: int, embed_dims: int, kernel_size: int, norm_cfg: dict | None = None):
        super().__init__()
        self.projection = nn.Conv2d(in_channels, embed_dims, kernel_size, stride=kernel_size // 2 + 1,
                                    padding=kernel_size // 2)
        self.norm = build_norm_layer(norm_cfg or {"type": "BN"}, embed_dims)[1]

    def forward(self, x):
        return self.norm(self.projection(x))


@MODELS.register()
class VAN(FrozenStagesMixin, nn.Module):
    """VAN returning, for each of ``out_indices``, the stage's map normalised by ``norm{i+1}``.

    Args:
        arch: ``'b0'``-``'b6'`` (``'tiny'``, ``'small'``, ``'base'``, ``'large'`` are ``b0``-``b3``) or a dict
            with ``embed_dims``, ``depths`` and ``ffn_ratios`` (one per stage).
        patch_sizes: Kernel of each stage's patch embedding.
        in_channels: Image channels.
        drop_rate: Dropout in the MLPs.
        drop_path_rate: Stochastic depth, rising linearly over all blocks up to this value.
        out_indices: Stages whose outputs are returned.
        frozen_stages: Stages ``0..frozen_stages`` (embedding, blocks, norm) frozen in eval mode; -1: none.
        norm_eval: Keep BatchNorm layers in eval mode while training.
        norm_cfg: Norm config of the stage outputs (LN).
        block_cfgs: Extra :class:`VANBlock` arguments for every block.
        init_cfg: ``init_cfg`` applied after construction.
    """

    arch_zoo = {
        **dict.fromkeys(["b0", "t", "tiny"], {"embed_dims": [32, 64, 160, 256], "depths": [3, 3, 5, 2],
                                              "ffn_ratios": [8, 8, 4, 4]}),
        **dict.fromkeys(["b1", "s", "small"], {"embed_dims": [64, 128, 320, 512], "depths": [2, 2, 4, 2],
                                               "ffn_ratios": [8, 8, 4, 4]}),
        **dict.fromkeys(["b2", "b", "base"], {"embed_dims": [64, 128, 320, 512], "depths": [3, 3, 12, 3],
                                              "ffn_ratios": [8, 8, 4, 4]}),
        **dict.fromkeys(["b3", "l", "large"], {"embed_dims": [64, 128, 320, 512], "depths": [3, 5, 27, 3],
                                               "ffn_ratios": [8, 8, 4, 4]}),
        "b4": {"embed_dims": [64, 128, 320, 512], "depths": [3, 6, 40, 3], "ffn_ratios": [8, 8, 4, 4]},
        "b5": {"embed_dims": [96, 192, 480, 768], "depths": [3, 3, 24, 3], "ffn_ratios": [8, 8, 4, 4]},
        "b6": {"embed_dims": [96, 192, 480, 768], "depths": [6, 6, 90, 6], "ffn_ratios": [8, 8, 4, 4]},
    }

    frozen_stages_inclusive = True  # MMCls's VAN freezes stages 0..frozen_stages

    def __init__(
        self,
        arch: str | dict = "tiny",
        patch_sizes: Sequence[int] = (7, 3, 3, 3),
        in_channels: int = 3,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        out_indices: Sequence[int] = (3,),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        norm_cfg: dict | None = None,
        block_cfgs: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(self.arch_zoo)}")
            arch = self.arch_zoo[arch.lower()]
        essential = {"embed_dims", "depths", "ffn_ratios"}
        if not isinstance(arch, dict) or set(arch) != essential:
            raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}, got {arch!r}")
        self.embed_dims = list(arch["embed_dims"])
        self.depths = list(arch["depths"])
        self.ffn_ratios = list(arch["ffn_ratios"])
        self.num_stages = len(self.depths)
        self.out_indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg
        norm_cfg = norm_cfg or {"type": "LN"}

        dpr = torch.linspace(0, drop_path_rate, sum(self.depths), device="cpu").tolist()
        start = 0
        for i, depth in enumerate(self.depths):
            patch_embed = VANPatchEmbed(in_channels if i == 0 else self.embed_dims[i - 1], self.embed_dims[i],
                                        patch_sizes[i])
            blocks = nn.ModuleList([
                VANBlock(self.embed_dims[i], ffn_ratio=self.ffn_ratios[i], drop_rate=drop_rate,
                         drop_path_rate=dpr[start + j], **(block_cfgs or {}))
                for j in range(depth)])
            start += depth
            self.add_module(f"patch_embed{i + 1}", patch_embed)
            self.add_module(f"blocks{i + 1}", blocks)
            self.add_module(f"norm{i + 1}", build_norm_layer(norm_cfg, self.embed_dims[i])[1])
        self._freeze_stages()

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [getattr(self, f"{part}{index + 1}") for part in ("patch_embed", "blocks", "norm")]

    def forward(self, x):
        outs = []
        for i in range(self.num_stages):
            x = getattr(self, f"patch_embed{i + 1}")(x)
            for block in getattr(self, f"blocks{i + 1}"):
                x = block(x)
            # the stage norm (LN) acts on channels-last tokens
            x = getattr(self, f"norm{i + 1}")(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def van_tiny_test(**kwargs) -> VAN:
    """A 4-stage VAN with one block per stage and 8..32 channels, for tests."""
    return VAN(arch={"embed_dims": [8, 16, 24, 32], "depths": [1, 1, 1, 1], "ffn_ratios": [2, 2, 2, 2]}, **kwargs)
