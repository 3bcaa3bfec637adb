"""VisionTransformerClsHead: classify ViT's class token, optionally through a tanh pre-logits layer.

Paper: Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021 (https://arxiv.org/abs/2010.11929).
Arguments and parameter names (``layers.head``, ``layers.pre_logits``) follow MMClassification 0.25's
``vision_transformer_head.py``.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch.nn as nn

from workers.models.heads.cls_head import ClsHead
from workers.models.layers import build_activation
from workers.registry import MODELS

__all__ = ["VisionTransformerClsHead"]


@MODELS.register()
class VisionTransformerClsHead(ClsHead):
    """Linear classifier on the class token of the backbone's last ``[patch_token, cls_token]`` output.

    Args:
        num_classes: Output classes.
        in_channels: The class token's size (``embed_dims``).
        hidden_dim: Size of a pre-logits layer (pre-training only), or ``None`` for none.
        act_cfg: Activation after the pre-logits layer (default Tanh).
        loss: Loss config.
        topk: The ``k`` of the training accuracy.
        cal_acc: Report training accuracy.
        init_cfg: Extra ``init_cfg``. Without it the head starts as MMCls's default
            (``Constant(val=0)`` on Linear layers, then LeCun-normal pre-logits weights).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        hidden_dim: int | None = None,
        act_cfg: dict | None = None,
        loss: dict | None = None,
        topk: int | tuple[int, ...] = (1,),
        cal_acc: bool = False,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        self._check_num_classes(num_classes)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.act_cfg = {"type": "Tanh"} if act_cfg is None else act_cfg
        self.layers = nn.Sequential(OrderedDict(self._make_layers()))
        self._init_weights()

    def _make_layers(self) -> list[tuple[str, nn.Module]]:
        if self.hidden_dim is None:
            return [("head", nn.Linear(self.in_channels, self.num_classes))]
        return [("pre_logits", nn.Linear(self.in_channels, self.hidden_dim)),
                ("act", build_activation(self.act_cfg)),
                ("head", nn.Linear(self.hidden_dim, self.num_classes))]

    def _init_weights(self) -> None:
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)
        if self.hidden_dim is not None:
            # LeCun normal, as ClassyVision (and MMCls) initialise the pre-logits layer
            pre = self.layers.pre_logits
            nn.init.trunc_normal_(pre.weight, std=math.sqrt(1 / pre.in_features))
            nn.init.zeros_(pre.bias)

    def _features(self, token):
        if self.hidden_dim is None:
            return token
        return self.layers.act(self.layers.pre_logits(token))

    def pre_logits(self, x):
        """The class token of the last output (through the pre-logits layer, if any)."""
        x = x[-1] if isinstance(x, tuple) else x
        _, cls_token = x
        return self._features(cls_token)

    def forward(self, x):
        """Raw class scores ``(N, num_classes)``."""
        return self.layers.head(self.pre_logits(x))
