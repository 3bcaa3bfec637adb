"""StackedLinearClsHead: hidden fully connected layers, then the class scores (MMClassification 0.25)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

from workers.models.heads.cls_head import ClsHead
from workers.models.layers import build_activation, build_norm_layer, normal_init
from workers.registry import MODELS

__all__ = ["LinearBlock", "StackedLinearClsHead"]


class LinearBlock(nn.Module):
    """``fc`` -> optional ``norm`` -> optional ``act`` -> optional ``dropout`` (MMCls's attribute names).

    Args:
        in_channels: Input features.
        out_channels: Output features.
        dropout_rate: Dropout after the activation; 0 for none.
        norm_cfg: Norm config (e.g. ``dict(type='BN1d')``) or ``None``.
        act_cfg: Activation config or ``None``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dropout_rate: float = 0.0,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
    ):
        super().__init__()
        self.fc = nn.Linear(in_channels, out_channels)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1] if norm_cfg is not None else None
        self.act = build_activation(act_cfg) if act_cfg is not None else None
        self.dropout = nn.Dropout(p=dropout_rate) if dropout_rate > 0 else None

    def forward(self, x):
        x = self.fc(x)
        for layer in (self.norm, self.act, self.dropout):
            if layer is not None:
                x = layer(x)
        return x


@MODELS.register()
class StackedLinearClsHead(ClsHead):
    """A small MLP classifier: one :class:`LinearBlock` per ``mid_channels`` entry, then a linear layer.

    Args:
        num_classes: Output classes.
        in_channels: Input features.
        mid_channels: Hidden sizes, e.g. ``[1024]``.
        dropout_rate: Dropout after each hidden layer.
        norm_cfg: Norm after each hidden layer, or ``None``.
        act_cfg: Activation after each hidden layer (default ReLU).
        loss: Loss config.
        topk: The ``k`` of the training accuracy.
        cal_acc: Report training accuracy.
        init_cfg: Extra ``init_cfg``; the linear layers start as N(0, 0.01) with zero bias, as in MMCls.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        mid_channels: Sequence[int],
        dropout_rate: float = 0.0,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        loss: dict | None = None,
        topk: int | tuple[int, ...] = (1,),
        cal_acc: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        if num_classes <= 0:
            raise ValueError(f"`num_classes` of StackedLinearClsHead must be a positive integer, got {num_classes}")
        if isinstance(mid_channels, int) or not isinstance(mid_channels, Sequence) or not mid_channels:
            raise TypeError(f"`mid_channels` of StackedLinearClsHead should be a non-empty sequence, "
                            f"got {mid_channels!r}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.mid_channels = list(mid_channels)
        self.dropout_rate = dropout_rate
        self.norm_cfg = norm_cfg
        self.act_cfg = {"type": "ReLU"} if act_cfg is None else act_cfg
        self.layers = nn.ModuleList()
        channels = in_channels
        for hidden in self.mid_channels:
            self.layers.append(LinearBlock(channels, hidden, dropout_rate=dropout_rate, norm_cfg=norm_cfg,
                                           act_cfg=self.act_cfg))
            channels = hidden
        self.layers.append(LinearBlock(channels, num_classes))
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                normal_init(m, mean=0.0, std=0.01, bias=0.0)

    def forward(self, x):
        """Raw class scores ``(N, num_classes)``."""
        x = self.pre_logits(x)
        for layer in self.layers:
            x = layer(x)
        return x
