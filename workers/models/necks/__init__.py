"""Necks between backbones and heads; importing this package registers them in ``MODELS``."""

from workers.models.necks.gap import GlobalAveragePooling
from workers.models.necks.gem import GeneralizedMeanPooling
from workers.models.necks.hr_fuse import HRFuseScales

__all__ = ["GeneralizedMeanPooling", "GlobalAveragePooling", "HRFuseScales"]
