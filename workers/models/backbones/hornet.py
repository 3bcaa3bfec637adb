"""HorNet backbone (recursive gated convolutions, gnConv).

Paper: Rao et al., "HorNet: Efficient High-Order Spatial Interactions with Recursive Gated Convolutions",
NeurIPS 2022 (https://arxiv.org/abs/2207.14284). Neither timm nor torchvision has HorNet, so it is
written here. Arguments, ``arch`` settings (``tiny`` ... ``large``, their ``-gf`` global-filter versions and
``-gf384``) and parameter names (``downsample_layers.i``, ``stages.i.j.norm1`` / ``gnconv.{proj_in,
dwconv, projs.k, proj_out}`` / ``norm2`` / ``pwconv1`` / ``pwconv2`` / ``gamma{1,2}.weight``, global filters'
``dwconv.{dw, complex_weight, pre_norm, post_norm}``, and ``norm{i}``) are MMClassification 0.25's
``mmcls/models/backbones/hornet.py``, so its checkpoints load unchanged.

The norms are :class:`HorNetLayerNorm`, a module of its own as in MMCls (not an ``nn.LayerNorm``), which is
why mmcv's counter, and ours, leave them out of the published FLOPs; the FFT of the global filter is a
functional op and is not counted either.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from timm.layers import DropPath

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.registry import MODELS

__all__ = ["GlobalLocalFilter", "HorNet", "HorNetBlock", "HorNetLayerNorm", "LayerScale", "gnConv",
           "hornet_tiny_test"]


class HorNetLayerNorm(nn.Module):
    """LayerNorm over the channels of ``(N, H, W, C)`` (``channels_last``) or ``(N, C, H, W)`` tensors.

    Args:
        normalized_shape: Channels.
        eps: Added to the variance.
        data_format: ``'channels_last'`` or ``'channels_first'``.
    """

    def __init__(self, normalized_shape: int, eps: float = 1e-6, data_format: str = "channels_last"):
        super().__init__()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("data_format must be channels_last or channels_first")
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))
        self.eps = eps
        self.data_format = data_format
        self.normalized_shape = (normalized_shape,)

    def forward(self, x):
        if self.data_format == "channels_last":
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class LayerScale(nn.Module):
    """A learnable per-channel ``weight`` multiplying the input (MMCls's ``LayerScale``).

    Args:
        dim: Channels.
        layer_scale_init_value: Initial value of ``weight``.
        data_format: ``'channels_last'`` or ``'channels_first'``.
    """

    def __init__(self, dim: int, layer_scale_init_value: float = 1e-5, data_format: str = "channels_last"):
        super().__init__()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("data_format must be channels_last or channels_first")
        self.data_format = data_format
        self.weight = nn.Parameter(torch.ones(dim) * layer_scale_init_value)

    def forward(self, x):
        if self.data_format == "channels_first":
            return x * self.weight[:, None, None]
        return x * self.weight


class GlobalLocalFilter(nn.Module):
    """Half the channels through a 3x3 depthwise conv, half through a learnable filter in the Fourier domain.

    Args:
        dim: Channels.
        h: Height of ``complex_weight`` (the input's; other sizes are interpolated).
        w: Width of ``complex_weight`` (``W // 2 + 1`` of the input).
    """

    def __init__(self, dim: int, h: int = 14, w: int = 8):
        super().__init__()
        self.dw = nn.Conv2d(dim // 2, dim // 2, 3, padding=1, bias=False, groups=dim // 2)
        self.complex_weight = nn.Parameter(torch.randn(dim // 2, h, w, 2, dtype=torch.float32) * 0.02)
        self.pre_norm = HorNetLayerNorm(dim, eps=1e-6, data_format="channels_first")
        self.post_norm = HorNetLayerNorm(dim, eps=1e-6, data_format="channels_first")

    def forward(self, x):
        x = self.pre_norm(x)
        x1, x2 = torch.chunk(x, 2, dim=1)
        x1 = self.dw(x1)
        batch, channels, height, width = x2.shape
        x2 = torch.fft.rfft2(x2.to(torch.float32), dim=(2, 3), norm="ortho")
        weight = self.complex_weight
        if weight.shape[1:3] != x2.shape[2:4]:
            weight = F.interpolate(weight.permute(3, 0, 1, 2), size=x2.shape[2:4], mode="bilinear",
                                   align_corners=True).permute(1, 2, 3, 0)
        x2 = x2 * torch.view_as_complex(weight.contiguous())
        x2 = torch.fft.irfft2(x2, s=(height, width), dim=(2, 3), norm="ortho")
        x = torch.cat([x1.unsqueeze(2), x2.unsqueeze(2)], dim=2).reshape(batch, 2 * channels, height, width)
        return self.post_norm(x)


class gnConv(nn.Module):  # noqa: N801 - MMCls's name
    """Recursive gated convolution of ``order`` steps.

    Args:
        dim: Channels.
        order: Interaction order; channels ``dim / 2**(order-1) ... dim`` at each step.
        dw_cfg: ``dict(type='DW', kernel_size=7)`` (depthwise conv) or ``dict(type='GF', h=..., w=...)``
            (:class:`GlobalLocalFilter`).
        scale: Scale of the depthwise branch's output.
    """

    def __init__(self, dim: int, order: int = 5, dw_cfg: dict | None = None, scale: float = 1.0):
        super().__init__()
        self.order = order
        self.dims = [dim // 2**i for i in range(order)][::-1]
        self.proj_in = nn.Conv2d(dim, 2 * dim, 1)
        cfg = dict(dw_cfg or {"type": "DW", "kernel_size": 7})
        dw_type = cfg.pop("type")
        if dw_type == "DW":
            kernel_size = cfg.get("kernel_size", 7)
            self.dwconv = nn.Conv2d(sum(self.dims), sum(self.dims), kernel_size, padding=(kernel_size - 1) // 2,
                                    bias=cfg.get("bias", True), groups=sum(self.dims))
        elif dw_type == "GF":
            self.dwconv = GlobalLocalFilter(sum(self.dims), **cfg)
        else:
            raise ValueError(f"dw_type should be 'DW' or 'GF', got {dw_type!r}")
        self.proj_out = nn.Conv2d(dim, dim, 1)
        self.projs = nn.ModuleList([nn.Conv2d(self.dims[i], self.dims[i + 1], 1) for i in range(order - 1)])
        self.scale = scale

    def forward(self, x):
        y, x = torch.split(self.proj_in(x), (self.dims[0], sum(self.dims)), dim=1)
        dw_list = torch.split(self.dwconv(x) * self.scale, self.dims, dim=1)
        x = y * dw_list[0]
        for i in range(self.order - 1):
            x = self.projs[i](x) * dw_list[i + 1]
        return self.proj_out(x)


class HorNetBlock(nn.Module):
    """``x + gamma1 * gnconv(norm1(x))`` then a ConvNeXt-style MLP ``x + gamma2 * mlp(norm2(x))``.

    Args:
        dim: Channels.
        order: Order of the :class:`gnConv`.
        dw_cfg: Its depthwise branch.
        scale: Its depthwise branch's scale.
        drop_path_rate: Stochastic depth probability.
        use_layer_scale: Scale both branches with a learnable :class:`LayerScale`.
    """

    def __init__(self, dim: int, order: int = 5, dw_cfg: dict | None = None, scale: float = 1.0,
                 drop_path_rate: float = 0.0, use_layer_scale: bool = True):
        super().__init__()
        self.out_channels = dim
        self.norm1 = HorNetLayerNorm(dim, eps=1e-6, data_format="channels_first")
        self.gnconv = gnConv(dim, order, dw_cfg, scale)
        self.norm2 = HorNetLayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        if use_layer_scale:
            self.gamma1 = LayerScale(dim, data_format="channels_first")
            self.gamma2 = LayerScale(dim)
        else:
            self.gamma1, self.gamma2 = nn.Identity(), nn.Identity()
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x):
        x = x + self.drop_path(self.gamma1(self.gnconv(self.norm1(x))))
        out = self.gamma2(self.pwconv2(self.act(self.pwconv1(self.norm2(x.permute(0, 2, 3, 1))))))
        return x + self.drop_path(out.permute(0, 3, 1, 2))


def _gf(h14: int, w8: int, h7: int, w4: int) -> list[dict]:
    return [{"type": "DW", "kernel_size": 7}, {"type": "DW", "kernel_size": 7}, {"type": "GF", "h": h14, "w": w8},
            {"type": "GF", "h": h7, "w": w4}]


def _arch(base_dim: int, dw_cfg: list[dict] | None = None) -> dict:
    return {"base_dim": base_dim, "depths": [2, 3, 18, 2], "orders": [2, 3, 4, 5],
            "dw_cfg": dw_cfg or [{"type": "DW", "kernel_size": 7}] * 4}


@MODELS.register()
class HorNet(FrozenStagesMixin, nn.Module):
    """HorNet returning, for each of ``out_indices``, the stage output normalised by ``norm{i}``.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'`` (or ``t``/``s``/``b``/``l``), each also with
            ``-gf`` (global filters in the last two stages); ``'base-gf384'``, ``'large-gf384'``; or a dict
            with ``base_dim``, ``depths``, ``orders`` and ``dw_cfg`` (one per stage).
        in_channels: Image channels.
        drop_path_rate: Stochastic depth, rising linearly over all blocks up to this value.
        scale: Scale of the gnConv depthwise branch.
        use_layer_scale: Layer scale in the blocks.
        out_indices: Stages whose outputs are returned.
        frozen_stages: Stages ``0..frozen_stages`` (downsampling, blocks, norm) frozen in eval mode; -1: none.
        with_cp: Activation checkpointing in the stages.
        gap_before_final_norm: Average-pool each output to ``(N, C)`` before its norm.
        init_cfg: ``init_cfg`` applied after construction.
    """

    arch_zoo = {
        **dict.fromkeys(["t", "tiny"], _arch(64)),
        **dict.fromkeys(["t-gf", "tiny-gf"], _arch(64, _gf(14, 8, 7, 4))),
        **dict.fromkeys(["s", "small"], _arch(96)),
        **dict.fromkeys(["s-gf", "small-gf"], _arch(96, _gf(14, 8, 7, 4))),
        **dict.fromkeys(["b", "base"], _arch(128)),
        **dict.fromkeys(["b-gf", "base-gf"], _arch(128, _gf(14, 8, 7, 4))),
        **dict.fromkeys(["b-gf384", "base-gf384"], _arch(128, _gf(24, 12, 13, 7))),
        **dict.fromkeys(["l", "large"], _arch(192)),
        **dict.fromkeys(["l-gf", "large-gf"], _arch(192, _gf(14, 8, 7, 4))),
        **dict.fromkeys(["l-gf384", "large-gf384"], _arch(192, _gf(24, 12, 13, 7))),
    }

    frozen_stages_inclusive = True  # MMCls's HorNet freezes stages 0..frozen_stages

    def __init__(
        self,
        arch: str | dict = "tiny",
        in_channels: int = 3,
        drop_path_rate: float = 0.0,
        scale: float = 1 / 3,
        use_layer_scale: bool = True,
        out_indices: int | Sequence[int] = (3,),
        frozen_stages: int = -1,
        with_cp: bool = False,
        gap_before_final_norm: bool = True,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(self.arch_zoo)}")
            arch = self.arch_zoo[arch.lower()]
        essential = {"base_dim", "depths", "orders", "dw_cfg"}
        if not isinstance(arch, dict) or set(arch) != essential:
            raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}, got {arch!r}")
        self.arch_settings = arch
        self.scale = scale
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp
        self.gap_before_final_norm = gap_before_final_norm
        self.init_cfg = init_cfg
        dims = [arch["base_dim"] * 2**i for i in range(4)]

        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(in_channels, dims[0], kernel_size=4, stride=4),
            HorNetLayerNorm(dims[0], eps=1e-6, data_format="channels_first"))])
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                HorNetLayerNorm(dims[i], eps=1e-6, data_format="channels_first"),
                nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2)))

        dpr = torch.linspace(0, drop_path_rate, sum(arch["depths"]), device="cpu").tolist()
        start = 0
        self.stages = nn.ModuleList()
        for i in range(4):
            self.stages.append(nn.Sequential(*[
                HorNetBlock(dims[i], order=arch["orders"][i], dw_cfg=arch["dw_cfg"][i], scale=scale,
                            drop_path_rate=dpr[start + j], use_layer_scale=use_layer_scale)
                for j in range(arch["depths"][i])]))
            start += arch["depths"][i]

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            if index < 0:
                indices[i] = len(self.stages) + index
            if not 0 <= indices[i] < len(self.stages):
                raise ValueError(f"Invalid out_indices {index}")
        self.out_indices = indices
        for i in self.out_indices:
            self.add_module(f"norm{i}", HorNetLayerNorm(dims[i], eps=1e-6, data_format="channels_first"))
        self._freeze_stages()

    def _stage_modules(self, index: int) -> list[nn.Module]:
        modules = [self.downsample_layers[index], self.stages[index]]
        return modules + ([getattr(self, f"norm{index}")] if index in self.out_indices else [])

    def forward(self, x):
        outs = []
        for i in range(4):
            x = self.downsample_layers[i](x)
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint_sequential(self.stages[i], len(self.stages[i]), x, use_reentrant=False)
            else:
                x = self.stages[i](x)
            if i in self.out_indices:
                norm = getattr(self, f"norm{i}")
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean([-2, -1], keepdim=True)).flatten(1))
                else:
                    outs.append(norm(x).contiguous())
        return tuple(outs)


def hornet_tiny_test(**kwargs) -> HorNet:
    """A 4-stage HorNet with one block per stage, 8..64 channels, global filters in the last two, for tests."""
    arch = {"base_dim": 8, "depths": [1, 1, 1, 1], "orders": [2, 2, 3, 3], "dw_cfg": _gf(4, 3, 2, 2)}
    return HorNet(arch=arch, **kwargs)
