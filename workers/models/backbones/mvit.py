"""MViTv2 backbone, wrapping timm's ``MultiScaleVit``.

Paper: Li et al., "MViTv2: Improved Multiscale Vision Transformers for Classification and Detection", CVPR
2022 (https://arxiv.org/abs/2112.01526). The layers are timm's (``timm/models/mvitv2.py``: pooling attention
with decomposed relative position embeddings and residual pooling); the arguments, architectures
(``downscale_indices`` over one flat list of layers) and ``out_scales`` outputs with their ``norm{i}`` follow
MMClassification 0.25's ``mmcls/models/backbones/mvit.py``.

MMCls keeps the layers in one list, timm in stages; the rules below are built per model from
``downscale_indices`` (MMCls layer ``i`` is timm's block ``j`` of stage ``s``). MMCls checkpoints load
through them (``load_state_dict`` and ``load_weights``):

=========================================================  ==================================================
MMCls                                                      here (timm)
=========================================================  ==================================================
``patch_embed.projection``                                 ``patch_embed.proj``
``blocks.{i}.{norm1,attn.*,norm2,mlp.fc1,mlp.fc2}``        ``stages.{s}.blocks.{j}.{...}`` (same names)
``blocks.{i}.proj`` (the shortcut's channel projection)    ``stages.{s}.blocks.{j}.shortcut_proj_attn``
                                                           (``shortcut_proj_mlp`` if not
                                                           ``dim_mul_in_attention``)
``norm{i}``, ``pos_embed``                                 unchanged
=========================================================  ==================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from timm.models import mvitv2 as timm_mvit

from workers.models.backbones._keymap import MMClsKeysMixin
from workers.models.backbones.vision_transformer import resize_pos_embed
from workers.registry import MODELS

__all__ = ["MViT", "mvit_tiny_test"]


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@MODELS.register()
class MViT(MMClsKeysMixin, timm_mvit.MultiScaleVit):
    """MViTv2 returning, for each of ``out_scales``, the normalised ``(N, C, H, W)`` output of that scale.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'``, or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads`` and ``downscale_indices`` (the layers that halve the resolution).
        img_size: Input size the relative position embeddings are sized for.
        in_channels: Image channels.
        out_scales: Scales (stages) whose outputs are returned; -1 is the last.
        drop_path_rate: Stochastic depth, rising linearly over the layers.
        use_abs_pos_embed: Add a learnt absolute position embedding after the patch embedding.
        interpolate_mode: How ``pos_embed`` is resized for other input sizes.
        pool_kernel: Kernel of the query/key/value pooling convolutions.
        dim_mul: Channel multiplier at each downscale.
        head_mul: Head-count multiplier at each downscale.
        adaptive_kv_stride: Key/value pooling stride of the first scale (halved at each downscale).
        rel_pos_spatial: Use the decomposed relative position embeddings.
        residual_pooling: Add the pooled query to the attention output.
        dim_mul_in_attention: Raise the channels in the downscale layer's attention (else in the MLP of the
            layer before it).
        rel_pos_zero_init: Start the relative position embeddings at zero.
        mlp_ratio: MLP hidden size over the token size.
        qkv_bias: Bias in the query/key/value projection.
        norm_cfg: ``dict(type='LN', eps=1e-6)``.
        patch_cfg: Patch-embedding convolution: ``kernel_size``, ``stride``, ``padding``.
        init_cfg: Extra ``init_cfg``; the weights otherwise start as timm's.
    """

    arch_zoo = {
        "tiny": {"embed_dims": 96, "num_layers": 10, "num_heads": 1, "downscale_indices": [1, 3, 8]},
        "small": {"embed_dims": 96, "num_layers": 16, "num_heads": 1, "downscale_indices": [1, 3, 14]},
        "base": {"embed_dims": 96, "num_layers": 24, "num_heads": 1, "downscale_indices": [2, 5, 21]},
        "large": {"embed_dims": 144, "num_layers": 48, "num_heads": 2, "downscale_indices": [2, 8, 44]},
    }
    num_extra_tokens = 0

    def __init__(
        self,
        arch: str | dict = "base",
        img_size: int = 224,
        in_channels: int = 3,
        out_scales: int | Sequence[int] = -1,
        drop_path_rate: float = 0.0,
        use_abs_pos_embed: bool = False,
        interpolate_mode: str = "bicubic",
        pool_kernel: tuple[int, int] = (3, 3),
        dim_mul: int = 2,
        head_mul: int = 2,
        adaptive_kv_stride: int = 4,
        rel_pos_spatial: bool = True,
        residual_pooling: bool = True,
        dim_mul_in_attention: bool = True,
        rel_pos_zero_init: bool = False,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_cfg: dict | None = None,
        patch_cfg: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(self.arch_zoo)}")
            self.arch_settings = dict(self.arch_zoo[arch.lower()])
        elif isinstance(arch, dict) and {"embed_dims", "num_layers", "num_heads", "downscale_indices"} <= set(arch):
            self.arch_settings = dict(arch)
        else:
            raise ValueError("Custom arch needs a dict with keys ['downscale_indices', 'embed_dims', 'num_heads', "
                             f"'num_layers'], got {arch!r}")
        norm_cfg = dict(norm_cfg or {"type": "LN", "eps": 1e-6})
        if norm_cfg.pop("type") != "LN" or set(norm_cfg) - {"eps"}:
            raise NotImplementedError("norm_cfg must be dict(type='LN'[, eps=...])")
        patch = {"kernel_size": 7, "stride": 4, "padding": 3, **(patch_cfg or {})}
        if set(patch) - {"kernel_size", "stride", "padding"}:
            raise NotImplementedError(f"patch_cfg supports kernel_size, stride and padding only, got {patch}")

        downscale = list(self.arch_settings["downscale_indices"])
        num_layers = self.arch_settings["num_layers"]
        bounds = [0, *downscale, num_layers]
        depths = tuple(b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        num_scales = len(depths)
        kv_strides, stride = [], adaptive_kv_stride
        for i in range(num_scales):
            if i > 0:
                stride = max(stride // 2, 1)
            kv_strides.append((stride, stride))
        cfg = timm_mvit.MultiScaleVitCfg(
            depths=depths,
            embed_dim=tuple(self.arch_settings["embed_dims"] * dim_mul ** i for i in range(num_scales)),
            num_heads=tuple(self.arch_settings["num_heads"] * head_mul ** i for i in range(num_scales)),
            mlp_ratio=mlp_ratio, pool_first=False, expand_attn=dim_mul_in_attention, qkv_bias=qkv_bias,
            use_cls_token=False, use_abs_pos=use_abs_pos_embed, residual_pooling=residual_pooling, mode="conv",
            kernel_qkv=_pair(pool_kernel), stride_q=((1, 1),) + ((2, 2),) * (num_scales - 1),
            stride_kv=tuple(kv_strides), patch_kernel=_pair(patch["kernel_size"]),
            patch_stride=_pair(patch["stride"]), patch_padding=_pair(patch["padding"]),
            rel_pos_type="spatial" if rel_pos_spatial else "none", norm_eps=norm_cfg.get("eps", 1e-5))
        super().__init__(cfg, img_size=_pair(img_size), in_chans=in_channels, num_classes=0,
                         drop_path_rate=drop_path_rate)
        del self.norm, self.head
        self.init_cfg = init_cfg
        self.interpolate_mode = interpolate_mode
        self.use_abs_pos_embed = use_abs_pos_embed
        self.patch_resolution = (_pair(img_size)[0] // cfg.patch_stride[0], _pair(img_size)[1] // cfg.patch_stride[1])
        self.num_scales = num_scales
        scales = [out_scales] if isinstance(out_scales, int) else list(out_scales)
        for i, index in enumerate(scales):
            if index < 0:
                scales[i] = num_scales + index
            if not 0 <= scales[i] < num_scales:
                raise ValueError(f"Invalid out_scales {index}")
        self.out_scales = sorted(scales)
        for i in self.out_scales:
            self.add_module(f"norm{i}", nn.LayerNorm(self.stages[i].blocks[-1].dim_out,
                                                     eps=norm_cfg.get("eps", 1e-5)))
        if rel_pos_zero_init:
            for name, param in self.named_parameters():
                if name.endswith(("rel_pos_h", "rel_pos_w")):
                    nn.init.zeros_(param)
        shortcut = "shortcut_proj_attn" if dim_mul_in_attention else "shortcut_proj_mlp"
        rules = [(r"^patch_embed\.projection\.", "patch_embed.proj.")]
        layer = 0
        for s, depth in enumerate(depths):
            for j in range(depth):
                rules.append((rf"^blocks\.{layer}\.proj\.", f"stages.{s}.blocks.{j}.{shortcut}."))
                rules.append((rf"^blocks\.{layer}\.", f"stages.{s}.blocks.{j}."))
                layer += 1
        self.mmcls_key_rules = rules
        self._install_mmcls_key_hook()

    def forward(self, x):
        """A tuple with one ``(N, C, H, W)`` map per ``out_scales`` entry."""
        x, feat_size = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, tuple(feat_size),
                                     mode=self.interpolate_mode, num_extra_tokens=0)
        outs = []
        for i, stage in enumerate(self.stages):
            x, feat_size = stage(x, feat_size)
            if i in self.out_scales:
                out = getattr(self, f"norm{i}")(x)
                outs.append(out.transpose(1, 2).reshape(x.shape[0], -1, *feat_size).contiguous())
        return tuple(outs)


def mvit_tiny_test(**kwargs) -> MViT:
    """A 4-layer, 16-wide MViTv2 with two scales on 32x32 images, for tests."""
    kwargs.setdefault("img_size", 32)
    kwargs.setdefault("out_scales", (0, 1))
    arch = {"embed_dims": 16, "num_layers": 4, "num_heads": 1, "downscale_indices": [2]}
    return MViT(arch=arch, **kwargs)


