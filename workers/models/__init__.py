"""Models: classifiers, one file per backbone family, necks, heads and losses, all in ``MODELS``."""

from __future__ import annotations

import torch.nn as nn

from workers.models import backbones, classifiers, heads, losses, necks  # noqa: F401 - fill MODELS
from workers.models.backbones import LeNet5, ResNet, ResNet_CIFAR, ResNetV1C, ResNetV1D
from workers.models.classifiers import ImageClassifier
from workers.models.heads import ClsHead, LinearClsHead
from workers.models.init import apply_init_cfgs, load_weights
from workers.models.losses import CrossEntropyLoss, LabelSmoothLoss
from workers.models.necks import GlobalAveragePooling
from workers.registry import MODELS

__all__ = [
    "ClsHead",
    "CrossEntropyLoss",
    "GlobalAveragePooling",
    "ImageClassifier",
    "LabelSmoothLoss",
    "LeNet5",
    "LinearClsHead",
    "ResNet",
    "ResNetV1C",
    "ResNetV1D",
    "ResNet_CIFAR",
    "build_model",
    "load_weights",
]


def build_model(cfg: dict) -> nn.Module:
    """Build a model (classifier, backbone, neck, head or loss) from its config and run its ``init_cfg``.

    Args:
        cfg: E.g. the spec's ``model`` dict.

    Raises:
        UnknownTypeError: (a ``KeyError``) for a ``type`` no registry holds, with close names.
    """
    model = MODELS.build(cfg)
    apply_init_cfgs(model)
    return model
