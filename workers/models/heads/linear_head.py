"""LinearClsHead: one fully connected layer then ClsHead's loss (seed section 8.1.3)."""

from __future__ import annotations

import torch.nn as nn

from workers.models.heads.cls_head import ClsHead
from workers.models.layers import normal_init
from workers.registry import MODELS

__all__ = ["LinearClsHead"]


@MODELS.register()
class LinearClsHead(ClsHead):
    """A linear classifier ``fc`` on pooled features.

    Args:
        num_classes: Output classes.
        in_channels: Feature size (the neck's output channels).
        loss: Loss config.
        topk: The ``k`` of the training accuracy.
        cal_acc: Report training accuracy.
        init_cfg: ``None`` keeps MMCls's N(0, 0.01) weights and zero bias; or a Pretrained config.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        loss: dict | None = None,
        topk: int | tuple[int, ...] = (1,),
        cal_acc: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        self._check_num_classes(num_classes)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.fc = nn.Linear(in_channels, num_classes)
        normal_init(self.fc, mean=0.0, std=0.01, bias=0.0)

    def forward(self, x):
        """Raw class scores ``(N, num_classes)``."""
        return self.fc(self.pre_logits(x))
