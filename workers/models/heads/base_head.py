"""BaseHead: what every classification head shares (MMClassification 0.25's ``BaseHead``/``ClsHead`` split).

A head turns the neck's features into class scores with ``forward`` (the last feature by default: a head
without layers takes ready scores) and builds its loss from a config. Training is ``loss(self(x))``;
``simple_test`` is the subclass's (softmax for :class:`ClsHead`, sigmoid for the multi-label heads).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.registry import MODELS

__all__ = ["BaseHead"]


class BaseHead(nn.Module):
    """The loss, ``pre_logits``, ``forward_train`` and ``post_process`` of a classification head.

    Subclasses implement ``loss(cls_score, gt_label)`` and ``simple_test``, and override ``forward`` where
    they have layers.

    Args:
        loss: Loss config.
        init_cfg: ``init_cfg`` or ``None``.
    """

    def __init__(self, loss: dict, init_cfg: dict | list | None = None):
        super().__init__()
        self.init_cfg = init_cfg
        self.compute_loss = MODELS.build(loss)

    @staticmethod
    def _check_num_classes(num_classes: int) -> None:
        if num_classes <= 0:
            raise ValueError(f"num_classes={num_classes} must be a positive integer")

    def pre_logits(self, x):
        """The last of a tuple of features."""
        return x[-1] if isinstance(x, tuple) else x

    def forward(self, x):
        """Raw class scores ``(N, num_classes)``: here the input's last feature itself."""
        return self.pre_logits(x)

    def loss(self, cls_score, gt_label: torch.Tensor, **kwargs) -> dict:
        raise NotImplementedError

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        """The loss dict of the scores of ``x``."""
        return self.loss(self(x), gt_label, **kwargs)

    @staticmethod
    def post_process(pred: torch.Tensor) -> list:
        """MMCls's output of ``simple_test(post_process=True)``: one numpy array a sample."""
        return list(pred.detach().cpu().numpy())
