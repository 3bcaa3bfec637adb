"""Necks between backbones and heads; importing this package registers them in ``MODELS``."""

from workers.models.necks.gap import GlobalAveragePooling

__all__ = ["GlobalAveragePooling"]
