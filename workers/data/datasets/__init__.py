"""Datasets; importing this package registers them in ``DATASETS``."""

from workers.data.datasets.base_dataset import BaseDataset
from workers.data.datasets.custom import IMG_EXTENSIONS, CustomDataset
from workers.data.datasets.wrappers import ConcatDataset, RepeatDataset

__all__ = ["IMG_EXTENSIONS", "BaseDataset", "ConcatDataset", "CustomDataset", "RepeatDataset"]
