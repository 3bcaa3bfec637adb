"""Vision Transformer (ViT) backbone.

Paper: Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
ICLR 2021 (https://arxiv.org/abs/2010.11929). Arguments, architectures and parameter names (``patch_embed.
projection``, ``cls_token``, ``pos_embed``, ``layers.N.ln1`` / ``attn.qkv`` / ``attn.proj`` / ``ln2`` /
``ffn.layers.0.0`` / ``ffn.layers.1``, final ``ln1``) are MMClassification 0.25's
``mmcls/models/backbones/vision_transformer.py``, so its checkpoints load unchanged. The attention is
timm's ``Attention`` (fused scaled-dot-product attention), whose ``qkv`` / ``proj`` names already match
MMCls's; the feed-forward keeps mmcv's ``FFN`` layout because timm's ``Mlp`` names its layers ``fc1``/``fc2``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import Attention, DropPath

from workers.models.layers import build_activation, build_norm_layer
from workers.registry import MODELS

__all__ = ["FFN", "PatchEmbed", "TransformerEncoderLayer", "VisionTransformer", "resize_pos_embed",
           "vit_tiny"]

logger = logging.getLogger(__name__)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def resize_pos_embed(pos_embed: torch.Tensor, src_shape: tuple[int, int], dst_shape: tuple[int, int],
                     mode: str = "bicubic", num_extra_tokens: int = 1) -> torch.Tensor:
    """Interpolate the patch part of a ``(1, L, C)`` position embedding from one patch grid to another.

    Args:
        pos_embed: Extra tokens first, then ``src_h * src_w`` patch positions.
        src_shape: ``(src_h, src_w)`` patch grid of ``pos_embed``.
        dst_shape: ``(dst_h, dst_w)`` wanted grid.
        mode: ``F.interpolate`` mode.
        num_extra_tokens: Class (and distillation) tokens kept as they are.
    """
    if tuple(src_shape) == tuple(dst_shape):
        return pos_embed
    _, length, channels = pos_embed.shape
    src_h, src_w = src_shape
    if length != src_h * src_w + num_extra_tokens:
        raise ValueError(f"pos_embed of length {length} is not a {src_h}x{src_w} grid plus {num_extra_tokens} "
                         f"extra tokens")
    extra, weight = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    weight = weight.reshape(1, src_h, src_w, channels).permute(0, 3, 1, 2)
    weight = F.interpolate(weight, size=tuple(dst_shape), align_corners=False, mode=mode)
    return torch.cat((extra, weight.flatten(2).transpose(1, 2)), dim=1)


class PatchEmbed(nn.Module):
    """Image to patch tokens with one strided conv ``projection`` (mmcv's ``PatchEmbed``).

    Inputs whose size is not a multiple of the stride are zero-padded at the bottom and right
    (mmcv's ``padding='corner'``).

    Args:
        in_channels: Image channels.
        embed_dims: Token size.
        kernel_size: Patch size.
        stride: Patch stride (default: ``kernel_size``).
        dilation: Conv dilation.
        bias: Conv bias.
        norm_cfg: Norm on the tokens, or ``None``.
        input_size: Image size, to know the patch grid (``init_out_size``) before any forward.
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: int = 768,
        kernel_size: int = 16,
        stride: int | None = None,
        dilation: int = 1,
        bias: bool = True,
        norm_cfg: dict | None = None,
        input_size: int | tuple[int, int] | None = None,
        conv_type: str = "Conv2d",
        padding: str = "corner",
    ):
        super().__init__()
        if conv_type != "Conv2d" or padding != "corner":
            raise NotImplementedError("PatchEmbed supports conv_type='Conv2d' with padding='corner' only")
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride if stride is not None else kernel_size)
        self.dilation = _pair(dilation)
        self.projection = nn.Conv2d(in_channels, embed_dims, self.kernel_size, self.stride,
                                    dilation=self.dilation, bias=bias)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None
        self.init_out_size = self.out_size(_pair(input_size)) if input_size is not None else None

    def _padding(self, size: tuple[int, int]) -> tuple[int, int]:
        pads = []
        for length, k, s, d in zip(size, self.kernel_size, self.stride, self.dilation, strict=True):
            out = math.ceil(length / s)
            pads.append(max((out - 1) * s + (k - 1) * d + 1 - length, 0))
        return pads[0], pads[1]

    def out_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The patch grid of an ``(H, W)`` image."""
        pad = self._padding(size)
        return tuple((length + p - d * (k - 1) - 1) // s + 1 for length, p, k, s, d in
                     zip(size, pad, self.kernel_size, self.stride, self.dilation, strict=True))

    def forward(self, x):
        """``(N, H*W, C)`` tokens and the ``(H, W)`` patch grid."""
        pad_h, pad_w = self._padding(tuple(x.shape[-2:]))
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.projection(x)
        out_size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, out_size


class FFN(nn.Module):
    """mmcv's feed-forward network: ``layers`` = (Linear, act, Dropout) blocks, then Linear, Dropout.

    Args:
        embed_dims: Token size.
        feedforward_channels: Hidden size.
        num_fcs: Linear layers, at least 2.
        ffn_drop: Dropout probability.
        act_cfg: Activation config (GELU).
    """

    def __init__(
        self,
        embed_dims: int,
        feedforward_channels: int,
        num_fcs: int = 2,
        ffn_drop: float = 0.0,
        act_cfg: dict | None = None,
    ):
        super().__init__()
        if num_fcs < 2:
            raise ValueError(f"num_fcs should be no less than 2, got {num_fcs}")
        act_cfg = act_cfg or {"type": "GELU"}
        layers: list[nn.Module] = []
        channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(nn.Sequential(nn.Linear(channels, feedforward_channels), build_activation(act_cfg),
                                        nn.Dropout(ffn_drop)))
            channels = feedforward_channels
        layers += [nn.Linear(feedforward_channels, embed_dims), nn.Dropout(ffn_drop)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class TransformerEncoderLayer(nn.Module):
    """Pre-norm encoder layer: ``x + attn(ln1(x))`` then ``x + ffn(ln2(x))``, each with stochastic depth.

    Args:
        embed_dims: Token size.
        num_heads: Attention heads.
        feedforward_channels: FFN hidden size.
        drop_rate: Dropout after the attention projection and in the FFN.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth probability.
        num_fcs: FFN linear layers.
        qkv_bias: Bias in the ``qkv`` projection.
        act_cfg: FFN activation (GELU).
        norm_cfg: Norm config (LN).
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        num_fcs: int = 2,
        qkv_bias: bool = True,
        act_cfg: dict | None = None,
        norm_cfg: dict | None = None,
    ):
        super().__init__()
        norm_cfg = norm_cfg or {"type": "LN"}
        self.embed_dims = embed_dims
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.attn = Attention(embed_dims, num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop_rate,
                              proj_drop=drop_rate)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.ffn = FFN(embed_dims, feedforward_channels, num_fcs=num_fcs, ffn_drop=drop_rate, act_cfg=act_cfg)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        # MMCls's TransformerEncoderLayer.init_weights: Xavier-uniform FFN weights, N(0, 1e-6) biases
        for m in self.ffn.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.ffn(self.norm2(x)))


