"""Models: classifiers, one file per backbone family, necks, heads and losses, all in ``MODELS``."""

from __future__ import annotations

import torch.nn as nn

from workers.models import backbones, classifiers, heads, losses, necks  # noqa: F401 - fill MODELS
from workers.models.classifiers import ImageClassifier
from workers.models.heads import (
    ClsHead,
    ConformerHead,
    CSRAClsHead,
    DeiTClsHead,
    LinearClsHead,
    MultiLabelClsHead,
    MultiLabelLinearClsHead,
    StackedLinearClsHead,
    VisionTransformerClsHead,
)
from workers.models.init import apply_init_cfgs, load_weights
from workers.models.losses import AsymmetricLoss, CrossEntropyLoss, FocalLoss, LabelSmoothLoss, SeesawLoss
from workers.models.necks import GeneralizedMeanPooling, GlobalAveragePooling, HRFuseScales
from workers.registry import MODELS

__all__ = [
    "AsymmetricLoss",
    "CSRAClsHead",
    "ClsHead",
    "ConformerHead",
    "CrossEntropyLoss",
    "DeiTClsHead",
    "DistilledVisionTransformer",
    "FocalLoss",
    "GeneralizedMeanPooling",
    "GlobalAveragePooling",
    "HRFuseScales",
    "ImageClassifier",
    "LabelSmoothLoss",
    "LeNet5",
    "LinearClsHead",
    "MobileNetV2",
    "MultiLabelClsHead",
    "MultiLabelLinearClsHead",
    "ResNet",
    "ResNetV1C",
    "ResNetV1D",
    "ResNet_CIFAR",
    "SeesawLoss",
    "StackedLinearClsHead",
    "VisionTransformer",
    "VisionTransformerClsHead",
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


def __getattr__(name: str):
    """The backbone classes named in ``__all__``, imported on first use (see ``workers.models.backbones``)."""
    if name in backbones._EXPORTS:
        return getattr(backbones, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
