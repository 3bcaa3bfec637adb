"""Heads; importing this package registers them in ``MODELS``."""

from workers.models.heads.cls_head import ClsHead
from workers.models.heads.linear_head import LinearClsHead

__all__ = ["ClsHead", "LinearClsHead"]
