"""Conformer backbone, in-house (neither timm nor torchvision has it).

Paper: Peng et al., "Conformer: Local Features Coupling Global Representations for Visual Recognition",
ICCV 2021 (https://arxiv.org/abs/2105.03889). A ResNet-like CNN branch and a ViT branch run side by side and
exchange features after every block through Feature Coupling Units (``squeeze_block``: CNN map -> tokens,
``expand_block``: tokens -> CNN map). Arguments, layers and parameter names (``conv1``/``bn1`` stem,
``conv_1``, ``trans_patch_conv``, ``trans_1``, ``conv_trans_{i}.{cnn_block,fusion_block,squeeze_block,
expand_block,trans_block}``, ``trans_norm``) are MMClassification 0.25's
``mmcls/models/backbones/conformer.py``, so its checkpoints load unchanged; the transformer layers are
:class:`~workers.models.backbones.vision_transformer.TransformerEncoderLayer`, which keeps MMCls's names.
The outputs pair the pooled CNN features with the normalised class token, for ``ConformerHead``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones.vision_transformer import TransformerEncoderLayer
from workers.registry import MODELS

__all__ = ["ConvBlock", "ConvTransBlock", "Conformer", "FCUDown", "FCUUp", "conformer_tiny_test"]

_EPS = 1e-6  # the BN and LN eps of the official Conformer's blocks


class ConvBlock(nn.Module):
    """Bottleneck (1x1, 3x3, 1x1) whose 3x3 conv can take a fused feature map, returning its output too.

    Args:
        in_channels: Input channels.
        out_channels: Output channels (the bottleneck is a quarter of them).
        stride: Stride of the 3x3 conv.
        groups: Groups of the 3x3 conv.
        drop_path_rate: Stochastic depth on the residual branch.
        with_residual_conv: Project the identity with a 1x1 conv + BN.
    """

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, groups: int = 1,
                 drop_path_rate: float = 0.0, with_residual_conv: bool = False):
        super().__init__()
        mid_channels = out_channels // self.expansion
        self.conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels, eps=_EPS)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, kernel_size=3, stride=stride, groups=groups, padding=1,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels, eps=_EPS)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels, eps=_EPS)
        self.act3 = nn.ReLU(inplace=True)
        self.with_residual_conv = with_residual_conv
        if with_residual_conv:
            self.residual_conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)
            self.residual_bn = nn.BatchNorm2d(out_channels, eps=_EPS)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x, fusion_features=None, out_conv2: bool = True):
        """The block output, and (with ``out_conv2``) the 3x3 conv's activation for the coupling unit."""
        identity = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.conv2(x if fusion_features is None else x + fusion_features)
        x2 = self.act2(self.bn2(x))
        x = self.drop_path(self.bn3(self.conv3(x2)))
        if self.with_residual_conv:
            identity = self.residual_bn(self.residual_conv(identity))
        x = self.act3(x + identity)
        return (x, x2) if out_conv2 else x


class FCUDown(nn.Module):
    """Feature coupling, CNN map -> tokens: 1x1 conv, average pooling, LN, GELU (class token kept).

    Args:
        in_channels: CNN channels.
        out_channels: Token size.
        down_stride: Pooling stride from the CNN map to the token grid.
        with_cls_token: Prepend the transformer branch's class token.
    """

    def __init__(self, in_channels: int, out_channels: int, down_stride: int, with_cls_token: bool = True):
        super().__init__()
        self.down_stride = down_stride
        self.with_cls_token = with_cls_token
        self.conv_project = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.sample_pooling = nn.AvgPool2d(kernel_size=down_stride, stride=down_stride)
        self.ln = nn.LayerNorm(out_channels, eps=_EPS)
        self.act = nn.GELU()

    def forward(self, x, x_t):
        x = self.sample_pooling(self.conv_project(x)).flatten(2).transpose(1, 2)
        x = self.act(self.ln(x))
        if self.with_cls_token:
            x = torch.cat([x_t[:, :1], x], dim=1)
        return x


class FCUUp(nn.Module):
    """Feature coupling, tokens -> CNN map: 1x1 conv, BN, ReLU, nearest upsampling by ``up_stride``.

    Args:
        in_channels: Token size.
        out_channels: CNN channels.
        up_stride: Upsampling factor from the token grid to the CNN map.
        with_cls_token: The tokens start with a class token (dropped here).
    """

    def __init__(self, in_channels: int, out_channels: int, up_stride: int, with_cls_token: bool = True):
        super().__init__()
        self.up_stride = up_stride
        self.with_cls_token = with_cls_token
        self.conv_project = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels, eps=_EPS)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x, height: int, width: int):
        tokens = x[:, 1:] if self.with_cls_token else x
        x_r = tokens.transpose(1, 2).reshape(x.shape[0], x.shape[2], height, width)
        x_r = self.act(self.bn(self.conv_project(x_r)))
        return F.interpolate(x_r, size=(height * self.up_stride, width * self.up_stride))


