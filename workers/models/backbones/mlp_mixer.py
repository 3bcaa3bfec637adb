"""MLP-Mixer backbone, wrapping timm's ``MlpMixer`` under MMClassification 0.25's arguments.

Paper: Tolstikhin et al., "MLP-Mixer: An all-MLP Architecture for Vision", NeurIPS 2021
(https://arxiv.org/abs/2105.01601). The patch embedding and mixer blocks are timm's
(``timm/models/mlp_mixer.py``); arguments, ``arch`` settings, ``out_indices`` and the ``(N, C, L)`` token
outputs (pooled by ``GlobalAveragePooling(dim=1)`` in the configs) are MMCls's
``mmcls/models/backbones/mlp_mixer.py``.

MMCls checkpoint keys load through ``mmcls_key_rules`` (applied by ``load_state_dict`` and ``load_weights``):

==========================================  ==========================================
MMCls                                       here (timm)
==========================================  ==========================================
``patch_embed.projection``                  ``stem.proj``
``layers.i.ln{1,2}``                        ``blocks.i.norm{1,2}``
``layers.i.token_mix.layers.0.0``           ``blocks.i.mlp_tokens.fc1``
``layers.i.token_mix.layers.1``             ``blocks.i.mlp_tokens.fc2``
``layers.i.channel_mix.layers.{0.0,1}``     ``blocks.i.mlp_channels.fc{1,2}``
``ln1`` (final norm)                        ``norm``
==========================================  ==========================================
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch.nn as nn
from timm.models.mlp_mixer import MlpMixer as TimmMlpMixer

from workers.models.backbones._keymap import MMClsKeysMixin
from workers.models.layers import build_activation
from workers.registry import MODELS

__all__ = ["MlpMixer", "mlp_mixer_tiny_test"]


@MODELS.register()
class MlpMixer(MMClsKeysMixin, nn.Module):
    """MLP-Mixer returning, for each of ``out_indices``, the tokens as ``(N, C, num_tokens)``.

    Args:
        arch: ``'b'``/``'base'``, ``'l'``/``'large'``, or a dict with ``embed_dims``, ``num_layers``,
            ``tokens_mlp_dims`` and ``channels_mlp_dims``.
        img_size: Input size; fixes the number of tokens the token-mixing MLPs take.
        patch_size: Patch size.
        out_indices: Layers whose outputs are returned; -1 is the last (after the final norm).
        drop_rate: Dropout in the MLPs.
        drop_path_rate: Stochastic depth of every layer (constant, as in MMCls and timm).
        norm_cfg: Only ``LN`` (its ``eps`` is used, default 1e-5).
        act_cfg: Activation config (GELU).
        patch_cfg: Only an empty dict (the default patch embedding).
        layer_cfgs: Only an empty dict.
        init_cfg: ``init_cfg`` applied after construction.
    """

    mmcls_key_rules = [
        (r"^patch_embed\.projection\.", "stem.proj."),
        (r"^layers\.(\d+)\.ln(\d)\.", r"blocks.\1.norm\2."),
        (r"^layers\.(\d+)\.token_mix\.layers\.0\.0\.", r"blocks.\1.mlp_tokens.fc1."),
        (r"^layers\.(\d+)\.token_mix\.layers\.1\.", r"blocks.\1.mlp_tokens.fc2."),
        (r"^layers\.(\d+)\.channel_mix\.layers\.0\.0\.", r"blocks.\1.mlp_channels.fc1."),
        (r"^layers\.(\d+)\.channel_mix\.layers\.1\.", r"blocks.\1.mlp_channels.fc2."),
        (r"^ln1\.", "norm."),
    ]

    arch_zoo = {
        **dict.fromkeys(["b", "base"], {"embed_dims": 768, "num_layers": 12, "tokens_mlp_dims": 384,
                                        "channels_mlp_dims": 3072}),
        **dict.fromkeys(["l", "large"], {"embed_dims": 1024, "num_layers": 24, "tokens_mlp_dims": 512,
                                         "channels_mlp_dims": 4096}),
    }

    def __init__(
        self,
        arch: str | dict = "base",
        img_size: int = 224,
        patch_size: int = 16,
        out_indices: int | Sequence[int] = -1,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        patch_cfg: dict | None = None,
        layer_cfgs: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise KeyError(f"Arch {arch} is not in default archs {sorted(self.arch_zoo)}")
            arch = self.arch_zoo[arch.lower()]
        essential = {"embed_dims", "num_layers", "tokens_mlp_dims", "channels_mlp_dims"}
        if not isinstance(arch, dict) or not essential <= set(arch):
            raise ValueError(f"Custom arch needs a dict with keys {sorted(essential)}, got {arch!r}")
        if patch_cfg or layer_cfgs:
            raise NotImplementedError("MlpMixer supports the default patch_cfg and layer_cfgs only")
        norm_cfg = dict(norm_cfg or {"type": "LN"})
        if norm_cfg.pop("type") != "LN":
            raise NotImplementedError("MlpMixer supports norm_cfg type 'LN' only")
        act_cfg = act_cfg or {"type": "GELU"}
        self.embed_dims = arch["embed_dims"]
        self.num_layers = arch["num_layers"]
        ratios = (arch["tokens_mlp_dims"] / self.embed_dims, arch["channels_mlp_dims"] / self.embed_dims)
        timm_model = TimmMlpMixer(
            num_classes=0, img_size=img_size, patch_size=patch_size, num_blocks=self.num_layers,
            embed_dim=self.embed_dims, mlp_ratio=ratios,
            norm_layer=functools.partial(nn.LayerNorm, eps=norm_cfg.get("eps", 1e-5)),
            act_layer=lambda *args, **kwargs: build_activation(act_cfg), proj_drop_rate=drop_rate,
            drop_path_rate=drop_path_rate)
        self.stem = timm_model.stem
        self.blocks = timm_model.blocks
        self.norm = timm_model.norm
        self.num_patches = self.stem.num_patches

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i, index in enumerate(indices):
            if index < 0:
                indices[i] = self.num_layers + index
            if not 0 <= indices[i] < self.num_layers:
                raise ValueError(f"Invalid out_indices {index}")
        self.out_indices = indices
        self.init_cfg = init_cfg
        self._install_mmcls_key_hook()

    def forward(self, x):
        if x.shape[-2:] != tuple(self.stem.img_size):
            raise ValueError(f"The MLP-Mixer only accepts {tuple(self.stem.img_size)} inputs, got "
                             f"{tuple(x.shape[-2:])}")
        x = self.stem(x)
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.num_layers - 1:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(x.transpose(1, 2))
        return tuple(outs)


def mlp_mixer_tiny_test(**kwargs) -> MlpMixer:
    """A 2-layer, 16-wide MLP-Mixer on 32x32 images with 8x8 patches, for tests."""
    kwargs.setdefault("img_size", 32)
    kwargs.setdefault("patch_size", 8)
    return MlpMixer(arch={"embed_dims": 16, "num_layers": 2, "tokens_mlp_dims": 8, "channels_mlp_dims": 64},
                    **kwargs)
