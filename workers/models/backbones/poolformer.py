"""PoolFormer backbone, wrapping timm's ``MetaFormer`` (pooling token mixer) under MMClassification 0.25's arguments.

Paper: Yu et al., "MetaFormer Is Actually What You Need for Vision", CVPR 2022
(https://arxiv.org/abs/2111.11418). The patch embeddings and blocks are timm's ``poolformer_*`` of
``timm/models/metaformer.py`` (GroupNorm with one group, GELU MLP as 1x1 convs, layer scale); arguments,
``arch`` settings, ``out_indices`` over MMCls's seven-entry ``network`` (stages at 0, 2, 4, 6, the
downsampling embeddings between them at 1, 3, 5), ``frozen_stages`` and the ``norm{i}`` output norms are
MMCls's ``mmcls/models/backbones/poolformer.py``.

MMCls checkpoint keys load through ``mmcls_key_rules`` (applied by ``load_state_dict`` and ``load_weights``):

==========================================  ==============================================
MMCls                                       here (timm)
==========================================  ==============================================
``patch_embed.proj``                        ``stem.conv``
``network.{2k}.j.{norm1,norm2,mlp.*}``      ``stages.k.blocks.j.{norm1,norm2,mlp.*}``
``network.{2k}.j.layer_scale_{1,2}``        ``stages.k.blocks.j.layer_scale{1,2}.scale``
``network.{2k+1}.proj``                     ``stages.{k+1}.downsample.conv``
``norm{i}``                                 ``norm{i}`` (unchanged)
==========================================  ==============================================

One difference from MMCls 0.25: there ``frozen_stages=0`` (the default) already froze ``patch_embed``;
here the stem is frozen only with ``frozen_stages > 0``, so the default trains every parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from timm.models.metaformer import GroupNorm1, MetaFormer, Pooling

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones._keymap import MMClsKeysMixin
from workers.models.layers import build_norm_layer
from workers.registry import MODELS

__all__ = ["PoolFormer", "poolformer_tiny_test"]


@MODELS.register()
class PoolFormer(MMClsKeysMixin, FrozenStagesMixin, nn.Module):
    """PoolFormer returning the normalised output of each of ``out_indices`` (``network`` entries 0-6).

    Args:
        arch: ``'s12'``, ``'s24'``, ``'s36'``, ``'m36'``, ``'m48'`` or a dict with ``layers``,
            ``embed_dims``, ``mlp_ratios`` (4 only) and ``layer_scale_init_value``.
        pool_size: Kernel of the average-pooling token mixer.
        norm_cfg: Only ``GN`` with ``num_groups=1``.
        act_cfg: Only ``GELU``.
        in_patch_size: Kernel of the stem conv.
        in_stride: Stride of the stem conv.
        in_pad: Padding of the stem conv.
        down_patch_size: Kernel of the downsampling convs.
        down_stride: Stride of the downsampling convs.
        down_pad: Padding of the downsampling convs.
        drop_rate: Dropout in the MLPs.
        drop_path_rate: Stochastic depth, rising linearly over all blocks up to this value.
        out_indices: ``network`` entries (even: stages) whose normalised outputs are returned; -1 is 6.
        frozen_stages: ``network`` entries frozen (with the stem) in eval mode.
        init_cfg: ``init_cfg`` applied after construction.
    """

    arch_settings = {
        "s12": {"layers": [2, 2, 6, 2], "embed_dims": [64, 128, 320, 512], "mlp_ratios": [4, 4, 4, 4],
                "layer_scale_init_value": 1e-5},
        "s24": {"layers": [4, 4, 12, 4], "embed_dims": [64, 128, 320, 512], "mlp_ratios": [4, 4, 4, 4],
                "layer_scale_init_value": 1e-5},
        "s36": {"layers": [6, 6, 18, 6], "embed_dims": [64, 128, 320, 512], "mlp_ratios": [4, 4, 4, 4],
                "layer_scale_init_value": 1e-6},
        "m36": {"layers": [6, 6, 18, 6], "embed_dims": [96, 192, 384, 768], "mlp_ratios": [4, 4, 4, 4],
                "layer_scale_init_value": 1e-6},
        "m48": {"layers": [8, 8, 24, 8], "embed_dims": [96, 192, 384, 768], "mlp_ratios": [4, 4, 4, 4],
                "layer_scale_init_value": 1e-6},
    }

    stem_frozen_from = 1  # see the module docstring: frozen_stages=0 trains every parameter

    def __init__(
        self,
        arch: str | dict = "s12",
        pool_size: int = 3,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        in_patch_size: int = 7,
        in_stride: int = 4,
        in_pad: int = 2,
        down_patch_size: int = 3,
        down_stride: int = 2,
        down_pad: int = 1,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = 0,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ValueError(f"Unavailable arch {arch!r}, please choose from {sorted(self.arch_settings)}")
            arch = self.arch_settings[arch]
        essential = {"layers", "embed_dims", "mlp_ratios", "layer_scale_init_value"}
        if not isinstance(arch, dict) or not essential <= set(arch):
            raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}, got {arch!r}")
        if any(ratio != 4 for ratio in arch["mlp_ratios"]):
            raise NotImplementedError("PoolFormer supports mlp_ratios of 4 only (timm's MetaFormer block)")
        norm_cfg = norm_cfg or {"type": "GN", "num_groups": 1}
        if norm_cfg.get("type") != "GN" or norm_cfg.get("num_groups") != 1:
            raise NotImplementedError("PoolFormer supports norm_cfg dict(type='GN', num_groups=1) only")
        if (act_cfg or {"type": "GELU"})["type"] != "GELU":
            raise NotImplementedError("PoolFormer supports act_cfg type 'GELU' only")
        self.embed_dims = list(arch["embed_dims"])

        timm_model = MetaFormer(
            in_chans=3, num_classes=0, depths=tuple(arch["layers"]),
            dims=tuple(self.embed_dims), token_mixers=Pooling,
            mlp_act=nn.GELU, mlp_bias=True, norm_layers=GroupNorm1, downsample_norm=None,
            layer_scale_init_values=arch["layer_scale_init_value"], res_scale_init_values=None,
            use_mlp_head=False, drop_path_rate=drop_path_rate, proj_drop_rate=drop_rate)
        self.stem = timm_model.stem
        self.stages = timm_model.stages
        if pool_size != 3:  # timm's Pooling mixer has a 3x3 window; swap in the wanted one
            for stage in self.stages:
                for block in stage.blocks:
                    block.token_mixer.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2,
                                                          count_include_pad=False)
        if (in_patch_size, in_stride, in_pad) != (7, 4, 2):  # timm's stem conv
            self.stem.conv = nn.Conv2d(3, self.embed_dims[0], in_patch_size, in_stride, in_pad)
        if (down_patch_size, down_stride, down_pad) != (3, 2, 1):  # timm's downsampling convs
            for stage in list(self.stages)[1:]:
                conv = stage.downsample.conv
                stage.downsample.conv = nn.Conv2d(conv.in_channels, conv.out_channels, down_patch_size,
                                                  down_stride, down_pad)

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            if index < 0:
                indices[i] = 7 + index
            if not 0 <= indices[i] < 7:
                raise ValueError(f"Invalid out_indices {index}")
        self.out_indices = indices
        for i in self.out_indices:
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, self.embed_dims[(i + 1) // 2])[1])
        self.frozen_stages = frozen_stages
        self.init_cfg = init_cfg
        self._freeze_stages()
        # MMCls's network entry 2k is stage k's blocks, entry 2k - 1 its downsampling
        rules = [(r"^patch_embed\.proj\.", "stem.conv."),
                 (r"^(network\.\d+\.\d+)\.layer_scale_(\d)$", r"\1.layer_scale\2.scale")]
        for k in range(len(self.stages)):
            rules.append((rf"^network\.{2 * k}\.(\d+)\.", rf"stages.{k}.blocks.\1."))
            if k > 0:
                rules.append((rf"^network\.{2 * k - 1}\.proj\.", f"stages.{k}.downsample.conv."))
        self.mmcls_key_rules = rules
        self._install_mmcls_key_hook()

    def _network(self) -> list[nn.Module]:
        """MMCls's ``network``: stage 0, downsampling 1, stage 1 blocks, ... (7 entries)."""
        entries: list[nn.Module] = [self.stages[0].blocks]
        for stage in list(self.stages)[1:]:
            entries += [stage.downsample, stage.blocks]
        return entries

    def _stem_modules(self) -> list[nn.Module]:
        return [self.stem]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        # one ``network`` entry; past the last one there is nothing left to freeze
        network = self._network()
        frozen = [network[index]] if index < len(network) else []
        return frozen + ([getattr(self, f"norm{index}")] if index in self.out_indices else [])

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, module in enumerate(self._network()):
            x = module(x)
            if i in self.out_indices:
                outs.append(getattr(self, f"norm{i}")(x))
        return tuple(outs)


def poolformer_tiny_test(**kwargs) -> PoolFormer:
    """A 4-stage PoolFormer with one block per stage and 8..32 channels, for tests."""
    return PoolFormer(arch={"layers": [1, 1, 1, 1], "embed_dims": [8, 16, 24, 32], "mlp_ratios": [4, 4, 4, 4],
                            "layer_scale_init_value": 1e-5}, **kwargs)
