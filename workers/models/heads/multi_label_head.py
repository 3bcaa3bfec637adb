"""MultiLabelClsHead and MultiLabelLinearClsHead: sigmoid scores and a binary loss per class.

Follows MMClassification 0.25's ``multi_label_head.py`` and ``multi_label_linear_head.py``. Targets are
multi-hot ``(N, C)`` rows of 1 (present), 0 (absent) and -1 (difficult, as VOC marks them). As in MMCls,
the loss maps difficult labels to positives (``abs``); the multi-label metrics are where they are
left out. Scores are sigmoid probabilities; :meth:`MultiLabelClsHead.predict` thresholds them.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.models.heads.base_head import BaseHead
from workers.models.layers import normal_init
from workers.registry import MODELS

__all__ = ["MultiLabelClsHead", "MultiLabelLinearClsHead"]

_BCE = {"type": "CrossEntropyLoss", "use_sigmoid": True, "reduction": "mean", "loss_weight": 1.0}


@MODELS.register()
class MultiLabelClsHead(BaseHead):
    """Multi-label head without layers: its input already is the class logits.

    Args:
        loss: Loss config (default sigmoid binary cross-entropy).
        init_cfg: ``init_cfg`` or ``None``.
    """

    def __init__(
        self,
        loss: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(dict(_BCE) if loss is None else loss, init_cfg)

    def loss(self, cls_score: torch.Tensor, gt_label: torch.Tensor, **kwargs) -> dict:
        """``{'loss': ...}``, averaged over samples (summed over classes), difficult labels counted as positive."""
        gt_label = gt_label.type_as(cls_score)
        # map difficult examples (-1) to positive ones, as MMCls 0.25 does
        return {"loss": self.compute_loss(cls_score, gt_label.abs(), avg_factor=len(cls_score), **kwargs)}

    def simple_test(self, x, sigmoid: bool = True, post_process: bool = False):
        """Per-class probabilities ``(N, C)`` (or logits with ``sigmoid=False``); a list with ``post_process``."""
        cls_score = self(x)
        pred = torch.sigmoid(cls_score) if sigmoid else cls_score
        return self.post_process(pred) if post_process else pred

    def predict(self, x, thr: float = 0.5) -> torch.Tensor:
        """Multi-hot ``(N, C)`` predictions: probability ``>= thr`` (MMCls's metrics use ``thr=0.5``)."""
        return (self.simple_test(x) >= thr).long()


@MODELS.register()
class MultiLabelLinearClsHead(MultiLabelClsHead):
    """A linear layer ``fc`` on pooled features, then :class:`MultiLabelClsHead`.

    Args:
        num_classes: Output classes.
        in_channels: Feature size.
        loss: Loss config (default sigmoid binary cross-entropy).
        init_cfg: Extra ``init_cfg``; ``fc`` starts as N(0, 0.01) with zero bias, as in MMCls.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        loss: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(loss=loss, init_cfg=init_cfg)
        self._check_num_classes(num_classes)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.fc = nn.Linear(in_channels, num_classes)
        normal_init(self.fc, mean=0.0, std=0.01, bias=0.0)

    def forward(self, x):
        return self.fc(self.pre_logits(x))
