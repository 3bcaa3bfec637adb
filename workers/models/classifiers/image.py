"""ImageClassifier: backbone -> neck -> head, with MMClassification 0.25's forward semantics."""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.registry import MODELS

__all__ = ["ImageClassifier"]


@MODELS.register()
class ImageClassifier(nn.Module):
    """The classifier most specs use.

    ``forward(img, return_loss=True, gt_label=...)`` returns the head's loss dict; with
    ``return_loss=False`` it returns MMCls's list of per-sample softmax score arrays. The engine calls
    :meth:`forward_train` and :meth:`simple_test` (a tensor) directly.

    Args:
        backbone: Backbone config.
        neck: Neck config, a list of them (applied in order), or ``None``.
        head: Head config or ``None`` (features only).
        pretrained: Deprecated MMCls shortcut for ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
        train_cfg: ``dict(augments=...)``: batch augments (``BatchMixup``, ``BatchCutMix``,
            ``BatchResizeMix`` or a list of them) applied to each training batch, which turn the labels
            into soft ``(N, num_classes)`` targets.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` or ``None``.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict | list | None = None,
        head: dict | None = None,
        pretrained: str | None = None,
        train_cfg: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__()
        if pretrained is not None:
            init_cfg = {"type": "Pretrained", "checkpoint": pretrained}
        self.init_cfg = init_cfg
        self.augments = None
        if train_cfg and train_cfg.get("augments"):
            # imported here: the data package's batch augments are only needed by specs that use them
            from workers.data.batch_augments import Augments

            self.augments = Augments(train_cfg["augments"])
        self.backbone = MODELS.build(backbone)
        if isinstance(neck, (list, tuple)):  # mmcv builds a list of configs as a Sequential (HRNet's specs)
            self.neck = nn.Sequential(*(MODELS.build(cfg) for cfg in neck))
        else:
            self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head) if head is not None else None

    @property
    def with_neck(self) -> bool:
        return self.neck is not None

    @property
    def with_head(self) -> bool:
        return self.head is not None

    def extract_feat(self, img: torch.Tensor, stage: str = "neck"):
        """Features after the ``'backbone'`` or the ``'neck'`` (a tuple, as MMCls's), or the head's ``'pre_logits'``."""
        if stage not in ("backbone", "neck", "pre_logits"):
            raise ValueError(f"stage must be 'backbone', 'neck' or 'pre_logits', got {stage!r}")
        x = self.backbone(img)
        if stage == "backbone":
            return x
        if self.with_neck:
            x = self.neck(x)
        if stage == "neck":
            return x
        if not self.with_head:
            raise ValueError("stage='pre_logits' needs a head")
        return self.head.pre_logits(x)

    def switch_to_deploy(self) -> None:
        """Re-parameterise the backbone (and neck/head) for inference where they can (RepVGG, RepMLP)."""
        for part in (self.backbone, self.neck, self.head):
            if part is not None and callable(getattr(part, "switch_to_deploy", None)):
                part.switch_to_deploy()

    def forward_train(self, img: torch.Tensor, gt_label: torch.Tensor, **kwargs) -> dict:
        """The head's losses, e.g. ``{'loss': tensor}``, after the batch augments if any."""
        if self.augments is not None:
            img, gt_label = self.augments(img, gt_label)
        return self.head.forward_train(self.extract_feat(img), gt_label, **kwargs)

    def simple_test(self, img: torch.Tensor, **kwargs) -> torch.Tensor:
        """Softmax scores ``(N, num_classes)``."""
        return self.head.simple_test(self.extract_feat(img), **kwargs)

    def forward(self, img: torch.Tensor, return_loss: bool = True, gt_label: torch.Tensor | None = None,
                **kwargs):
        if return_loss:
            if gt_label is None:
                raise ValueError("forward(return_loss=True) needs gt_label")
            return self.forward_train(img, gt_label)
        return self.head.post_process(self.simple_test(img))
