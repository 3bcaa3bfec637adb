"""DistilledVisionTransformer: DeiT's ViT with a second, distillation token.

Paper: Touvron et al., "Training data-efficient image transformers & distillation through attention",
ICML 2021 (https://arxiv.org/abs/2012.12877). Follows MMClassification 0.25's ``backbones/deit.py``:
a :class:`~workers.models.backbones.vision_transformer.VisionTransformer` with ``dist_token`` after
``cls_token``, whose outputs are ``[patch_token, cls_token, dist_token]`` (for ``DeiTClsHead``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.models.backbones.vision_transformer import VisionTransformer
from workers.registry import MODELS

__all__ = ["DistilledVisionTransformer"]


@MODELS.register()
class DistilledVisionTransformer(VisionTransformer):
    """ViT with class and distillation tokens; arguments as :class:`VisionTransformer` (``arch='deit-base'``)."""

    num_extra_tokens = 2  # the class and distillation tokens

    def __init__(self, arch: str | dict = "deit-base", *args, **kwargs):
        super().__init__(arch, *args, **kwargs)

    def _init_extra_weights(self) -> None:
        self.dist_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        super()._init_extra_weights()
        nn.init.trunc_normal_(self.dist_token, std=0.02)

    def _extra_tokens(self, batch: int) -> torch.Tensor:
        return torch.cat((self.cls_token.expand(batch, -1, -1), self.dist_token.expand(batch, -1, -1)), dim=1)
