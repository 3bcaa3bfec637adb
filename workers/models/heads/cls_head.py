"""ClsHead: the loss and softmax scoring on top of ready-made class scores (MMClassification 0.25)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from workers.evaluation.metrics import accuracy
from workers.registry import MODELS

__all__ = ["ClsHead"]


@MODELS.register()
class ClsHead(nn.Module):
    """Classification head without layers: its input already is the class scores (e.g. LeNet5's).

    Args:
        loss: Loss config.
        topk: The ``k`` of the training accuracy (with ``cal_acc``).
        cal_acc: Also report top-k accuracy of each training batch.
        init_cfg: ``dict(type='Pretrained', ...)`` or ``None``.
    """

    def __init__(
        self,
        loss: dict | None = None,
        topk: int | tuple[int, ...] = (1,),
        cal_acc: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if loss is None:
            loss = {"type": "CrossEntropyLoss", "loss_weight": 1.0}
        if isinstance(topk, int):
            topk = (topk,)
        topk = tuple(topk)
        if any(k <= 0 for k in topk):
            raise ValueError(f"topk must be positive, got {topk}")
        self.topk = topk
        self.cal_acc = cal_acc
        self.init_cfg = init_cfg
        self.compute_loss = MODELS.build(loss)

    def loss(self, cls_score: torch.Tensor, gt_label: torch.Tensor, **kwargs) -> dict:
        """``{'loss': ...}``, plus ``{'accuracy': {'top-k': ...}}`` with ``cal_acc``."""
        num_samples = len(cls_score)
        losses: dict = {}
        losses["loss"] = self.compute_loss(cls_score, gt_label, avg_factor=num_samples, **kwargs)
        if self.cal_acc and gt_label.dim() == 1:  # no top-k accuracy against mixup's soft labels
            acc = accuracy(cls_score, gt_label, topk=self.topk)
            losses["accuracy"] = {f"top-{k}": a for k, a in zip(self.topk, acc, strict=True)}
        return losses

    def pre_logits(self, x):
        """The last of a tuple of features."""
        return x[-1] if isinstance(x, tuple) else x

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        return self.loss(self.pre_logits(x), gt_label, **kwargs)

    def simple_test(self, x, softmax: bool = True, post_process: bool = False):
        """Class probabilities ``(N, C)`` (or raw scores with ``softmax=False``).

        ``post_process=True`` gives MMCls's list of per-sample numpy arrays instead of a tensor.
        """
        return self.predict_from_scores(self.pre_logits(x), softmax=softmax, post_process=post_process)

    def predict_from_scores(self, cls_score: torch.Tensor, softmax: bool = True, post_process: bool = False):
        """Softmax (if asked) and post-processing of ready class scores; heads with layers call it."""
        pred = F.softmax(cls_score, dim=1) if softmax else cls_score
        return self.post_process(pred) if post_process else pred

    @staticmethod
    def post_process(pred: torch.Tensor) -> list:
        return list(pred.detach().cpu().numpy())
