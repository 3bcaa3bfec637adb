"""EfficientFormerClsHead: the classifier and distillation classifier of EfficientFormer, averaged.

Paper: Li et al., "EfficientFormer: Vision Transformers at MobileNet Speed", NeurIPS 2022
(https://arxiv.org/abs/2206.01191). Follows MMClassification 0.25's ``efficientformer_head.py``
(``head`` and ``dist_head``); as there, the distilled version only runs inference.
"""

from __future__ import annotations

import torch.nn as nn

from workers.models.heads.cls_head import ClsHead
from workers.models.layers import normal_init
from workers.registry import MODELS

__all__ = ["EfficientFormerClsHead"]


@MODELS.register()
class EfficientFormerClsHead(ClsHead):
    """``head`` (and with ``distillation`` the ``dist_head``) on pooled features; scores are their mean.

    Args:
        num_classes: Output classes.
        in_channels: Feature size (the neck's output channels).
        distillation: Add ``dist_head`` (the released checkpoints have it); training then raises.
        loss: Loss config.
        topk: The ``k`` of the training accuracy.
        cal_acc: Report training accuracy.
        init_cfg: ``None`` keeps MMCls's N(0, 0.01) Linear weights; or another init config.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        distillation: bool = True,
        loss: dict | None = None,
        topk: int | tuple[int, ...] = (1,),
        cal_acc: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        self._check_num_classes(num_classes)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dist = distillation
        self.head = nn.Linear(in_channels, num_classes)
        normal_init(self.head, std=0.01)
        if distillation:
            self.dist_head = nn.Linear(in_channels, num_classes)
            normal_init(self.dist_head, std=0.01)

    def forward(self, x):
        """Raw class scores ``(N, num_classes)``: ``head``, averaged with ``dist_head`` when distilled."""
        x = self.pre_logits(x)
        score = self.head(x)
        return (score + self.dist_head(x)) / 2 if self.dist else score

    def forward_train(self, x, gt_label, **kwargs) -> dict:
        if self.dist:
            raise NotImplementedError("MMClassification doesn't support to train the distilled version "
                                      "EfficientFormer.")
        return self.loss(self.head(self.pre_logits(x)), gt_label, **kwargs)
