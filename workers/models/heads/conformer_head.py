"""ConformerHead: one linear classifier per Conformer branch (CNN and transformer).

Paper: Peng et al., "Conformer: Local Features Coupling Global Representations for Visual Recognition",
ICCV 2021 (https://arxiv.org/abs/2105.03889). Follows MMClassification 0.25's ``conformer_head.py``:
training averages the two branches' losses, testing scores the sum of their logits.
"""

from __future__ import annotations

import torch.nn as nn

from workers.models.heads.cls_head import ClsHead
from workers.registry import MODELS

__all__ = ["ConformerHead"]


@MODELS.register()
class ConformerHead(ClsHead):
    """Classify the last ``[conv_features, trans_features]`` pair of a Conformer backbone.

    Args:
        num_classes: Output classes.
        in_channels: ``[conv_dim, trans_dim]``.
        loss: Loss config.
        topk: The ``k`` of the training accuracy.
        cal_acc: Report training accuracy (of the summed scores).
        init_cfg: Extra ``init_cfg``; the layers start as truncated N(0, 0.02) with zero bias, as in MMCls.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: tuple[int, int],
        loss: dict | None = None,
        topk: int | tuple[int, ...] = (1,),
        cal_acc: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        self._check_num_classes(num_classes)
        self.in_channels = list(in_channels)
        self.num_classes = num_classes
        self.conv_cls_head = nn.Linear(self.in_channels[0], num_classes)
        self.trans_cls_head = nn.Linear(self.in_channels[1], num_classes)
        for m in (self.conv_cls_head, self.trans_cls_head):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        """``[conv_scores, trans_scores]``, each ``(N, num_classes)``."""
        x = self.pre_logits(x)
        if not isinstance(x, (list, tuple)) or len(x) != 2:
            raise TypeError("There should be two outputs in the Conformer model")
        return [self.conv_cls_head(x[0]), self.trans_cls_head(x[1])]

    def loss(self, cls_score, gt_label, **kwargs) -> dict:
        """The mean of the branches' losses; the training accuracy is that of their summed scores."""
        num_samples = len(cls_score[0])
        loss = sum(self.compute_loss(score, gt_label, avg_factor=num_samples, **kwargs)
                   for score in cls_score) / len(cls_score)
        return {"loss": loss, **self._train_accuracy(cls_score[0] + cls_score[1], gt_label)}

    def simple_test(self, x, softmax: bool = True, post_process: bool = False):
        """Softmax of the summed scores; with ``softmax=False`` the two branches' raw scores as a list."""
        conv_score, trans_score = self(x)
        if softmax:
            return self.predict_from_scores(conv_score + trans_score, post_process=post_process)
        pred = [conv_score, trans_score]
        return [self.post_process(p) for p in pred] if post_process else pred
