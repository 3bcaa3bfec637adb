"""Tokens-to-Token ViT (T2T-ViT) backbone, in-house (neither timm nor torchvision has it).

Paper: Yuan et al., "Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet", ICCV 2021
(https://arxiv.org/abs/2101.11986). Arguments, layers and parameter names (``tokens_to_token.attention1`` /
``attention2`` / ``project``, ``encoder.{i}.ln1`` / ``attn.qkv`` / ``attn.proj`` / ``ln2`` /
``ffn.layers.0.0`` / ``ffn.layers.1``, ``norm``, the sinusoid ``pos_embed`` buffer) are MMClassification
0.25's ``mmcls/models/backbones/t2t_vit.py`` (the "T2T-ViT_t" transformer variant), so its checkpoints load
unchanged. The attention is fused scaled-dot-product attention; as in the official code it scales by
``(input_dims // num_heads) ** -0.5`` and, in the tokens-to-token layers whose input and token sizes differ,
adds the values to the output instead of the input.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath

from workers.models.backbones.vision_transformer import FFN, resize_pos_embed
from workers.models.layers import build_norm_layer
from workers.registry import MODELS

__all__ = ["T2TModule", "T2TTransformerLayer", "T2T_ViT", "get_sinusoid_encoding", "t2t_vit_tiny_test"]

logger = logging.getLogger(__name__)


class T2TAttention(nn.Module):
    """Multi-head self-attention whose input size may differ from its token size (MMCls's ``MultiheadAttention``).

    Args:
        input_dims: Input token size.
        embed_dims: Output token size.
        num_heads: Attention heads.
        qkv_bias: Bias in the ``qkv`` projection.
        qk_scale: Attention scale (default ``head_dims ** -0.5``).
        attn_drop: Dropout on the attention weights.
        proj_drop: Dropout after ``proj``.
        v_shortcut: Add the values (single head) to the output: the residual of a layer that changes size.
    """

    def __init__(
        self,
        input_dims: int,
        embed_dims: int,
        num_heads: int,
        qkv_bias: bool = False,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        v_shortcut: bool = False,
    ):
        super().__init__()
        if v_shortcut and num_heads != 1:
            raise ValueError("v_shortcut needs num_heads=1 (the values are added to the output)")
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = qk_scale or self.head_dims ** -0.5
        self.v_shortcut = v_shortcut
        self.qkv = nn.Linear(input_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        batch, length, _ = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0,
                                             scale=self.scale)
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(batch, length, self.embed_dims)))
        return v.squeeze(1) + out if self.v_shortcut else out


class T2TTransformerLayer(nn.Module):
    """Pre-norm transformer layer whose ``input_dims`` may differ from ``embed_dims``.

    Args:
        embed_dims: Token size.
        num_heads: Attention heads.
        feedforward_channels: FFN hidden size.
        input_dims: Input token size when it differs from ``embed_dims`` (then the attention's residual is
            its values, not the input).
        drop_rate: Dropout after the attention projection and in the FFN.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth probability.
        num_fcs: FFN linear layers.
        qkv_bias: Bias in the ``qkv`` projection.
        qk_scale: Attention scale (default ``(input_dims // num_heads) ** -0.5``, as the official code).
        act_cfg: FFN activation (GELU).
        norm_cfg: Norm config (LN).
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        input_dims: int | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        num_fcs: int = 2,
        qkv_bias: bool = False,
        qk_scale: float | None = None,
        act_cfg: dict | None = None,
        norm_cfg: dict | None = None,
    ):
        super().__init__()
        norm_cfg = norm_cfg or {"type": "LN"}
        self.v_shortcut = input_dims is not None
        input_dims = input_dims or embed_dims
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, input_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.attn = T2TAttention(input_dims, embed_dims, num_heads, qkv_bias=qkv_bias,
                                 qk_scale=qk_scale or (input_dims // num_heads) ** -0.5, attn_drop=attn_drop_rate,
                                 proj_drop=drop_rate, v_shortcut=self.v_shortcut)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.ffn = FFN(embed_dims, feedforward_channels, num_fcs=num_fcs, ffn_drop=drop_rate, act_cfg=act_cfg)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def forward(self, x):
        if self.v_shortcut:
            x = self.drop_path(self.attn(self.norm1(x)))
        else:
            x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class T2TModule(nn.Module):
    """Tokens-to-token: three soft splits (unfolds of stride 4, 2, 2) with a transformer layer between them.

    Args:
        img_size: Input size (fixes ``init_out_size``, the token grid of the position embedding).
        in_channels: Image channels.
        embed_dims: Size of the final tokens (``project``).
        token_dims: Token size inside the module.
        use_performer: The Performer attention variant (not implemented, as in MMCls).
    """

    def __init__(self, img_size: int = 224, in_channels: int = 3, embed_dims: int = 384, token_dims: int = 64,
                 use_performer: bool = False):
        super().__init__()
        if use_performer:
            raise NotImplementedError("Performer hasn't been implemented.")
        self.embed_dims = embed_dims
        self.soft_split0 = nn.Unfold(kernel_size=(7, 7), stride=(4, 4), padding=(2, 2))
        self.soft_split1 = nn.Unfold(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
        self.soft_split2 = nn.Unfold(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
        self.attention1 = T2TTransformerLayer(input_dims=in_channels * 7 * 7, embed_dims=token_dims, num_heads=1,
                                              feedforward_channels=token_dims)
        self.attention2 = T2TTransformerLayer(input_dims=token_dims * 3 * 3, embed_dims=token_dims, num_heads=1,
                                              feedforward_channels=token_dims)
        self.project = nn.Linear(token_dims * 3 * 3, embed_dims)
        out_side = img_size // (4 * 2 * 2)
        self.init_out_size = (out_side, out_side)
        self.num_patches = out_side ** 2

    @staticmethod
    def _unfold_size(unfold: nn.Unfold, size: tuple[int, int]) -> tuple[int, int]:
        kernel, stride, padding = unfold.kernel_size, unfold.stride, unfold.padding
        return tuple((length + 2 * p - k) // s + 1
                     for length, k, s, p in zip(size, kernel, stride, padding, strict=True))

    def forward(self, x):
        """``(N, L, embed_dims)`` tokens and their ``(h, w)`` grid."""
        size = self._unfold_size(self.soft_split0, tuple(x.shape[2:]))
        x = self.soft_split0(x).transpose(1, 2)
        for step in (1, 2):
            x = getattr(self, f"attention{step}")(x).transpose(1, 2)
            x = x.reshape(x.shape[0], x.shape[1], *size)
            split = getattr(self, f"soft_split{step}")
            size = self._unfold_size(split, size)
            x = split(x).transpose(1, 2)
        return self.project(x), size


def get_sinusoid_encoding(n_position: int, embed_dims: int) -> torch.Tensor:
    """The ``(1, n_position, embed_dims)`` sinusoid table of "Attention Is All You Need" (sin even, cos odd dims)."""
    position = torch.arange(n_position, dtype=torch.float64, device="cpu").unsqueeze(1)
    exponent = 2 * (torch.arange(embed_dims, device="cpu") // 2) / embed_dims
    table = position / torch.pow(torch.tensor(10000.0, dtype=torch.float64, device="cpu"), exponent)
    table[:, 0::2] = torch.sin(table[:, 0::2])
    table[:, 1::2] = torch.cos(table[:, 1::2])
    return table.float().unsqueeze(0)


@MODELS.register()
class T2T_ViT(nn.Module):  # noqa: N801 - MMCls's type name
    """T2T-ViT returning, for each of ``out_indices``, ``[patch_token (N, C, h, w), cls_token (N, C)]``.

    Args:
        img_size: Training image size; fixes the position embedding's grid (other sizes are interpolated).
        in_channels: Image channels.
        embed_dims: Token size.
        num_layers: Encoder layers.
        out_indices: Layers whose outputs are returned; -1 is the last.
        drop_rate: Dropout after the position embedding.
        drop_path_rate: Stochastic depth, rising linearly over the encoder layers.
        norm_cfg: Norm config (LN).
        final_norm: Normalise the last layer's output (``norm``).
        with_cls_token: Keep the class token in the encoder's input.
        output_cls_token: Output ``[patch_token, cls_token]`` (needs ``with_cls_token``); else the map alone.
        interpolate_mode: How ``pos_embed`` is resized for other image sizes and checkpoints.
        t2t_cfg: Extra :class:`T2TModule` arguments (``token_dims``, ``use_performer``).
        layer_cfgs: Overrides of the encoder layers' arguments: one dict for all or one per layer
            (defaults: 6 heads, FFN 3x, no qkv bias).
        init_cfg: Extra ``init_cfg`` (the configs use truncated N(0, 0.02) linears and unit LayerNorms).
    """

    num_extra_tokens = 1  # the class token

    def __init__(
        self,
        img_size: int = 224,
        in_channels: int = 3,
        embed_dims: int = 384,
        num_layers: int = 14,
        out_indices: int | Sequence[int] = -1,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_cfg: dict | None = None,
        final_norm: bool = True,
        with_cls_token: bool = True,
        output_cls_token: bool = True,
        interpolate_mode: str = "bicubic",
        t2t_cfg: dict | None = None,
        layer_cfgs: dict | Sequence[dict] | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        self.init_cfg = init_cfg
        norm_cfg = norm_cfg or {"type": "LN"}
        self.embed_dims = embed_dims
        self.tokens_to_token = T2TModule(img_size=img_size, in_channels=in_channels, embed_dims=embed_dims,
                                         **(t2t_cfg or {}))
        self.patch_resolution = self.tokens_to_token.init_out_size
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        if output_cls_token and not with_cls_token:
            raise ValueError("with_cls_token must be True if set output_cls_token to True, "
                             f"but got {with_cls_token}")
        self.with_cls_token = with_cls_token
        self.output_cls_token = output_cls_token
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.interpolate_mode = interpolate_mode
        with torch.device("cpu"):  # computed values, even while the model is built on the meta device
            table = get_sinusoid_encoding(num_patches + self.num_extra_tokens, embed_dims)
        self.register_buffer("pos_embed", table.to(self.cls_token.device))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            if index < 0:
                indices[i] = num_layers + index
            if not 0 <= indices[i] < num_layers:
                raise ValueError(f"Invalid out_indices {index}")
        self.out_indices = indices

        if isinstance(layer_cfgs, dict) or layer_cfgs is None:
            layer_cfgs = [dict(layer_cfgs or {})] * num_layers
        if len(layer_cfgs) != num_layers:
            raise ValueError(f"layer_cfgs needs one dict per layer ({num_layers}), got {len(layer_cfgs)}")
        dpr = torch.linspace(0, drop_path_rate, num_layers, device="cpu").tolist()
        self.encoder = nn.ModuleList()
        for i in range(num_layers):
            kwargs = {"embed_dims": embed_dims, "num_heads": 6, "feedforward_channels": 3 * embed_dims,
                      "drop_path_rate": dpr[i], "qkv_bias": False, "norm_cfg": norm_cfg, **layer_cfgs[i]}
            self.encoder.append(T2TTransformerLayer(**kwargs))
        self.final_norm = final_norm
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if final_norm else nn.Identity()
        self.register_load_state_dict_pre_hook(_adapt_pos_embed_hook)

    def adapt_checkpoint(self, state_dict: dict, prefix: str = "") -> None:
        """Resize a checkpoint's ``pos_embed`` (another ``img_size``) to this model's, in place."""
        name = prefix + "pos_embed"
        if name not in state_dict or state_dict[name].shape == self.pos_embed.shape:
            return
        ckpt = state_dict[name]
        side = int(math.sqrt(ckpt.shape[1] - self.num_extra_tokens))
        logger.info("Resize the pos_embed shape from %s to %s.", tuple(ckpt.shape), tuple(self.pos_embed.shape))
        state_dict[name] = resize_pos_embed(ckpt, (side, side), self.patch_resolution, self.interpolate_mode,
                                            self.num_extra_tokens)

    def forward(self, x):
        batch = x.shape[0]
        x, patch_resolution = self.tokens_to_token(x)
        x = torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                 mode=self.interpolate_mode, num_extra_tokens=self.num_extra_tokens)
        x = self.drop_after_pos(x)
        if not self.with_cls_token:
            x = x[:, 1:]
        outs = []
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i == len(self.encoder) - 1 and self.final_norm:
                x = self.norm(x)
            if i in self.out_indices:
                channels = x.shape[-1]
                tokens = x[:, 1:] if self.with_cls_token else x
                patch_token = tokens.reshape(batch, *patch_resolution, channels).permute(0, 3, 1, 2)
                outs.append([patch_token, x[:, 0]] if self.output_cls_token else patch_token)
        return tuple(outs)


def _adapt_pos_embed_hook(module, state_dict, prefix, *args) -> None:
    module.adapt_checkpoint(state_dict, prefix)


def t2t_vit_tiny_test(**kwargs) -> T2T_ViT:
    """A 2-layer, 32-wide T2T-ViT on 32x32 images (2x2 tokens), for tests."""
    kwargs.setdefault("img_size", 32)
    kwargs.setdefault("t2t_cfg", {"token_dims": 8})
    kwargs.setdefault("layer_cfgs", {"num_heads": 2})
    return T2T_ViT(embed_dims=32, num_layers=2, **kwargs)
