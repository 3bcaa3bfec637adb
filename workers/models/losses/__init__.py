"""Losses; importing this package registers them in ``MODELS``."""

from workers.models.losses.cross_entropy_loss import (
    CrossEntropyLoss,
    binary_cross_entropy,
    cross_entropy,
    soft_cross_entropy,
)
from workers.models.losses.label_smooth_loss import LabelSmoothLoss
from workers.models.losses.utils import convert_to_one_hot, reduce_loss, weight_reduce_loss

__all__ = [
    "CrossEntropyLoss",
    "LabelSmoothLoss",
    "binary_cross_entropy",
    "convert_to_one_hot",
    "cross_entropy",
    "reduce_loss",
    "soft_cross_entropy",
    "weight_reduce_loss",
]
