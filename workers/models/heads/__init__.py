"""Heads; importing this package registers them in ``MODELS``."""

from workers.models.heads.base_head import BaseHead
from workers.models.heads.cls_head import ClsHead
from workers.models.heads.conformer_head import ConformerHead
from workers.models.heads.deit_head import DeiTClsHead
from workers.models.heads.efficientformer_head import EfficientFormerClsHead  # noqa: F401
from workers.models.heads.linear_head import LinearClsHead
from workers.models.heads.multi_label_csra_head import CSRAClsHead
from workers.models.heads.multi_label_head import MultiLabelClsHead, MultiLabelLinearClsHead
from workers.models.heads.stacked_head import StackedLinearClsHead
from workers.models.heads.vision_transformer_head import VisionTransformerClsHead

__all__ = [
    "BaseHead",
    "CSRAClsHead",
    "ClsHead",
    "ConformerHead",
    "DeiTClsHead",
    "LinearClsHead",
    "MultiLabelClsHead",
    "MultiLabelLinearClsHead",
    "StackedLinearClsHead",
    "VisionTransformerClsHead",
]
