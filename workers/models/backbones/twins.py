"""Twins backbones (PCPVT and SVT), wrapping timm's ``Twins``.

Paper: Chu et al., "Twins: Revisiting the Design of Spatial Attention in Vision Transformers", NeurIPS 2021
(https://arxiv.org/abs/2104.13840). The layers are timm's (``timm/models/twins.py``: global sub-sampled
attention, locally-grouped attention in SVT's even layers, the conditional position encoding after each
stage's first layer); the arguments, architectures and ``norm_after_stage{i}`` outputs follow
MMClassification 0.25's ``mmcls/models/backbones/twins.py``.

MMCls checkpoints load through ``mmcls_key_rules`` (applied by ``load_state_dict`` and ``load_weights``):

=====================================================  =====================================================
MMCls                                                  here (timm)
=====================================================  =====================================================
``patch_embeds.{i}.projection``                        ``patch_embeds.{i}.proj``
``position_encodings.{i}.proj``                        ``pos_block.{i}.proj.0``
``stages.{i}.{j}.ffn.layers.0.0`` / ``.1``             ``blocks.{i}.{j}.mlp.fc1`` / ``.fc2``
``stages.{i}.{j}.{norm1,attn.q,attn.kv,attn.sr,...}``  ``blocks.{i}.{j}.{norm1,attn.q,attn.kv,attn.sr,...}``
``norm_after_stage{i}``                                unchanged
=====================================================  =====================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from timm.models import twins as timm_twins

from workers.models.backbones._keymap import MMClsKeysMixin
from workers.registry import MODELS

__all__ = ["PCPVT", "SVT", "pcpvt_tiny_test", "svt_tiny_test"]

_PCPVT_STAGES = {"patch_sizes": [4, 2, 2, 2], "strides": [4, 2, 2, 2], "mlp_ratios": [8, 8, 4, 4],
                 "sr_ratios": [8, 4, 2, 1]}
_SVT_STAGES = {"patch_sizes": [4, 2, 2, 2], "strides": [4, 2, 2, 2], "mlp_ratios": [4, 4, 4, 4],
               "sr_ratios": [8, 4, 2, 1], "window_sizes": [7, 7, 7, 7]}


@MODELS.register()
class PCPVT(MMClsKeysMixin, timm_twins.Twins):
    """Twins-PCPVT returning, for each of ``out_indices``, the ``(N, C, H, W)`` stage output.

    Args:
        arch: ``'small'``, ``'base'``, ``'large'`` (or their first letters), or a dict with ``embed_dims``,
            ``depths``, ``num_heads``, ``patch_sizes``, ``strides``, ``mlp_ratios`` and ``sr_ratios`` (one
            value per stage; patch sizes must equal strides and be 2 after the first stage, as in timm).
        in_channels: Image channels.
        out_indices: Stages whose outputs are returned.
        qkv_bias: Bias in the attention's query/key/value projections.
        drop_rate: Dropout after the patch embeddings and the attention/FFN projections.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth, rising linearly over all layers.
        norm_cfg: ``dict(type='LN')`` (optionally with ``eps``), for the layers and ``norm_after_stage``.
        norm_after_stage: Normalise each stage's output (one bool, or one per stage).
        init_cfg: Extra ``init_cfg``; the weights otherwise start as timm's (truncated N(0, 0.02) linears).
    """

    arch_zoo = {
        **dict.fromkeys(["s", "small"], {"embed_dims": [64, 128, 320, 512], "depths": [3, 4, 6, 3],
                                         "num_heads": [1, 2, 5, 8], **_PCPVT_STAGES}),
        **dict.fromkeys(["b", "base"], {"embed_dims": [64, 128, 320, 512], "depths": [3, 4, 18, 3],
                                        "num_heads": [1, 2, 5, 8], **_PCPVT_STAGES}),
        **dict.fromkeys(["l", "large"], {"embed_dims": [64, 128, 320, 512], "depths": [3, 8, 27, 3],
                                         "num_heads": [1, 2, 5, 8], **_PCPVT_STAGES}),
    }
    essential_keys = {"embed_dims", "depths", "num_heads", "patch_sizes", "strides", "mlp_ratios", "sr_ratios"}
    mmcls_key_rules = [
        (r"^patch_embeds\.(\d+)\.projection\.", r"patch_embeds.\1.proj."),
        (r"^position_encodings\.(\d+)\.proj\.", r"pos_block.\1.proj.0."),
        (r"^stages\.(\d+)\.(\d+)\.ffn\.layers\.0\.0\.", r"blocks.\1.\2.mlp.fc1."),
        (r"^stages\.(\d+)\.(\d+)\.ffn\.layers\.1\.", r"blocks.\1.\2.mlp.fc2."),
        (r"^stages\.", "blocks."),
    ]
    num_extra_tokens = 0

    def __init__(
        self,
        arch: str | dict,
        in_channels: int = 3,
        out_indices: int | Sequence[int] = (3,),
        qkv_bias: bool = False,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_cfg: dict | None = None,
        norm_after_stage: bool | Sequence[bool] = False,
        init_cfg: dict | list | None = None,
    ):
        self.arch_settings = self._resolve_arch(arch)
        settings = self.arch_settings
        num_stages = len(settings["depths"])
        if list(settings["patch_sizes"]) != list(settings["strides"]) or any(
                p != 2 for p in settings["patch_sizes"][1:]):
            raise NotImplementedError("patch_sizes must equal strides and be 2 after the first stage (timm's "
                                      f"layout), got {settings['patch_sizes']} / {settings['strides']}")
        norm_cfg = dict(norm_cfg or {"type": "LN"})
        if norm_cfg.pop("type") != "LN" or set(norm_cfg) - {"eps"}:
            raise NotImplementedError("norm_cfg must be dict(type='LN'[, eps=...])")
        eps = norm_cfg.get("eps", 1e-5)
        super().__init__(
            img_size=224, patch_size=settings["patch_sizes"][0], in_chans=in_channels, num_classes=0,
            embed_dims=tuple(settings["embed_dims"]), num_heads=tuple(settings["num_heads"]),
            mlp_ratios=tuple(settings["mlp_ratios"]), depths=tuple(settings["depths"]),
            sr_ratios=tuple(settings["sr_ratios"]), wss=self._window_sizes(), pos_drop_rate=drop_rate,
            proj_drop_rate=drop_rate, attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
            norm_layer=lambda dim, **kw: nn.LayerNorm(dim, eps=eps, **kw))
        del self.norm, self.head, self.head_drop  # MMCls: norm_after_stage{i}; the head is separate
        self.init_cfg = init_cfg
        self.num_stage = num_stages
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = [i + num_stages if i < 0 else i for i in indices]
        if isinstance(norm_after_stage, bool):
            norm_after_stage = [norm_after_stage] * num_stages
        if len(norm_after_stage) != num_stages:
            raise ValueError(f"Number of norm_after_stage({len(norm_after_stage)}) should be equal to the number "
                             f"of stages({num_stages}).")
        self.norm_after_stage = list(norm_after_stage)
        for i, has_norm in enumerate(self.norm_after_stage):
            norm = nn.LayerNorm(settings["embed_dims"][i], eps=eps) if has_norm else nn.Identity()
            self.add_module(f"norm_after_stage{i}", norm)
        if not qkv_bias:  # timm's projections always have a bias; MMCls's default has none
            for module in self.blocks.modules():
                for name in ("q", "kv", "qkv"):
                    layer = getattr(module, name, None)
                    if isinstance(layer, nn.Linear):
                        layer.register_parameter("bias", None)
        self._install_mmcls_key_hook()

    def _resolve_arch(self, arch: str | dict) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(set(self.arch_zoo))}")
            return dict(self.arch_zoo[arch.lower()])
        if not isinstance(arch, dict) or set(arch) != self.essential_keys:
            raise ValueError(f"Custom arch needs a dict with keys {sorted(self.essential_keys)}.")
        lengths = {len(value) for value in arch.values()}
        if len(lengths) != 1:
            raise ValueError("Length of setting item in arch dict must be type of list and have the same length.")
        return dict(arch)

    def _window_sizes(self) -> tuple[int, ...] | None:
        return None

    def forward(self, x):
        """A tuple with one ``(N, C, H, W)`` map per ``out_indices`` entry."""
        batch = x.shape[0]
        outs = []
        for i in range(self.num_stage):
            x, size = self.patch_embeds[i](x)
            x = self.pos_drops[i](x)
            for j, block in enumerate(self.blocks[i]):
                x = block(x, size)
                if j == 0:
                    x = self.pos_block[i](x, size)  # the conditional position encoding (PEG)
            x = getattr(self, f"norm_after_stage{i}")(x)
            x = x.reshape(batch, *size, -1).permute(0, 3, 1, 2).contiguous()
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register()
class SVT(PCPVT):
    """Twins-SVT: PCPVT whose even layers attend within ``window_sizes`` windows (locally-grouped attention).

    Args:
        arch: ``'small'``, ``'base'``, ``'large'`` (or their first letters), or a dict with PCPVT's keys and
            ``window_sizes``.
        in_channels: Image channels.
        out_indices: Stages whose outputs are returned.
        qkv_bias: Bias in the attention's query/key/value projections.
        drop_rate: Dropout after the patch embeddings and the attention/FFN projections.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth, rising linearly over all layers.
        norm_cfg: ``dict(type='LN')`` (optionally with ``eps``).
        norm_after_stage: Normalise each stage's output (one bool, or one per stage).
        init_cfg: Extra ``init_cfg``.
    """

    arch_zoo = {
        **dict.fromkeys(["s", "small"], {"embed_dims": [64, 128, 256, 512], "depths": [2, 2, 10, 4],
                                         "num_heads": [2, 4, 8, 16], **_SVT_STAGES}),
        **dict.fromkeys(["b", "base"], {"embed_dims": [96, 192, 384, 768], "depths": [2, 2, 18, 2],
                                        "num_heads": [3, 6, 12, 24], **_SVT_STAGES}),
        **dict.fromkeys(["l", "large"], {"embed_dims": [128, 256, 512, 1024], "depths": [2, 2, 18, 2],
                                         "num_heads": [4, 8, 16, 32], **_SVT_STAGES}),
    }
    essential_keys = PCPVT.essential_keys | {"window_sizes"}

    def __init__(
        self,
        arch: str | dict,
        in_channels: int = 3,
        out_indices: int | Sequence[int] = (3,),
        qkv_bias: bool = False,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_cfg: dict | None = None,
        norm_after_stage: bool | Sequence[bool] = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(arch, in_channels=in_channels, out_indices=out_indices, qkv_bias=qkv_bias,
                         drop_rate=drop_rate, attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
                         norm_cfg=norm_cfg, norm_after_stage=norm_after_stage, init_cfg=init_cfg)

    def _window_sizes(self) -> tuple[int, ...] | None:
        return tuple(self.arch_settings["window_sizes"])


_TINY = {"embed_dims": [16, 32], "depths": [2, 2], "num_heads": [1, 2], "patch_sizes": [4, 2],
         "strides": [4, 2], "mlp_ratios": [2, 2], "sr_ratios": [2, 1]}


def pcpvt_tiny_test(**kwargs) -> PCPVT:
    """A 2-stage, 16-wide PCPVT, for tests."""
    kwargs.setdefault("out_indices", (0, 1))
    return PCPVT(arch=dict(_TINY), **kwargs)


def svt_tiny_test(**kwargs) -> SVT:
    """A 2-stage, 16-wide SVT with 2x2 local windows, for tests."""
    kwargs.setdefault("out_indices", (0, 1))
    return SVT(arch={**_TINY, "window_sizes": [2, 2]}, **kwargs)
