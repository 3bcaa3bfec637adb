"""ClsHead: the loss and softmax scoring on top of ready-made class scores (MMClassification 0.25)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workers.evaluation.metrics import accuracy
from workers.models.heads.base_head import BaseHead
from workers.registry import MODELS

__all__ = ["ClsHead"]


@MODELS.register()
class ClsHead(BaseHead):
    """Single-label head: softmax scores and the top-k training accuracy; subclasses add the layers.

    Without layers (``ClsHead`` itself) its input already is the class scores (e.g. LeNet5's).

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
        if isinstance(topk, int):
            topk = (topk,)
        topk = tuple(topk)
        if any(k <= 0 for k in topk):
            raise ValueError(f"topk must be positive, got {topk}")
        super().__init__({"type": "CrossEntropyLoss", "loss_weight": 1.0} if loss is None else loss, init_cfg)
        self.topk = topk
        self.cal_acc = cal_acc

    def loss(self, cls_score: torch.Tensor, gt_label: torch.Tensor, **kwargs) -> dict:
        """``{'loss': ...}``, plus ``{'accuracy': {'top-k': ...}}`` with ``cal_acc``."""
        loss = self.compute_loss(cls_score, gt_label, avg_factor=len(cls_score), **kwargs)
        return {"loss": loss, **self._train_accuracy(cls_score, gt_label)}

    def _train_accuracy(self, cls_score: torch.Tensor, gt_label: torch.Tensor) -> dict:
        """``{'accuracy': {'top-k': ...}}`` with ``cal_acc``, else ``{}``."""
        if not self.cal_acc or gt_label.dim() != 1:  # no top-k accuracy against mixup's soft labels
            return {}
        acc = accuracy(cls_score, gt_label, topk=self.topk)
        return {"accuracy": {f"top-{k}": a for k, a in zip(self.topk, acc, strict=True)}}

    def simple_test(self, x, softmax: bool = True, post_process: bool = False):
        """Class probabilities ``(N, C)`` (or raw scores with ``softmax=False``).

        ``post_process=True`` gives MMCls's list of per-sample numpy arrays instead of a tensor.
        """
        return self.predict_from_scores(self(x), softmax=softmax, post_process=post_process)

    def predict_from_scores(self, cls_score: torch.Tensor, softmax: bool = True, post_process: bool = False):
        """Softmax (if asked) and post-processing of ready class scores."""
        pred = F.softmax(cls_score, dim=1) if softmax else cls_score
        return self.post_process(pred) if post_process else pred
