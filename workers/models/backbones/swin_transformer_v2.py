"""Swin Transformer V2 backbone, wrapping timm's ``SwinTransformerV2``.

Paper: Liu et al., "Swin Transformer V2: Scaling Up Capacity and Resolution", CVPR 2022
(https://arxiv.org/abs/2111.09883). The layers are timm's (``timm/models/swin_transformer_v2.py``: post-norm
blocks, cosine attention with a learnt ``logit_scale``, log-spaced continuous position bias ``cpb_mlp``);
the arguments, architectures, per-output ``norm{i}`` and freezing follow MMClassification 0.25's
``mmcls/models/backbones/swin_transformer_v2.py``.

MMCls checkpoints load through :func:`~workers.models.backbones.swin_transformer.convert_mmcls_state_dict`
with ``downsample_at_end=False`` (applied by ``load_state_dict`` and ``load_weights``):

==========================================================  ================================================
MMCls                                                       here (timm)
==========================================================  ================================================
``patch_embed.projection``                                  ``patch_embed.proj``
``stages.{i}.blocks.{j}.attn.w_msa.{qkv,proj,q_bias,...}``  ``layers.{i}.blocks.{j}.attn.{qkv,proj,...}``
``stages.{i}.blocks.{j}.ffn.layers.0.0`` / ``.1``           ``layers.{i}.blocks.{j}.mlp.fc1`` / ``.fc2``
``stages.{i}.downsample.{reduction,norm}``                  ``layers.{i}.downsample.{reduction,norm}``
``*.relative_position_index``, ``*.relative_coords_table``  dropped (buffers rebuilt, as MMCls does)
==========================================================  ================================================

Both libraries merge patches at the start of a stage; MMCls's ``nn.Unfold`` orders the merged channels
``c, dy, dx`` and timm ``dx, dy, c``, so ``reduction.weight`` is permuted (its norm follows the reduction).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from timm.models import swin_transformer_v2 as timm_swin_v2

from workers.models.backbones.swin_transformer import (
    SwinMMClsMixin,
    _check_norm_cfg,
    _finish_swin,
    _resolve_arch,
)
from workers.registry import MODELS

__all__ = ["SwinTransformerV2", "swin_v2_tiny_test"]

_DEFAULT_STAGE_CFGS = {"downsample_cfg": {"is_post_norm": True}}


@MODELS.register()
class SwinTransformerV2(SwinMMClsMixin, timm_swin_v2.SwinTransformerV2):
    """Swin Transformer V2 returning, for each of ``out_indices``, the normalised ``(N, C, H, W)`` stage output.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'`` (or their first letters), or a dict with
            ``embed_dims``, ``depths``, ``num_heads`` and ``extra_norm_every_n_blocks`` (which must be 0: the
            huge and giant models' extra norms are not in timm).
        img_size: Input size the attention masks are built for (other sizes work, with masks built per call).
        patch_size: Patch size of the patch embedding.
        in_channels: Image channels.
        window_size: Attention window size, one for all stages or one per stage.
        drop_rate: Dropout after the patch embedding.
        drop_path_rate: Stochastic depth, rising linearly over all blocks.
        out_indices: Stages whose outputs are returned (each with its own ``norm{i}``).
        use_abs_pos_embed: Add a learnt absolute position embedding after the patch embedding.
        interpolate_mode: How ``absolute_pos_embed`` is resized for other input sizes.
        with_cp: Gradient checkpointing of the stages.
        frozen_stages: Freeze the patch embedding and stages ``0..frozen_stages`` (MMCls V2 counts so);
            -1 freezes nothing.
        norm_eval: Keep BatchNorms in eval mode (MMCls's argument; the model has only LayerNorms).
        pad_small_map: Pad feature maps smaller than the window instead of shrinking the window.
        norm_cfg: ``dict(type='LN')`` (optionally with ``eps``).
        stage_cfgs: MMCls's per-stage overrides; only its default (post-norm patch merging) is supported.
        patch_cfg: MMCls's patch-embedding overrides; must be empty.
        pretrained_window_sizes: Window size each stage was pre-trained with (scales the position bias input).
        init_cfg: Extra ``init_cfg``; the weights otherwise start as timm's.
    """

    arch_zoo = {
        **dict.fromkeys(["t", "tiny"], {"embed_dims": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24],
                                        "extra_norm_every_n_blocks": 0}),
        **dict.fromkeys(["s", "small"], {"embed_dims": 96, "depths": [2, 2, 18, 2], "num_heads": [3, 6, 12, 24],
                                         "extra_norm_every_n_blocks": 0}),
        **dict.fromkeys(["b", "base"], {"embed_dims": 128, "depths": [2, 2, 18, 2], "num_heads": [4, 8, 16, 32],
                                        "extra_norm_every_n_blocks": 0}),
        **dict.fromkeys(["l", "large"], {"embed_dims": 192, "depths": [2, 2, 18, 2],
                                         "num_heads": [6, 12, 24, 48], "extra_norm_every_n_blocks": 0}),
    }
    num_extra_tokens = 0
    downsample_at_end = False
    frozen_stages_inclusive = True  # MMCls V2 freezes stages 0..frozen_stages (V1 stops one earlier)

    def __init__(
        self,
        arch: str | dict = "tiny",
        img_size: int | tuple[int, int] = 256,
        patch_size: int = 4,
        in_channels: int = 3,
        window_size: int | Sequence[int] = 8,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        out_indices: int | Sequence[int] = (3,),
        use_abs_pos_embed: bool = False,
        interpolate_mode: str = "bicubic",
        with_cp: bool = False,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pad_small_map: bool = False,
        norm_cfg: dict | None = None,
        stage_cfgs: dict | None = None,
        patch_cfg: dict | None = None,
        pretrained_window_sizes: Sequence[int] = (0, 0, 0, 0),
        init_cfg: dict | list | None = None,
    ):
        self.arch_settings = _resolve_arch(self.arch_zoo, arch, {"embed_dims", "depths", "num_heads"})
        if self.arch_settings.get("extra_norm_every_n_blocks", 0):
            raise NotImplementedError("extra_norm_every_n_blocks (SwinV2 huge/giant) is not supported")
        if patch_cfg:
            raise NotImplementedError(f"patch_cfg is not supported, got {patch_cfg}")
        if stage_cfgs not in (None, {}, _DEFAULT_STAGE_CFGS):
            raise NotImplementedError(f"stage_cfgs other than {_DEFAULT_STAGE_CFGS} are not supported")
        eps = _check_norm_cfg(norm_cfg)
        num_stages = len(self.arch_settings["depths"])
        if not isinstance(window_size, int):
            window_size = tuple(window_size)
            if len(window_size) != num_stages:
                raise ValueError(f"Length of window_sizes {len(window_size)} is not equal to length of stages "
                                 f"{num_stages}.")
        super().__init__(
            img_size=img_size, patch_size=patch_size, in_chans=in_channels, num_classes=0,
            embed_dim=self.arch_settings["embed_dims"], depths=tuple(self.arch_settings["depths"]),
            num_heads=tuple(self.arch_settings["num_heads"]), window_size=window_size,
            always_partition=pad_small_map, strict_img_size=False, drop_path_rate=drop_path_rate,
            norm_layer=lambda dim, **kw: nn.LayerNorm(dim, eps=eps, **kw),
            pretrained_window_sizes=tuple(pretrained_window_sizes))
        _finish_swin(self, out_indices, False, use_abs_pos_embed, interpolate_mode, with_cp, frozen_stages,
                     norm_eval, eps, drop_rate, init_cfg)

    def _stem_modules(self) -> list[nn.Module]:
        return [self.patch_embed]  # MMCls V2 leaves absolute_pos_embed trainable

    def _stage_modules(self, index: int) -> list[nn.Module]:
        # past the last stage there is nothing left to freeze; the patch merging is inside layers[index]
        return super()._stage_modules(index) if index < self.num_layers else []


def swin_v2_tiny_test(**kwargs) -> SwinTransformerV2:
    """A 2-stage, 16-wide Swin V2 on 32x32 images with 4x4 windows, for tests."""
    kwargs.setdefault("img_size", 32)
    kwargs.setdefault("window_size", 4)
    kwargs.setdefault("out_indices", (0, 1))
    arch = {"embed_dims": 16, "depths": [2, 2], "num_heads": [1, 2], "extra_norm_every_n_blocks": 0}
    return SwinTransformerV2(arch=arch, **kwargs)
