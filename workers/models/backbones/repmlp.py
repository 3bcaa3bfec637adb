"""RepMLPNet backbone, with structural re-parameterisation (``switch_to_deploy``).

Paper: Ding et al., "RepMLP: Re-parameterizing Convolutions into Fully-connected Layers for Image
Recognition", CVPR 2022 (https://arxiv.org/abs/2105.01883). Neither timm nor torchvision holds RepMLPNet,
so it is written here; arguments, architecture and parameter names (``patch_embed.projection`` /
``.norm``, ``stages.N.M.repmlp_block.gp.conv1.conv`` / ``fc3`` / ``fc3_bn`` / ``repconvK``,
``ffn_block.ffn_fc1``, ``norm1``/``norm2``, ``downsample_layers.N``, ``final_norm``) are MMClassification
0.25's ``mmcls/models/backbones/repmlp.py``, so its training-time and deploy checkpoints load unchanged.

Each block's Partition Perceptron is a grouped fully-connected layer (``fc3``, a 1x1 conv over the
flattened ``path_h x path_w`` map of each channel group) with a BatchNorm; during training local
``k x k`` conv-BN branches (``repconv1``, ``repconv3``) run beside it. ``switch_to_deploy`` folds the BNs
and the conv branches into ``fc3`` (a conv on a partition is a linear map of its pixels, so it is the
``fc3``-shaped matrix obtained by convolving an identity batch).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models.backbones.mobilenet_v2 import make_divisible
from workers.models.layers import ConvModule, build_activation, build_norm_layer
from workers.registry import MODELS

__all__ = ["RepMLPBlock", "RepMLPNet", "repmlp_tiny"]


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _fuse_bn(weight: torch.Tensor, bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BN into the preceding conv/fc weight; a BN over fewer channels than the weight's
    outputs (``fc3_bn`` over the sharesets) scales consecutive runs of outputs."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    bias = bn.bias - bn.running_mean * scale
    repeat = weight.shape[0] // scale.numel()
    scale, bias = scale.repeat_interleave(repeat), bias.repeat_interleave(repeat)
    return weight * scale.reshape(-1, 1, 1, 1), bias


class _RepMLPPatchEmbed(nn.Module):
    """Strided conv ``projection`` -> BN ``norm`` -> ReLU, keeping the ``(N, C, H, W)`` layout."""

    def __init__(self, in_channels: int, embed_dims: int, patch_size: tuple[int, int], norm_cfg: dict):
        super().__init__()
        self.projection = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size, bias=False)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.norm(self.projection(x)))


class GlobalPerceptron(nn.Module):
    """MMCls's ``SELayer`` returning the channel weights: avg-pool -> 1x1 conv, ReLU -> 1x1 conv, sigmoid.

    Args:
        input_channels: Channels.
        ratio: Hidden channels are ``make_divisible(input_channels // ratio, 8)``.
    """

    def __init__(self, input_channels: int, ratio: int):
        super().__init__()
        hidden = make_divisible(input_channels // ratio, 8)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(input_channels, hidden, 1, act_cfg={"type": "ReLU"})
        self.conv2 = ConvModule(hidden, input_channels, 1, act_cfg={"type": "Sigmoid"})

    def forward(self, x):
        return self.conv2(self.conv1(self.global_avgpool(x)))


class RepMLPBlock(nn.Module):
    """Global Perceptron x (Partition Perceptron + Local Perceptron) on ``path_h x path_w`` partitions.

    Args:
        channels: Input and output channels.
        path_h: Partition height.
        path_w: Partition width.
        reparam_conv_kernels: Kernel sizes of the Local Perceptron's conv-BN branches (training only).
        globalperceptron_ratio: Reduction of the Global Perceptron.
        num_sharesets: Channel groups sharing one ``fc3`` matrix.
        norm_cfg: Norm config (BN).
        deploy: Inference-time structure: ``fc3`` with bias, no BN, no conv branches.
    """

    def __init__(
        self,
        channels: int,
        path_h: int,
        path_w: int,
        reparam_conv_kernels: Sequence[int] | None = None,
        globalperceptron_ratio: int = 4,
        num_sharesets: int = 1,
        norm_cfg: dict | None = None,
        deploy: bool = False,
    ):
        super().__init__()
        norm_cfg = norm_cfg or {"type": "BN"}
        self.deploy = deploy
        self.channels = channels
        self.num_sharesets = num_sharesets
        self.path_h, self.path_w = path_h, path_w
        self._path_vec_channels = path_h * path_w * num_sharesets
        self.gp = GlobalPerceptron(channels, globalperceptron_ratio)
        self.fc3 = nn.Conv2d(self._path_vec_channels, self._path_vec_channels, 1, bias=deploy,
                             groups=num_sharesets)
        self.fc3_bn = nn.Identity() if deploy else build_norm_layer(norm_cfg, num_sharesets)[1]
        self.reparam_conv_kernels = tuple(reparam_conv_kernels) if reparam_conv_kernels else None
        if not deploy and self.reparam_conv_kernels:
            for k in self.reparam_conv_kernels:
                self.add_module(f"repconv{k}", ConvModule(num_sharesets, num_sharesets, k, padding=k // 2,
                                                          groups=num_sharesets, norm_cfg={"type": "BN"},
                                                          act_cfg=None))

    def _partition(self, x, h_parts: int, w_parts: int):
        # (N, C, H, W) -> (N, h_parts, w_parts, C, path_h, path_w)
        x = x.reshape(-1, self.channels, h_parts, self.path_h, w_parts, self.path_w)
        return x.permute(0, 2, 4, 1, 3, 5)

    def forward(self, x):
        global_vec = self.gp(x)
        shape = x.shape
        h_parts, w_parts = shape[2] // self.path_h, shape[3] // self.path_w
        partitions = self._partition(x, h_parts, w_parts)
        out = self.fc3(partitions.reshape(-1, self._path_vec_channels, 1, 1))
        out = self.fc3_bn(out.reshape(-1, self.num_sharesets, self.path_h, self.path_w))
        out = out.reshape(-1, h_parts, w_parts, self.num_sharesets, self.path_h, self.path_w)
        if self.reparam_conv_kernels and not self.deploy:
            conv_inputs = partitions.reshape(-1, self.num_sharesets, self.path_h, self.path_w)
            conv_out = sum(getattr(self, f"repconv{k}")(conv_inputs) for k in self.reparam_conv_kernels)
            out = out + conv_out.reshape(out.shape)
        out = out.permute(0, 3, 1, 4, 2, 5).reshape(shape)
        return out * global_vec

    def _conv_to_fc(self, kernel: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``fc3``-shaped matrix of a grouped ``k x k`` conv on one partition, and its bias."""
        pixels = self.path_h * self.path_w
        eye = torch.eye(pixels, dtype=kernel.dtype, device=kernel.device)
        probes = eye.repeat(1, self.num_sharesets).reshape(pixels, self.num_sharesets, self.path_h, self.path_w)
        response = F.conv2d(probes, kernel, padding=(kernel.shape[2] // 2, kernel.shape[3] // 2),
                            groups=self.num_sharesets)
        weight = response.reshape(pixels, self.num_sharesets * pixels).t()
        return weight, bias.repeat_interleave(pixels)

    def get_equivalent_fc3(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``fc3``'s weight and bias with its BN and the Local Perceptron folded in."""
        weight, bias = _fuse_bn(self.fc3.weight, self.fc3_bn)
        if self.reparam_conv_kernels:
            largest = max(self.reparam_conv_kernels)
            kernel, conv_bias = 0, 0
            for k in self.reparam_conv_kernels:
                branch = getattr(self, f"repconv{k}")
                k_weight, k_bias = _fuse_bn(branch.conv.weight, getattr(branch, branch.norm_name))
                kernel = kernel + F.pad(k_weight, [(largest - k) // 2] * 4)
                conv_bias = conv_bias + k_bias
            fc_weight, fc_bias = self._conv_to_fc(kernel, conv_bias)
            weight = weight + fc_weight.reshape_as(weight)
            bias = bias + fc_bias
        return weight, bias

    @torch.no_grad()
    def local_inject(self) -> None:
        """Switch to the deploy structure (BN statistics as in eval mode), in place."""
        if self.deploy:
            return
        weight, bias = self.get_equivalent_fc3()
        for k in self.reparam_conv_kernels or ():
            delattr(self, f"repconv{k}")
        self.fc3 = nn.Conv2d(self._path_vec_channels, self._path_vec_channels, 1, bias=True,
                             groups=self.num_sharesets, device=weight.device, dtype=weight.dtype)
        self.fc3.weight.copy_(weight)
        self.fc3.bias.copy_(bias)
        self.fc3_bn = nn.Identity()
        self.deploy = True


class ConvFFN(nn.Module):
    """1x1 conv-BN -> GELU -> 1x1 conv-BN (``ffn_fc1``, ``act``, ``ffn_fc2``)."""

    def __init__(self, in_channels: int, hidden_channels: int, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None):
        super().__init__()
        norm_cfg = norm_cfg or {"type": "BN"}
        self.ffn_fc1 = ConvModule(in_channels, hidden_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.ffn_fc2 = ConvModule(hidden_channels, in_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.act = build_activation(act_cfg or {"type": "GELU"})

    def forward(self, x):
        return self.ffn_fc2(self.act(self.ffn_fc1(x)))


class RepMLPNetUnit(nn.Module):
    """``x + repmlp_block(norm1(x))`` then ``+ ffn_block(norm2(.))``."""

    def __init__(self, channels: int, path_h: int, path_w: int, reparam_conv_kernels, globalperceptron_ratio: int,
                 norm_cfg: dict, ffn_expand: int = 4, num_sharesets: int = 1, deploy: bool = False):
        super().__init__()
        self.repmlp_block = RepMLPBlock(channels, path_h, path_w, reparam_conv_kernels, globalperceptron_ratio,
                                        num_sharesets, deploy=deploy)
        self.ffn_block = ConvFFN(channels, channels * ffn_expand)
        self.norm1 = build_norm_layer(norm_cfg, channels)[1]
        self.norm2 = build_norm_layer(norm_cfg, channels)[1]

    def forward(self, x):
        x = x + self.repmlp_block(self.norm1(x))
        return x + self.ffn_block(self.norm2(x))


@MODELS.register()
class RepMLPNet(nn.Module):
    """RepMLPNet returning a tuple of the outputs of ``out_indices`` (the last one through ``final_norm``).

    The partitions cover the whole feature map of ``img_size`` images, so other input sizes are refused.

    Args:
        arch: ``'b'``/``'base'``, or a dict with ``channels``, ``depths`` and ``sharesets_nums`` (one per stage).
        img_size: Input size.
        in_channels: Image channels.
        patch_size: Patch embedding stride.
        out_indices: Stages whose outputs are returned.
        reparam_conv_kernels: Kernel sizes of the Local Perceptron branches.
        globalperceptron_ratio: Reduction of the Global Perceptron.
        conv_cfg: Only plain convolutions (``None``).
        norm_cfg: Norm config (BN).
        patch_cfg: Overrides of the patch embedding (``kernel_size``/``stride`` as ``patch_size``).
        final_norm: BN on the last stage's output.
        deploy: Build the inference-time structure.
        init_cfg: Extra ``init_cfg``.
    """

    arch_zoo = {
        **dict.fromkeys(["b", "base"], {"channels": [96, 192, 384, 768], "depths": [2, 2, 12, 2],
                                        "sharesets_nums": [1, 4, 32, 128]}),
    }
    num_extra_tokens = 0

    def __init__(
        self,
        arch: str | dict,
        img_size: int | tuple[int, int] = 224,
        in_channels: int = 3,
        patch_size: int | tuple[int, int] = 4,
        out_indices: Sequence[int] = (3,),
        reparam_conv_kernels: Sequence[int] | None = (3,),
        globalperceptron_ratio: int = 4,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        patch_cfg: dict | None = None,
        final_norm: bool = True,
        deploy: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(self.arch_zoo)}")
            arch = self.arch_zoo[arch.lower()]
        essential = {"channels", "depths", "sharesets_nums"}
        if not isinstance(arch, dict) or set(arch) != essential:
            raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}, got {arch!r}")
        if len({len(v) for v in arch.values()}) != 1:
            raise ValueError("channels, depths and sharesets_nums need one entry per stage")
        if conv_cfg not in (None, {"type": "Conv"}, {"type": "Conv2d"}):
            raise NotImplementedError(f"conv_cfg {conv_cfg!r} is not supported")
        self.arch_settings = dict(arch)
        self.img_size = _pair(img_size)
        norm_cfg = norm_cfg or {"type": "BN", "requires_grad": True}
        self.init_cfg = init_cfg
        channels, depths, sharesets = arch["channels"], arch["depths"], arch["sharesets_nums"]
        self.num_stage = len(channels)
        patch = _pair((patch_cfg or {}).get("kernel_size", patch_size))
        self.patch_embed = _RepMLPPatchEmbed(in_channels, channels[0], patch, norm_cfg)
        self.patch_resolution = (self.img_size[0] // patch[0], self.img_size[1] // patch[1])
        self.stages = nn.ModuleList()
        self.downsample_layers = nn.ModuleList()
        for i in range(self.num_stage):
            path_h, path_w = self.patch_resolution[0] // 2**i, self.patch_resolution[1] // 2**i
            self.stages.append(nn.Sequential(*[
                RepMLPNetUnit(channels[i], path_h, path_w, reparam_conv_kernels, globalperceptron_ratio, norm_cfg,
                              num_sharesets=sharesets[i], deploy=deploy) for _ in range(depths[i])]))
            if i < self.num_stage - 1:
                self.downsample_layers.append(ConvModule(channels[i], channels[i + 1], 2, stride=2,
                                                         norm_cfg=norm_cfg))
        self.out_indices = tuple(out_indices)
        self.final_norm = build_norm_layer(norm_cfg, channels[-1])[1] if final_norm else nn.Identity()

    def forward(self, x):
        if tuple(x.shape[2:]) != self.img_size:
            raise ValueError("The Rep-MLP doesn't support dynamic input shape. "
                             f"Please input images with shape {self.img_size}")
        x = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < self.num_stage - 1:
                x = self.downsample_layers[i](x)
            if i in self.out_indices:
                outs.append(self.final_norm(x) if i == self.num_stage - 1 else x)
        return tuple(outs)

    def switch_to_deploy(self) -> None:
        """Fold every block's BNs and Local Perceptron into its ``fc3``, in place."""
        for m in self.modules():
            if isinstance(m, RepMLPBlock):
                m.local_inject()


def _create_repmlp(variant: str, **kwargs) -> RepMLPNet:
    arch = {"repmlp_tiny": {"channels": [8, 16, 32, 64], "depths": [1, 1, 2, 1],
                            "sharesets_nums": [1, 2, 4, 8]}}[variant]
    kwargs.setdefault("img_size", 32)
    kwargs.setdefault("reparam_conv_kernels", (1, 3))
    return RepMLPNet(arch=kwargs.pop("arch", arch), **kwargs)


def repmlp_tiny(**kwargs) -> RepMLPNet:
    """A four-stage RepMLPNet of 8-64 channels on 32x32 images, for tests."""
    return _create_repmlp("repmlp_tiny", **kwargs)
