"""Swin Transformer backbone, wrapping timm's ``SwinTransformer``.

Paper: Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", ICCV 2021
(https://arxiv.org/abs/2103.14030). The layers are timm's (``timm/models/swin_transformer.py``); the
arguments, architectures, ``out_indices`` (one ``norm{i}`` per output) and freezing follow MMClassification
0.25's ``mmcls/models/backbones/swin_transformer.py``.

MMCls checkpoints load through :func:`convert_mmcls_state_dict` (applied by ``load_state_dict`` and by
``load_weights``), which maps MMCls names to timm's:

====================================================  ====================================================
MMCls                                                 here (timm)
====================================================  ====================================================
``patch_embed.projection``                            ``patch_embed.proj``
``stages.{i}.blocks.{j}.attn.w_msa.{qkv,proj,...}``   ``layers.{i}.blocks.{j}.attn.{qkv,proj,...}``
``stages.{i}.blocks.{j}.ffn.layers.0.0`` / ``.1``     ``layers.{i}.blocks.{j}.mlp.fc1`` / ``.fc2``
``stages.{i}.downsample.{norm,reduction}``            ``layers.{i+1}.downsample.{norm,reduction}``
``norm{i}``, ``absolute_pos_embed``                   unchanged
``*.relative_position_index``                         dropped (a buffer timm rebuilds)
====================================================  ====================================================

MMCls merges 2x2 patches with ``nn.Unfold`` (channel order ``c, dy, dx``) where timm concatenates
``dx, dy, c``; the patch-merging ``reduction`` weight and ``norm`` are permuted accordingly. MMCls places
the patch merging at the end of stage ``i``, timm at the start of stage ``i + 1``: the same layer, so
freezing stage ``i`` freezes that merging layer too, and ``out_after_downsample`` applies it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from timm.models import swin_transformer as timm_swin

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones.vision_transformer import resize_pos_embed
from workers.registry import MODELS

__all__ = ["SwinMMClsMixin", "SwinTransformer", "convert_mmcls_state_dict", "swin_tiny_test", "unfold_to_timm_order"]


def unfold_to_timm_order(tensor: torch.Tensor) -> torch.Tensor:
    """Permute the last dim of a patch-merging tensor from MMCls's ``(c, dy, dx)`` order to timm's ``(dx, dy, c)``.

    Args:
        tensor: ``reduction.weight`` ``(out, 4C)`` or ``norm.weight`` / ``norm.bias`` ``(4C,)``.
    """
    *lead, four_c = tensor.shape
    channels = four_c // 4
    return tensor.reshape(*lead, channels, 2, 2).transpose(-1, -3).reshape(*lead, four_c)


def _rename_blocks(key: str) -> str:
    key = key.replace(".attn.w_msa.", ".attn.")
    key = key.replace(".ffn.layers.0.0.", ".mlp.fc1.")
    return key.replace(".ffn.layers.1.", ".mlp.fc2.")


def convert_mmcls_state_dict(state_dict: dict, downsample_at_end: bool = True) -> dict:
    """Map an MMCls Swin(V2) backbone state dict (keys without ``backbone.``) to this module's names.

    Args:
        state_dict: MMCls names (``stages.0.blocks.0.attn.w_msa.qkv.weight``, ...).
        downsample_at_end: ``True`` for Swin V1 (MMCls's ``stages.{i}.downsample`` merges stage ``i``'s output,
            timm's ``layers.{i+1}.downsample``); ``False`` for Swin V2, where both put it at the stage start.
            V2's merging normalises after the reduction, so only V1 permutes its ``norm``.

    Returns:
        A new dict with timm's names.
    """
    out = {}
    for key, value in state_dict.items():
        if key.endswith(("relative_position_index", "relative_coords_table")):
            continue
        key = key.replace("patch_embed.projection.", "patch_embed.proj.")
        match = re.match(r"stages\.(\d+)\.downsample\.(norm|reduction)\.(\w+)$", key)
        if match:
            stage, layer, name = int(match.group(1)), match.group(2), match.group(3)
            if downsample_at_end:
                stage += 1
            if layer == "reduction" or downsample_at_end:
                value = unfold_to_timm_order(value)
            key = f"layers.{stage}.downsample.{layer}.{name}"
        elif key.startswith("stages."):
            key = "layers." + _rename_blocks(key[len("stages."):])
        out[key] = value
    return out


def adapt_mmcls_keys(state_dict: dict, prefix: str, convert: Callable[[dict], dict]) -> None:
    """Convert, in place, the keys under ``prefix`` of a checkpoint that uses MMCls's names.

    A checkpoint is taken as MMCls's when it holds ``prefix + 'patch_embed.projection.weight'`` or any key
    under ``prefix + 'stages.'`` that ``convert`` renames; timm-named checkpoints pass through untouched.
    """
    own = {key[len(prefix):]: key for key in state_dict if key.startswith(prefix)}
    sub = {short: state_dict[full] for short, full in own.items()}
    converted = convert(sub)
    if set(converted) == set(sub) and all(converted[k] is sub[k] for k in sub):
        return
    for full in own.values():
        del state_dict[full]
    for short, value in converted.items():
        state_dict[prefix + short] = value


def _mmcls_keys_hook(module, state_dict, prefix, *args) -> None:
    module.adapt_checkpoint(state_dict, prefix)


def _out_indices(out_indices: int | Sequence[int], num_stages: int) -> list[int]:
    indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
    for i, index in enumerate(indices):
        if index < 0:
            indices[i] = num_stages + index
        if not 0 <= indices[i] < num_stages:
            raise ValueError(f"Invalid out_indices {index}")
    return indices


def _stage_window_size(window_size, stage_cfgs: dict | None):
    stage_cfgs = dict(stage_cfgs or {})
    block_cfgs = dict(stage_cfgs.pop("block_cfgs", {}) or {})
    window_size = block_cfgs.pop("window_size", window_size)
    if stage_cfgs or block_cfgs:
        raise NotImplementedError(f"stage_cfgs supports block_cfgs=dict(window_size=...) only, got extra "
                                  f"{sorted(stage_cfgs) + sorted(block_cfgs)}")
    return window_size


def _check_norm_cfg(norm_cfg: dict | None) -> float:
    norm_cfg = dict(norm_cfg or {"type": "LN"})
    if norm_cfg.pop("type") != "LN" or set(norm_cfg) - {"eps"}:
        raise NotImplementedError(f"norm_cfg must be dict(type='LN'[, eps=...]), got {norm_cfg}")
    return norm_cfg.get("eps", 1e-5)


class SwinMMClsMixin(FrozenStagesMixin):
    """MMCls's behaviour on top of timm's Swin (V1 and V2): checkpoint names, freezing, per-stage outputs."""

    downsample_at_end = True  # MMCls V1 merges patches at the end of a stage, V2 at the start

    def adapt_checkpoint(self, state_dict: dict, prefix: str = "") -> None:
        """Rename an MMCls checkpoint's keys (and resize ``absolute_pos_embed``) in place."""
        adapt_mmcls_keys(state_dict, prefix,
                         lambda sd: convert_mmcls_state_dict(sd, downsample_at_end=self.downsample_at_end))
        name = prefix + "absolute_pos_embed"
        if self.use_abs_pos_embed and name in state_dict and state_dict[name].shape != self.absolute_pos_embed.shape:
            ckpt = state_dict[name]
            side = int(ckpt.shape[1] ** 0.5)
            state_dict[name] = resize_pos_embed(ckpt, (side, side), self.patch_embed.grid_size,
                                                self.interpolate_mode, num_extra_tokens=0)

    def _merge_layer(self, stage: int) -> nn.Module | None:
        """The patch merging that MMCls counts as part of ``stage``."""
        index = stage + 1 if self.downsample_at_end else stage
        if 0 < index < len(self.layers):
            return self.layers[index].downsample
        return None

    def _stem_modules(self) -> list[nn.Module | nn.Parameter]:
        return [self.patch_embed] + ([self.absolute_pos_embed] if self.use_abs_pos_embed else [])

    def _stage_modules(self, index: int) -> list[nn.Module]:
        merge = self._merge_layer(index)
        norm = [getattr(self, f"norm{index}")] if index in self.out_indices else []
        return [self.layers[index]] + ([merge] if merge is not None else []) + norm

    def forward(self, x):
        """A tuple with one ``(N, C, H, W)`` map per ``out_indices`` entry."""
        x = self.patch_embed(x)  # (N, H, W, C)
        if self.use_abs_pos_embed:
            height, width = x.shape[1:3]
            pos = resize_pos_embed(self.absolute_pos_embed, self.patch_embed.grid_size, (height, width),
                                   self.interpolate_mode, num_extra_tokens=0)
            x = x + pos.reshape(1, height, width, -1)
        x = self.drop_after_pos(x)
        outs = []
        for i, layer in enumerate(self.layers):
            if self.with_cp and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
            if i in self.out_indices:
                out = x
                if self.out_after_downsample:
                    merge = self._merge_layer(i)
                    out = merge(out) if merge is not None else out
                out = getattr(self, f"norm{i}")(out)
                outs.append(out.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)


@MODELS.register()
class SwinTransformer(SwinMMClsMixin, timm_swin.SwinTransformer):
    """Swin Transformer returning, for each of ``out_indices``, the normalised ``(N, C, H, W)`` stage output.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'`` (or their first letters), or a dict with
            ``embed_dims``, ``depths`` and ``num_heads``.
        img_size: Input size the attention masks are built for (other sizes work, with masks built per call).
        patch_size: Patch size of the patch embedding.
        in_channels: Image channels.
        window_size: Attention window size.
        drop_rate: Dropout after the patch embedding.
        drop_path_rate: Stochastic depth, rising linearly over all blocks.
        out_indices: Stages whose outputs are returned (each with its own ``norm{i}``).
        out_after_downsample: Return the stage outputs after their patch merging.
        use_abs_pos_embed: Add a learnt absolute position embedding after the patch embedding.
        interpolate_mode: How ``absolute_pos_embed`` is resized for other input sizes.
        with_cp: Gradient checkpointing of the blocks.
        frozen_stages: Stages to freeze (the patch embedding at 0); -1 freezes nothing.
        norm_eval: Keep BatchNorms in eval mode (MMCls's argument; Swin has only LayerNorms).
        pad_small_map: Pad feature maps smaller than the window instead of shrinking the window.
        norm_cfg: ``dict(type='LN')`` (optionally with ``eps``).
        stage_cfgs: MMCls's per-stage overrides; ``dict(block_cfgs=dict(window_size=12))`` is supported.
        patch_cfg: MMCls's patch-embedding overrides; must be empty.
        init_cfg: Extra ``init_cfg``; the weights otherwise start as timm's (truncated N(0, 0.02) linears).
    """

    arch_zoo = {
        **dict.fromkeys(["t", "tiny"], {"embed_dims": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24]}),
        **dict.fromkeys(["s", "small"], {"embed_dims": 96, "depths": [2, 2, 18, 2], "num_heads": [3, 6, 12, 24]}),
        **dict.fromkeys(["b", "base"], {"embed_dims": 128, "depths": [2, 2, 18, 2], "num_heads": [4, 8, 16, 32]}),
        **dict.fromkeys(["l", "large"], {"embed_dims": 192, "depths": [2, 2, 18, 2],
                                         "num_heads": [6, 12, 24, 48]}),
    }
    num_extra_tokens = 0

    def __init__(
        self,
        arch: str | dict = "tiny",
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 4,
        in_channels: int = 3,
        window_size: int = 7,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        out_indices: int | Sequence[int] = (3,),
        out_after_downsample: bool = False,
        use_abs_pos_embed: bool = False,
        interpolate_mode: str = "bicubic",
        with_cp: bool = False,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pad_small_map: bool = False,
        norm_cfg: dict | None = None,
        stage_cfgs: dict | None = None,
        patch_cfg: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        self.arch_settings = _resolve_arch(self.arch_zoo, arch, {"embed_dims", "depths", "num_heads"})
        if patch_cfg:
            raise NotImplementedError(f"patch_cfg is not supported, got {patch_cfg}")
        eps = _check_norm_cfg(norm_cfg)
        super().__init__(
            img_size=img_size, patch_size=patch_size, in_chans=in_channels, num_classes=0,
            embed_dim=self.arch_settings["embed_dims"], depths=tuple(self.arch_settings["depths"]),
            num_heads=tuple(self.arch_settings["num_heads"]),
            window_size=_stage_window_size(window_size, stage_cfgs), always_partition=pad_small_map,
            strict_img_size=False, drop_rate=drop_rate, drop_path_rate=drop_path_rate,
            norm_layer=lambda dim, **kw: nn.LayerNorm(dim, eps=eps, **kw))
        _finish_swin(self, out_indices, out_after_downsample, use_abs_pos_embed, interpolate_mode, with_cp,
                     frozen_stages, norm_eval, eps, drop_rate, init_cfg)

def _resolve_arch(arch_zoo: dict, arch: str | dict, essential: set[str]) -> dict:
    if isinstance(arch, str):
        if arch.lower() not in arch_zoo:
            raise KeyError(f"Arch {arch} is not in default archs {sorted(set(arch_zoo))}")
        return dict(arch_zoo[arch.lower()])
    if not isinstance(arch, dict) or not essential <= set(arch):
        raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}, got {arch!r}")
    return dict(arch)


