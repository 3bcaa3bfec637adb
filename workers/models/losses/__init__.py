"""Losses; importing this package registers them in ``MODELS``."""

from workers.models.losses.asymmetric_loss import AsymmetricLoss, asymmetric_loss
from workers.models.losses.cross_entropy_loss import (
    CrossEntropyLoss,
    binary_cross_entropy,
    cross_entropy,
    soft_cross_entropy,
)
from workers.models.losses.focal_loss import FocalLoss, sigmoid_focal_loss
from workers.models.losses.label_smooth_loss import LabelSmoothLoss
from workers.models.losses.seesaw_loss import SeesawLoss, seesaw_ce_loss
from workers.models.losses.utils import convert_to_one_hot, reduce_loss, weight_reduce_loss

__all__ = [
    "AsymmetricLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "LabelSmoothLoss",
    "SeesawLoss",
    "asymmetric_loss",
    "binary_cross_entropy",
    "convert_to_one_hot",
    "cross_entropy",
    "reduce_loss",
    "seesaw_ce_loss",
    "sigmoid_focal_loss",
    "soft_cross_entropy",
    "weight_reduce_loss",
]