@MODELS.register()
class VisionTransformer(nn.Module):
    """ViT returning, for each of ``out_indices``, ``[patch_token (N, C, h, w), cls_token (N, C)]``.

    With ``output_cls_token=False`` each output is the patch-token map alone; with ``avg_token`` the
    patch tokens are averaged (and normalised by ``ln2``) to ``(N, C)`` instead.

    Args:
        arch: ``'small'``, ``'base'``, ``'large'``, ``'huge'``, ``'deit-tiny'``, ``'deit-small'``,
            ``'deit-base'`` (or their first letters, ``'deit-t'`` ...), or a dict with ``embed_dims``,
            ``num_layers``, ``num_heads`` and ``feedforward_channels``.
        img_size: Training image size; fixes the size of ``pos_embed`` (other sizes are interpolated).
        patch_size: Patch size.
        in_channels: Image channels.
        out_indices: Layers whose outputs are returned; -1 is the last.
        drop_rate: Dropout after the position embedding and inside the layers.
        drop_path_rate: Stochastic depth, rising linearly over the layers up to this value.
        qkv_bias: Bias in the ``qkv`` projections.
        norm_cfg: Norm config (LN with eps 1e-6).
        final_norm: Normalise the last layer's output (``ln1``).
        with_cls_token: Keep the class token in the encoder's input.
        avg_token: Output the average of the patch tokens instead of their map.
        output_cls_token: Output ``[patch_token, cls_token]`` (needs ``with_cls_token``).
        interpolate_mode: How ``pos_embed`` is resized for other image sizes and checkpoints.
        patch_cfg: Overrides of the :class:`PatchEmbed` arguments.
        layer_cfgs: Overrides of the :class:`TransformerEncoderLayer` arguments: one dict for all layers
            or one per layer.
        init_cfg: Extra ``init_cfg`` (the configs add Kaiming on the patch conv); without it the weights
            start as MMCls's (truncated N(0, 0.02) ``pos_embed``, Xavier FFNs, zero ``cls_token``).
    """

    arch_zoo = {
        **dict.fromkeys(["s", "small"], {"embed_dims": 768, "num_layers": 8, "num_heads": 8,
                                         "feedforward_channels": 768 * 3}),
        **dict.fromkeys(["b", "base"], {"embed_dims": 768, "num_layers": 12, "num_heads": 12,
                                        "feedforward_channels": 3072}),
        **dict.fromkeys(["l", "large"], {"embed_dims": 1024, "num_layers": 24, "num_heads": 16,
                                         "feedforward_channels": 4096}),
        **dict.fromkeys(["h", "huge"], {"embed_dims": 1280, "num_layers": 32, "num_heads": 16,
                                        "feedforward_channels": 5120}),
        **dict.fromkeys(["deit-t", "deit-tiny"], {"embed_dims": 192, "num_layers": 12, "num_heads": 3,
                                                  "feedforward_channels": 192 * 4}),
        **dict.fromkeys(["deit-s", "deit-small"], {"embed_dims": 384, "num_layers": 12, "num_heads": 6,
                                                   "feedforward_channels": 384 * 4}),
        **dict.fromkeys(["deit-b", "deit-base"], {"embed_dims": 768, "num_layers": 12, "num_heads": 12,
                                                  "feedforward_channels": 768 * 4}),
    }
    num_extra_tokens = 1  # the class token

    def __init__(
        self,
        arch: str | dict = "base",
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        out_indices: int | Sequence[int] = -1,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        qkv_bias: bool = True,
        norm_cfg: dict | None = None,
        final_norm: bool = True,
        with_cls_token: bool = True,
        avg_token: bool = False,
        output_cls_token: bool = True,
        interpolate_mode: str = "bicubic",
        patch_cfg: dict | None = None,
        layer_cfgs: dict | Sequence[dict] | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        self.arch_settings = self._resolve_arch(arch)
        self.embed_dims = self.arch_settings["embed_dims"]
        self.num_layers = self.arch_settings["num_layers"]
        self.img_size = _pair(img_size)
        self.init_cfg = init_cfg
        norm_cfg = norm_cfg or {"type": "LN", "eps": 1e-6}

        patch_kwargs = {"in_channels": in_channels, "input_size": img_size, "embed_dims": self.embed_dims,
                        "kernel_size": patch_size, "stride": patch_size}
        patch_kwargs.update(patch_cfg or {})
        self.patch_embed = PatchEmbed(**patch_kwargs)
        self.patch_resolution = self.patch_embed.init_out_size
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]

        if output_cls_token and not with_cls_token:
            raise ValueError("with_cls_token must be True if set output_cls_token to True, "
                             f"but got {with_cls_token}")
        self.with_cls_token = with_cls_token
        self.output_cls_token = output_cls_token
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.interpolate_mode = interpolate_mode
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + self.num_extra_tokens, self.embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            if index < 0:
                indices[i] = self.num_layers + index
            if not 0 <= indices[i] < self.num_layers:
                raise ValueError(f"Invalid out_indices {index}")
        self.out_indices = indices

        if isinstance(layer_cfgs, dict) or layer_cfgs is None:
            layer_cfgs = [dict(layer_cfgs or {})] * self.num_layers
        if len(layer_cfgs) != self.num_layers:
            raise ValueError(f"layer_cfgs needs one dict per layer ({self.num_layers}), got {len(layer_cfgs)}")
        dpr = torch.linspace(0, drop_path_rate, self.num_layers, device="cpu").tolist()
        self.layers = nn.ModuleList()
        for i in range(self.num_layers):
            kwargs = {"embed_dims": self.embed_dims, "num_heads": self.arch_settings["num_heads"],
                      "feedforward_channels": self.arch_settings["feedforward_channels"],
                      "drop_rate": drop_rate, "drop_path_rate": dpr[i], "qkv_bias": qkv_bias,
                      "norm_cfg": norm_cfg}
            kwargs.update(layer_cfgs[i])
            self.layers.append(TransformerEncoderLayer(**kwargs))

        self.final_norm = final_norm
        if final_norm:
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.embed_dims, postfix=1)
            self.add_module(self.norm1_name, norm1)
        self.avg_token = avg_token
        if avg_token:
            self.norm2_name, norm2 = build_norm_layer(norm_cfg, self.embed_dims, postfix=2)
            self.add_module(self.norm2_name, norm2)

        self._init_extra_weights()
        self.register_load_state_dict_pre_hook(_adapt_pos_embed_hook)

    def _resolve_arch(self, arch: str | dict) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(set(self.arch_zoo))}")
            return dict(self.arch_zoo[arch.lower()])
        essential = {"embed_dims", "num_layers", "num_heads", "feedforward_channels"}
        if not isinstance(arch, dict) or not essential <= set(arch):
            raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}, got {arch!r}")
        return dict(arch)

    def _init_extra_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def adapt_checkpoint(self, state_dict: dict, prefix: str = "") -> None:
        """Resize a checkpoint's ``pos_embed`` (another ``img_size`` or patch grid) to this model's, in place."""
        name = prefix + "pos_embed"
        if name not in state_dict or state_dict[name].shape == self.pos_embed.shape:
            return
        ckpt = state_dict[name]
        side = int(math.sqrt(ckpt.shape[1] - self.num_extra_tokens))
        logger.info("Resize the pos_embed shape from %s to %s.", tuple(ckpt.shape), tuple(self.pos_embed.shape))
        state_dict[name] = resize_pos_embed(ckpt, (side, side), self.patch_resolution, self.interpolate_mode,
                                            self.num_extra_tokens)

    def _extra_tokens(self, batch: int) -> torch.Tensor:
        return self.cls_token.expand(batch, -1, -1)

    def _format(self, x: torch.Tensor, patch_resolution: tuple[int, int]):
        batch, _, channels = x.shape
        start = self.num_extra_tokens if self.with_cls_token else 0
        patch_token = x[:, start:].reshape(batch, *patch_resolution, channels).permute(0, 3, 1, 2)
        if self.avg_token:
            patch_token = self.norm2(patch_token.flatten(2).mean(dim=2))
        if not self.output_cls_token:
            return patch_token
        return [patch_token, *(x[:, i] for i in range(self.num_extra_tokens))]

    def forward(self, x):
        batch = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        x = torch.cat((self._extra_tokens(batch), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                 mode=self.interpolate_mode, num_extra_tokens=self.num_extra_tokens)
        x = self.drop_after_pos(x)
        if not self.with_cls_token:
            x = x[:, self.num_extra_tokens:]  # the extra tokens only carried the position embedding
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                outs.append(self._format(x, patch_resolution))
        return tuple(outs)


def _adapt_pos_embed_hook(module, state_dict, prefix, *args) -> None:
    # MMCls's ``_prepare_pos_embed``: a plain ``load_state_dict`` resizes pos_embed as well.
    module.adapt_checkpoint(state_dict, prefix)


def _create_vit(variant: str, **kwargs) -> VisionTransformer:
    arch = {"vit_tiny": {"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 64}}[variant]
    kwargs.setdefault("img_size", 32)
    kwargs.setdefault("patch_size", 8)
    return VisionTransformer(arch=arch, **kwargs)


def vit_tiny(**kwargs) -> VisionTransformer:
    """A 2-layer, 32-wide ViT on 32x32 images with 8x8 patches, for tests."""
    return _create_vit("vit_tiny", **kwargs)
