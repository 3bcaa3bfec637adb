"""DeiTClsHead: average the class-token and distillation-token classifiers of a distilled ViT.

Paper: Touvron et al., "Training data-efficient image transformers & distillation through attention",
ICML 2021 (https://arxiv.org/abs/2012.12877). Follows MMClassification 0.25's ``deit_head.py``, which,
like this one, trains only with the averaged score (no distillation loss).
"""

from __future__ import annotations

import logging

import torch.nn as nn

from workers.models.heads.vision_transformer_head import VisionTransformerClsHead
from workers.registry import MODELS

__all__ = ["DeiTClsHead"]

logger = logging.getLogger(__name__)


@MODELS.register()
class DeiTClsHead(VisionTransformerClsHead):
    """Takes the backbone's last ``[patch_token, cls_token, dist_token]``; scores are ``(head + head_dist) / 2``.

    Arguments as :class:`VisionTransformerClsHead`; it adds ``layers.head_dist``.
    """

    def _make_layers(self) -> list[tuple[str, nn.Module]]:
        return super()._make_layers() + [
            ("head_dist", nn.Linear(self.hidden_dim or self.in_channels, self.num_classes))]

    def pre_logits(self, x):
        """``(cls_token, dist_token)`` of the last output (through the pre-logits layer, if any)."""
        x = x[-1] if isinstance(x, tuple) else x
        if not isinstance(x, (list, tuple)) or len(x) != 3:
            raise TypeError("DeiTClsHead needs [patch_token, cls_token, dist_token] from a distilled ViT "
                            "(DistilledVisionTransformer)")
        _, cls_token, dist_token = x
        return self._features(cls_token), self._features(dist_token)

    def forward(self, x):
        cls_token, dist_token = self.pre_logits(x)
        return (self.layers.head(cls_token) + self.layers.head_dist(dist_token)) / 2

    def forward_train(self, x, gt_label, **kwargs) -> dict:
        logger.warning("MMClassification doesn't support to train the distilled version DeiT.")
        return super().forward_train(x, gt_label, **kwargs)
