"""EfficientFormer backbone, wrapping timm's ``EfficientFormer`` stages under MMClassification 0.25's arguments.

Paper: Li et al., "EfficientFormer: Vision Transformers at MobileNet Speed", NeurIPS 2022
(https://arxiv.org/abs/2206.01191). The conv stem, pooling (``Meta4D``) and attention (``Meta3D``) blocks
are timm's (``timm/models/efficientformer.py``); arguments, ``arch`` settings, ``out_indices``,
``frozen_stages``, ``reshape_last_feat`` and the ``norm{i}`` output norms (LayerNorm on the last stage's
tokens, else GroupNorm with one group) are MMCls's ``mmcls/models/backbones/efficientformer.py``.

MMCls checkpoint keys load through ``mmcls_key_rules`` (applied by ``load_state_dict`` and ``load_weights``):

==========================================  ==============================================
MMCls                                       here (timm)
==========================================  ==============================================
``patch_embed.{0,1}.conv``                  ``stem.conv{1,2}``
``patch_embed.{0,1}.bn``                    ``stem.norm{1,2}``
``network.i.0.{conv,bn}`` (downsampling)    ``stages.i.downsample.{conv,norm}``
``network.i.k.*`` (blocks)                  ``stages.i.blocks.{k-1}.*`` (``k`` in stage 0,
                                            which has no downsampling layer)
``....ls{1,2}.weight``                      ``....ls{1,2}.gamma``
``norm{i}``                                 ``norm{i}`` (unchanged)
==========================================  ==============================================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from timm.models.efficientformer import EfficientFormer as TimmEfficientFormer

from workers.models.backbones._freeze import FrozenStagesMixin
from workers.models.backbones._keymap import MMClsKeysMixin
from workers.models.layers import build_activation, build_norm_layer
from workers.registry import MODELS

__all__ = ["EfficientFormer", "efficientformer_tiny_test"]


@MODELS.register()
class EfficientFormer(MMClsKeysMixin, FrozenStagesMixin, nn.Module):
    """EfficientFormer returning the normalised output of each of ``out_indices`` (stages).

    The last stage's output is ``(N, C, H*W)`` tokens (LayerNorm), or ``(N, C, H, W)`` with
    ``reshape_last_feat``; the other stages' are ``(N, C, H, W)`` maps.

    Args:
        arch: ``'l1'``, ``'l3'``, ``'l7'`` or a dict with ``layers``, ``embed_dims``, ``downsamples`` and
            ``vit_num`` (attention blocks at the end of the last stage).
        in_channels: Image channels.
        pool_size: Kernel of the pooling token mixer.
        mlp_ratios: Hidden size of the MLPs over the channels.
        reshape_last_feat: Return the last stage as a ``(N, C, H, W)`` map (GroupNorm) for dense tasks.
        out_indices: Stages whose outputs are returned; -1 is the last.
        frozen_stages: Stages frozen in eval mode (0 freezes the stem alone, -1 nothing).
        act_cfg: Activation config of the MLPs (GELU).
        drop_rate: Dropout in the MLPs.
        drop_path_rate: Stochastic depth, rising linearly over all blocks up to this value.
        use_layer_scale: Only ``True`` (timm's blocks always have layer scale).
        resolution: Only 7 (the attention-bias grid of a 224 input).
        init_cfg: ``init_cfg`` applied after construction.
    """

    arch_settings = {
        "l1": {"layers": [3, 2, 6, 4], "embed_dims": [48, 96, 224, 448],
               "downsamples": [False, True, True, True], "vit_num": 1},
        "l3": {"layers": [4, 4, 12, 6], "embed_dims": [64, 128, 320, 512],
               "downsamples": [False, True, True, True], "vit_num": 4},
        "l7": {"layers": [6, 6, 18, 8], "embed_dims": [96, 192, 384, 768],
               "downsamples": [False, True, True, True], "vit_num": 8},
    }

    def __init__(
        self,
        arch: str | dict = "l1",
        in_channels: int = 3,
        pool_size: int = 3,
        mlp_ratios: float = 4,
        reshape_last_feat: bool = False,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = -1,
        act_cfg: dict | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        use_layer_scale: bool = True,
        init_cfg: dict | list | None = None,
        resolution: int = 7,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ValueError(f"Unavailable arch {arch!r}, please choose from {sorted(self.arch_settings)}")
            arch = self.arch_settings[arch]
        if not isinstance(arch, dict) or set(arch) != set(self.arch_settings["l1"]):
            raise ValueError(f"The arch dict must have {sorted(self.arch_settings['l1'])}, got {arch!r}")
        if not use_layer_scale or resolution != 7:
            raise NotImplementedError("EfficientFormer supports use_layer_scale=True and resolution=7 only")
        self.layers = list(arch["layers"])
        self.embed_dims = list(arch["embed_dims"])
        self.downsamples = list(arch["downsamples"])
        self.vit_num = arch["vit_num"]
        if not 0 <= self.vit_num <= self.layers[-1]:
            raise ValueError(f"vit_num must be between 0 and the last stage's layers, got {self.vit_num}")
        self.reshape_last_feat = reshape_last_feat
        act_cfg = act_cfg or {"type": "GELU"}

        timm_model = TimmEfficientFormer(
            depths=tuple(self.layers), embed_dims=tuple(self.embed_dims), in_chans=in_channels, num_classes=0,
            downsamples=tuple(self.downsamples), num_vit=self.vit_num, mlp_ratios=mlp_ratios,
            pool_size=pool_size, act_layer=lambda *args, **kwargs: build_activation(act_cfg),
            proj_drop_rate=drop_rate, drop_path_rate=drop_path_rate)
        self.stem = timm_model.stem
        self.stages = timm_model.stages

        num_stages = len(self.layers)
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            if index < 0:
                indices[i] = num_stages + index
            if not 0 <= indices[i] < num_stages:
                raise ValueError(f"Invalid out_indices {index}")
        self.out_indices = indices
        for i in self.out_indices:
            if i == num_stages - 1 and self.vit_num > 0 and not reshape_last_feat:
                norm_cfg = {"type": "LN"}
            else:
                norm_cfg = {"type": "GN", "num_groups": 1}  # channel-first LayerNorm
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, self.embed_dims[i])[1])
        self.frozen_stages = frozen_stages
        self.init_cfg = init_cfg
        self._freeze_stages()
        rules = [(r"^patch_embed\.0\.conv\.", "stem.conv1."), (r"^patch_embed\.0\.bn\.", "stem.norm1."),
                 (r"^patch_embed\.1\.conv\.", "stem.conv2."), (r"^patch_embed\.1\.bn\.", "stem.norm2."),
                 (r"^(network\.\d+\.\d+\.ls[12])\.weight$", r"\1.gamma")]
        for i, stage in enumerate(self.stages):
            # in MMCls a downsampling layer is entry 0 of its stage's network, the blocks follow it
            offset = int(bool(self.downsamples[i]))
            if offset:
                rules += [(rf"^network\.{i}\.0\.conv\.", f"stages.{i}.downsample.conv."),
                          (rf"^network\.{i}\.0\.bn\.", f"stages.{i}.downsample.norm.")]
            rules += [(rf"^network\.{i}\.{j + offset}\.", f"stages.{i}.blocks.{j}.") for j in range(len(stage.blocks))]
        self.mmcls_key_rules = rules
        self._install_mmcls_key_hook()

    def _stem_modules(self) -> list[nn.Module]:
        return [self.stem]

    def _stage_modules(self, index: int) -> list[nn.Module]:
        return [self.stages[index]] + ([getattr(self, f"norm{index}")] if index in self.out_indices else [])

    def forward(self, x):
        x = self.stem(x)
        outs = []
        last = len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            if i == last:
                batch, _, height, width = x.shape
                if self.downsamples[i]:
                    height, width = (height + 1) // 2, (width + 1) // 2
            x = stage(x)
            if i in self.out_indices:
                norm = getattr(self, f"norm{i}")
                if i == last and x.dim() == 3:  # the attention blocks' (N, H*W, C) tokens
                    if self.reshape_last_feat:
                        out = norm(x.permute(0, 2, 1).reshape(batch, -1, height, width))
                    else:
                        out = norm(x).permute(0, 2, 1)
                else:
                    out = norm(x)
                outs.append(out.contiguous())
        return tuple(outs)


def efficientformer_tiny_test(**kwargs) -> EfficientFormer:
    """A 4-stage EfficientFormer with one block per stage (the last one attention), 8..32 channels, for tests."""
    arch = {"layers": [1, 1, 1, 2], "embed_dims": [8, 16, 24, 32], "downsamples": [False, True, True, True],
            "vit_num": 1}
    return EfficientFormer(arch=arch, **kwargs)
