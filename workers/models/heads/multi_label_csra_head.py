"""CSRAClsHead: class-specific residual attention for multi-label recognition.

Paper: Zhu and Wu, "Residual Attention: A Simple but Effective Method for Multi-Label Recognition",
ICCV 2021 (https://arxiv.org/abs/2108.02456). Arguments and parameter names (``csra_heads.N.head``)
follow MMClassification 0.25's ``multi_label_csra_head.py``. It takes the backbone's feature map, not
pooled features (``neck=None``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.models.heads.multi_label_head import MultiLabelClsHead
from workers.registry import MODELS

__all__ = ["CSRAClsHead", "CSRAModule"]


class CSRAModule(nn.Module):
    """One attention head: average-pooled class scores plus ``lam`` times attention-pooled ones.

    Args:
        num_classes: Classes.
        in_channels: Channels of the feature map.
        T: Softmax temperature of the spatial attention; 99 means max pooling.
        lam: Weight of the attention-pooled scores.
    """

    def __init__(self, num_classes: int, in_channels: int, T: int, lam: float):
        super().__init__()
        self.T = T
        self.lam = lam
        self.head = nn.Conv2d(in_channels, num_classes, 1, bias=False)
        self.softmax = nn.Softmax(dim=2)

    def forward(self, x):
        # class scores per location, normalised by each class' weight norm
        score = self.head(x) / torch.norm(self.head.weight, dim=1, keepdim=True).transpose(0, 1)
        score = score.flatten(2)
        base_logit = score.mean(dim=2)
        if self.T == 99:
            att_logit = score.max(dim=2)[0]
        else:
            att_logit = (score * self.softmax(score * self.T)).sum(dim=2)
        return base_logit + self.lam * att_logit


@MODELS.register()
class CSRAClsHead(MultiLabelClsHead):
    """Sum of ``num_heads`` :class:`CSRAModule` with MMCls's temperature settings.

    Args:
        num_classes: Classes.
        in_channels: Channels of the feature map.
        num_heads: 1, 2, 4, 6 or 8.
        lam: Weight of the attention-pooled scores, > 0.
        loss: Loss config (default sigmoid binary cross-entropy).
        init_cfg: Extra ``init_cfg``.
    """

    temperature_settings = {1: [1], 2: [1, 99], 4: [1, 2, 4, 99], 6: [1, 2, 3, 4, 5, 99],
                            8: [1, 2, 3, 4, 5, 6, 7, 99]}

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        num_heads: int,
        lam: float,
        loss: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        if num_heads not in self.temperature_settings:
            raise ValueError(f"num_heads must be one of {sorted(self.temperature_settings)}, got {num_heads}")
        if lam <= 0:
            raise ValueError(f"lam must be positive, got {lam}")
        super().__init__(loss=loss, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.temp_list = self.temperature_settings[num_heads]
        self.csra_heads = nn.ModuleList(CSRAModule(num_classes, in_channels, t, lam) for t in self.temp_list)

    def forward(self, x):
        x = self.pre_logits(x)
        return sum(head(x) for head in self.csra_heads)
