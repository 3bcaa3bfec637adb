"""Transformer in Transformer (TNT) backbone, wrapping timm's ``TNT``.

Paper: Han et al., "Transformer in Transformer", NeurIPS 2021 (https://arxiv.org/abs/2103.00112). The model
is timm's ``TNT`` in its ``legacy`` layout (``timm/models/tnt.py``: the pixel embedding convolves, then
unfolds; the inner tokens are normalised before the projection to the outer ones), from which MMCls 0.25
converted its TNT-small checkpoint; arguments and output (the normalised class token) follow MMCls's
``mmcls/models/backbones/tnt.py``. The attentions are ``nn.MultiheadAttention`` as in MMCls (mmcv's
``MultiheadAttention`` wraps it), with the query/key/value bias removed unless ``qkv_bias``: the same
weights as timm's ``qk``/``v``/``proj`` linears, and mmcv's FLOPs counter (which only sees module calls)
counts them as MMCls's published 3.36 GFLOPs does.

MMCls checkpoints load through ``mmcls_key_rules`` (applied by ``load_state_dict`` and ``load_weights``):

===================================================  ===================================================
MMCls                                                here
===================================================  ===================================================
``projection``                                       ``proj``
``layers.{i}.inner_block.{norm_attn,attn,norm_ffn}``  ``blocks.{i}.{norm_in,attn_in,norm_mlp_in}``
``layers.{i}.inner_block.ffn.layers.0.0`` / ``.1``    ``blocks.{i}.mlp_in.fc1`` / ``.fc2``
``layers.{i}.norm_proj`` / ``.projection``            ``blocks.{i}.norm1_proj`` / ``.proj``
``layers.{i}.outer_block.{norm_attn,attn,norm_ffn}``  ``blocks.{i}.{norm_out,attn_out,norm_mlp}``
``layers.{i}.outer_block.ffn.layers.0.0`` / ``.1``    ``blocks.{i}.mlp.fc1`` / ``.fc2``
``pixel_embed.proj``, ``norm{1,2}_proj``, ``norm``,    unchanged
``cls_token``, ``patch_pos``, ``pixel_pos``
===================================================  ===================================================
"""

from __future__ import annotations

import torch.nn as nn
from timm.models import tnt as timm_tnt

from workers.models.backbones._keymap import MMClsKeysMixin
from workers.registry import MODELS

__all__ = ["TNT", "tnt_tiny_test"]