class ConvTransBlock(nn.Module):
    """One Conformer block: a CNN block, a transformer layer, and the two coupling units between them.

    Args:
        in_channels: CNN input channels.
        out_channels: CNN output channels.
        embed_dims: Token size.
        conv_stride: Stride of the CNN block.
        groups: Groups of the CNN blocks' 3x3 convs.
        with_residual_conv: Project the CNN block's identity.
        down_stride: Stride between the CNN map and the token grid.
        num_heads: Attention heads.
        mlp_ratio: FFN hidden size over token size.
        qkv_bias: Bias in the attention's ``qkv``.
        with_cls_token: The tokens start with a class token.
        drop_rate: Dropout in the transformer layer.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth in the fusion block and the transformer layer.
        last_fusion: The last block: its fusion block halves the resolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        embed_dims: int,
        conv_stride: int = 1,
        groups: int = 1,
        with_residual_conv: bool = False,
        down_stride: int = 4,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        with_cls_token: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        last_fusion: bool = False,
    ):
        super().__init__()
        self.cnn_block = ConvBlock(in_channels, out_channels, stride=conv_stride, groups=groups,
                                   with_residual_conv=with_residual_conv)
        if last_fusion:
            self.fusion_block = ConvBlock(out_channels, out_channels, stride=2, groups=groups,
                                          drop_path_rate=drop_path_rate, with_residual_conv=True)
        else:
            self.fusion_block = ConvBlock(out_channels, out_channels, groups=groups, drop_path_rate=drop_path_rate)
        mid_channels = out_channels // ConvBlock.expansion
        self.squeeze_block = FCUDown(mid_channels, embed_dims, down_stride, with_cls_token=with_cls_token)
        self.expand_block = FCUUp(embed_dims, mid_channels, down_stride, with_cls_token=with_cls_token)
        self.trans_block = TransformerEncoderLayer(
            embed_dims=embed_dims, num_heads=num_heads, feedforward_channels=int(embed_dims * mlp_ratio),
            drop_rate=drop_rate, attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate, qkv_bias=qkv_bias,
            norm_cfg={"type": "LN", "eps": _EPS})
        self.down_stride = down_stride
        self.embed_dims = embed_dims
        self.last_fusion = last_fusion

    def forward(self, cnn_input, trans_input):
        x, x_conv2 = self.cnn_block(cnn_input, out_conv2=True)
        height, width = x_conv2.shape[2:]
        trans_output = self.trans_block(self.squeeze_block(x_conv2, trans_input) + trans_input)
        trans_features = self.expand_block(trans_output, height // self.down_stride, width // self.down_stride)
        return self.fusion_block(x, fusion_features=trans_features, out_conv2=False), trans_output


@MODELS.register()
class Conformer(FrozenStagesMixin, nn.Module):
    """Conformer returning, per ``out_indices`` block, ``[pooled CNN features (N, C1), class token (N, C2)]``.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'`` (or their first letters), or a dict with ``embed_dims``,
            ``depths``, ``num_heads`` and ``channel_ratio``.
        patch_size: Token patch size (a multiple of 16; the CNN stem already strides 4).
        base_channels: CNN channels of the first stage over ``channel_ratio``.
        mlp_ratio: FFN hidden size over token size.
        qkv_bias: Bias in the attention's ``qkv``.
        with_cls_token: Use a class token (else the mean token is output).
        drop_path_rate: Stochastic depth, rising linearly over the blocks.
        norm_eval: Accepted as in MMCls 0.25, whose Conformer does not use it (its BNs train normally).
        frozen_stages: Freeze the stem and first stage (1), then blocks ``conv_trans_2..frozen_stages``;
            0 (MMCls's default) freezes nothing.
        out_indices: Blocks (2..depths) whose outputs are returned; -1 is the last.
        init_cfg: Extra ``init_cfg``; the weights otherwise start as MMCls's (truncated N(0, 0.02) linears,
            Kaiming convs, zero last BN of each CNN block).
    """

    arch_zoo = {
        **dict.fromkeys(["t", "tiny"], {"embed_dims": 384, "channel_ratio": 1, "num_heads": 6, "depths": 12}),
        **dict.fromkeys(["s", "small"], {"embed_dims": 384, "channel_ratio": 4, "num_heads": 6, "depths": 12}),
        **dict.fromkeys(["b", "base"], {"embed_dims": 576, "channel_ratio": 6, "num_heads": 9, "depths": 12}),
    }

    def __init__(
        self,
        arch: str | dict = "tiny",
        patch_size: int = 16,
        base_channels: int = 64,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        with_cls_token: bool = True,
        drop_path_rate: float = 0.0,
        norm_eval: bool = True,
        frozen_stages: int = 0,
        out_indices: int | Sequence[int] = -1,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        essential = {"embed_dims", "depths", "num_heads", "channel_ratio"}
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(set(self.arch_zoo))}")
            self.arch_settings = dict(self.arch_zoo[arch.lower()])
        elif isinstance(arch, dict) and set(arch) == essential:
            self.arch_settings = dict(arch)
        else:
            raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}")
        if patch_size % 16:
            raise ValueError("The patch size of Conformer must be divisible by 16.")
        self.init_cfg = init_cfg
        self.num_features = self.embed_dims = self.arch_settings["embed_dims"]
        self.depths = self.arch_settings["depths"]
        self.num_heads = self.arch_settings["num_heads"]
        self.channel_ratio = self.arch_settings["channel_ratio"]
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = [self.depths + i + 1 if i < 0 else i for i in indices]
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages
        self.with_cls_token = with_cls_token
        if with_cls_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        trans_dpr = torch.linspace(0, drop_path_rate, self.depths, device="cpu").tolist()

        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.trans_down_stride = patch_size // 4

        stage1_channels = int(base_channels * self.channel_ratio)
        self.conv_1 = ConvBlock(64, stage1_channels, with_residual_conv=True)
        self.trans_patch_conv = nn.Conv2d(64, self.embed_dims, kernel_size=self.trans_down_stride,
                                          stride=self.trans_down_stride)
        self.trans_1 = TransformerEncoderLayer(
            embed_dims=self.embed_dims, num_heads=self.num_heads,
            feedforward_channels=int(self.embed_dims * mlp_ratio), drop_path_rate=trans_dpr[0], qkv_bias=qkv_bias,
            norm_cfg={"type": "LN", "eps": _EPS})

        # blocks 2..depths in three stages of depths // 3, each halving the CNN resolution after the first
        per_stage = self.depths // 3
        stage_channels = [stage1_channels, stage1_channels * 2, stage1_channels * 4]
        index = 2
        for stage in range(3):
            count = per_stage - 1 if stage == 0 else per_stage
            for k in range(count):
                first = stage > 0 and k == 0
                self.add_module(f"conv_trans_{index}", ConvTransBlock(
                    in_channels=stage_channels[stage - 1] if first else stage_channels[stage],
                    out_channels=stage_channels[stage], embed_dims=self.embed_dims,
                    conv_stride=2 if first else 1, with_residual_conv=first,
                    down_stride=self.trans_down_stride // 2 ** stage, num_heads=self.num_heads, mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias, drop_path_rate=trans_dpr[index - 1], with_cls_token=with_cls_token,
                    last_fusion=index == self.depths))
                index += 1
        self.fin_stage = index
        self.pooling = nn.AdaptiveAvgPool2d(1)
        self.trans_norm = nn.LayerNorm(self.embed_dims)
        self._init_mmcls_weights()
        self._freeze_stages()

    def _init_mmcls_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            if isinstance(m, ConvBlock):
                nn.init.zeros_(m.bn3.weight)  # zero_init_last_bn
        if self.with_cls_token:
            nn.init.trunc_normal_(self.cls_token, std=0.02)

    def _stage_modules(self, index: int) -> list[nn.Module | nn.Parameter]:
        # MMCls's stage 1 is the stem with the first block; then one conv_trans_{i} block a stage,
        # as many as there are
        if index == 0:
            stem = [self.conv1, self.bn1, self.conv_1, self.trans_patch_conv, self.trans_1]
            return stem + ([self.cls_token] if self.with_cls_token else [])
        return [getattr(self, f"conv_trans_{index + 1}")] if index < self.depths else []

    def train(self, mode: bool = True):
        """Switch mode, keeping frozen stages in eval mode.

        MMCls 0.25's Conformer takes ``norm_eval`` (default True) but never applies it: its BatchNorms
        train, so this skips :class:`FrozenStagesMixin`'s ``norm_eval`` step.
        """
        nn.Module.train(self, mode)
        self._freeze_stages()
        return self

    def _pad(self, x):
        # MMCls's AdaptivePadding (corner): pad bottom/right to a multiple of the token stride (issue #680)
        stride = self.trans_down_stride
        pad_h = math.ceil(x.shape[2] / stride) * stride - x.shape[2]
        pad_w = math.ceil(x.shape[3] / stride) * stride - x.shape[3]
        return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x

    def forward(self, x):
        """A tuple with ``[cnn_features, trans_features]`` per ``out_indices`` block."""
        batch = x.shape[0]
        x_base = self._pad(self.maxpool(self.act1(self.bn1(self.conv1(x)))))
        x = self.conv_1(x_base, out_conv2=False)
        x_t = self.trans_patch_conv(x_base).flatten(2).transpose(1, 2)
        if self.with_cls_token:
            x_t = torch.cat([self.cls_token.expand(batch, -1, -1), x_t], dim=1)
        x_t = self.trans_1(x_t)
        outs = []
        for i in range(2, self.fin_stage):
            x, x_t = getattr(self, f"conv_trans_{i}")(x, x_t)
            if i in self.out_indices:
                tokens = self.trans_norm(x_t)
                outs.append([self.pooling(x).flatten(1), tokens[:, 0] if self.with_cls_token else tokens.mean(1)])
        return tuple(outs)


def conformer_tiny_test(**kwargs) -> Conformer:
    """A 3-block Conformer (32-wide tokens, 16-channel CNN) on 32x32 images, for tests."""
    arch = {"embed_dims": 32, "channel_ratio": 1, "num_heads": 2, "depths": 3}
    kwargs.setdefault("base_channels", 16)
    return Conformer(arch=arch, **kwargs)


