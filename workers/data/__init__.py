"""Data: datasets, transforms, loaders, and the digits demo dataset."""

from workers.data import datasets, transforms  # noqa: F401 - fill DATASETS and TRANSFORMS
from workers.data.builder import build_dataloader, build_dataset, collate
from workers.data.datasets import BaseDataset, ConcatDataset, CustomDataset, RepeatDataset
from workers.data.transforms import Compose

__all__ = [
    "BaseDataset",
    "Compose",
    "ConcatDataset",
    "CustomDataset",
    "RepeatDataset",
    "build_dataloader",
    "build_dataset",
    "collate",
]