class MultiheadSelfAttention(nn.Module):
    """Self-attention on ``(N, L, C)`` tokens by ``nn.MultiheadAttention`` (``attn``), then dropout.

    Args:
        embed_dims: Token size.
        num_heads: Attention heads.
        qkv_bias: Keep the input projection's bias (MMCls removes it by default).
        attn_drop: Dropout on the attention weights.
        proj_drop: Dropout after the output projection.
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = False, attn_drop: float = 0.0,
                 proj_drop: float = 0.0):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=attn_drop, batch_first=True)
        if not qkv_bias:
            self.attn.register_parameter("in_proj_bias", None)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        return self.proj_drop(self.attn(x, x, x, need_weights=False)[0])


@MODELS.register()
class TNT(MMClsKeysMixin, timm_tnt.TNT):
    """TNT returning ``(cls_token,)``: the normalised class token ``(N, C)``.

    Args:
        arch: ``'small'`` or ``'base'`` (or their first letters), or a dict with ``embed_dims_outer``,
            ``embed_dims_inner``, ``num_layers``, ``num_heads_inner`` and ``num_heads_outer``.
        img_size: Input size (fixed: the position embeddings are not resized).
        patch_size: Size of the outer patches ("visual sentences").
        in_channels: Image channels.
        ffn_ratio: FFN hidden size over token size.
        qkv_bias: Bias in the attention's query/key/value projection.
        drop_rate: Dropout after the position embedding and the attention/FFN projections.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth, rising linearly over the layers.
        act_cfg: ``dict(type='GELU')`` (timm's FFN activation).
        norm_cfg: ``dict(type='LN')`` (optionally with ``eps``).
        first_stride: Stride of the pixel-embedding convolution (inner patches are ``patch_size / stride``).
        num_fcs: FFN linear layers; 2, as timm builds them.
        init_cfg: Extra ``init_cfg``; MMCls's default (truncated N(0, 0.02) linears, unit LayerNorms) is what
            the model starts with.
    """

    arch_zoo = {
        **dict.fromkeys(["s", "small"], {"embed_dims_outer": 384, "embed_dims_inner": 24, "num_layers": 12,
                                         "num_heads_outer": 6, "num_heads_inner": 4}),
        **dict.fromkeys(["b", "base"], {"embed_dims_outer": 640, "embed_dims_inner": 40, "num_layers": 12,
                                        "num_heads_outer": 10, "num_heads_inner": 4}),
    }
    essential_keys = {"embed_dims_outer", "embed_dims_inner", "num_layers", "num_heads_inner", "num_heads_outer"}
    mmcls_key_rules = [
        (r"^projection\.", "proj."),
        (r"^layers\.(\d+)\.inner_block\.norm_attn\.", r"blocks.\1.norm_in."),
        (r"^layers\.(\d+)\.inner_block\.attn\.", r"blocks.\1.attn_in."),
        (r"^layers\.(\d+)\.inner_block\.norm_ffn\.", r"blocks.\1.norm_mlp_in."),
        (r"^layers\.(\d+)\.inner_block\.ffn\.layers\.0\.0\.", r"blocks.\1.mlp_in.fc1."),
        (r"^layers\.(\d+)\.inner_block\.ffn\.layers\.1\.", r"blocks.\1.mlp_in.fc2."),
        (r"^layers\.(\d+)\.norm_proj\.", r"blocks.\1.norm1_proj."),
        (r"^layers\.(\d+)\.projection\.", r"blocks.\1.proj."),
        (r"^layers\.(\d+)\.outer_block\.norm_attn\.", r"blocks.\1.norm_out."),
        (r"^layers\.(\d+)\.outer_block\.attn\.", r"blocks.\1.attn_out."),
        (r"^layers\.(\d+)\.outer_block\.norm_ffn\.", r"blocks.\1.norm_mlp."),
        (r"^layers\.(\d+)\.outer_block\.ffn\.layers\.0\.0\.", r"blocks.\1.mlp.fc1."),
        (r"^layers\.(\d+)\.outer_block\.ffn\.layers\.1\.", r"blocks.\1.mlp.fc2."),
    ]

    def __init__(
        self,
        arch: str | dict = "b",
        img_size: int = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        ffn_ratio: int = 4,
        qkv_bias: bool = False,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        act_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        first_stride: int = 4,
        num_fcs: int = 2,
        init_cfg: dict | list | None = None,
    ):
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(set(self.arch_zoo))}")
            self.arch_settings = dict(self.arch_zoo[arch.lower()])
        elif isinstance(arch, dict) and set(arch) == self.essential_keys:
            self.arch_settings = dict(arch)
        else:
            raise ValueError(f"Custom arch needs a dict with keys {sorted(self.essential_keys)}")
        if (act_cfg or {"type": "GELU"}) != {"type": "GELU"} or num_fcs != 2:
            raise NotImplementedError("TNT supports act_cfg=dict(type='GELU') and num_fcs=2 only (timm's FFN)")
        norm_cfg = dict(norm_cfg or {"type": "LN"})
        if norm_cfg.pop("type") != "LN" or set(norm_cfg) - {"eps"}:
            raise NotImplementedError("norm_cfg must be dict(type='LN'[, eps=...])")
        eps = norm_cfg.get("eps", 1e-5)
        settings = self.arch_settings
        super().__init__(
            img_size=img_size, patch_size=patch_size, in_chans=in_channels, num_classes=0,
            embed_dim=settings["embed_dims_outer"], inner_dim=settings["embed_dims_inner"],
            depth=settings["num_layers"], num_heads_inner=settings["num_heads_inner"],
            num_heads_outer=settings["num_heads_outer"], mlp_ratio=ffn_ratio, qkv_bias=qkv_bias,
            pos_drop_rate=drop_rate, proj_drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate, norm_layer=lambda dim, **kw: nn.LayerNorm(dim, eps=eps, **kw),
            first_stride=first_stride, legacy=True)
        del self.head, self.head_drop
        self.init_cfg = init_cfg
        self.embed_dims = settings["embed_dims_outer"]
        for block in self.blocks:
            block.attn_in = MultiheadSelfAttention(settings["embed_dims_inner"], settings["num_heads_inner"],
                                                   qkv_bias, attn_drop_rate, drop_rate)
            block.attn_out = MultiheadSelfAttention(settings["embed_dims_outer"], settings["num_heads_outer"],
                                                    qkv_bias, attn_drop_rate, drop_rate)
        self._init_mmcls_weights()
        self._install_mmcls_key_hook()

    def _init_mmcls_weights(self) -> None:
        # MMCls's default init_cfg: TruncNormal(std=0.02) on Linear, Constant(1, 0) on LayerNorm
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.MultiheadAttention):
                nn.init.trunc_normal_(m.in_proj_weight, std=0.02)
                if m.in_proj_bias is not None:
                    nn.init.zeros_(m.in_proj_bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        """``(cls_token,)`` after the final norm."""
        return (self.forward_features(x)[:, 0],)


def tnt_tiny_test(**kwargs) -> TNT:
    """A 2-layer TNT on 32x32 images (16x16 patches, 4x4 inner patches), for tests."""
    kwargs.setdefault("img_size", 32)
    arch = {"embed_dims_outer": 32, "embed_dims_inner": 8, "num_layers": 2, "num_heads_outer": 2,
            "num_heads_inner": 2}
    return TNT(arch=arch, **kwargs)