def _finish_swin(model, out_indices, out_after_downsample, use_abs_pos_embed, interpolate_mode, with_cp,
                 frozen_stages, norm_eval, eps, drop_rate, init_cfg) -> None:
    """The MMCls parts shared by Swin V1 and V2 on top of timm's model: per-output norms, no head."""
    del model.norm, model.head  # MMCls normalises each output with its own norm{i}; the head is separate
    model.init_cfg = init_cfg
    model.num_layers = len(model.layers)
    model.out_indices = _out_indices(out_indices, model.num_layers)
    model.out_after_downsample = out_after_downsample
    model.interpolate_mode = interpolate_mode
    model.with_cp = with_cp
    model.frozen_stages = frozen_stages
    model.norm_eval = norm_eval
    embed_dims = model.arch_settings["embed_dims"]
    model.num_features = [embed_dims * 2 ** i for i in range(model.num_layers)]
    if out_after_downsample:
        model.num_features = [embed_dims * 2 ** min(i + 1, model.num_layers - 1) for i in range(model.num_layers)]
    for i in model.out_indices:
        model.add_module(f"norm{i}", nn.LayerNorm(model.num_features[i], eps=eps))
    model.use_abs_pos_embed = use_abs_pos_embed
    if use_abs_pos_embed:
        grid = model.patch_embed.grid_size
        model.absolute_pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1], embed_dims))
        nn.init.trunc_normal_(model.absolute_pos_embed, std=0.02)
    model.drop_after_pos = nn.Dropout(p=drop_rate)
    model.register_load_state_dict_pre_hook(_mmcls_keys_hook)
    model._freeze_stages()


def swin_tiny_test(**kwargs) -> SwinTransformer:
    """A 2-stage, 16-wide Swin on 32x32 images with 4x4 windows, for tests."""
    kwargs.setdefault("img_size", 32)
    kwargs.setdefault("window_size", 4)
    kwargs.setdefault("out_indices", (0, 1))
    arch = {"embed_dims": 16, "depths": [2, 2], "num_heads": [1, 2]}
    return SwinTransformer(arch=arch, **kwargs)
