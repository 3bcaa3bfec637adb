"""Data: datasets, transforms, batch augments, loaders, and the digits demo dataset."""

from workers.data import batch_augments, datasets, transforms  # noqa: F401 - fill the registries
from workers.data.batch_augments import Augments
from workers.data.builder import build_dataloader, build_dataset, collate, fuse_normalize
from workers.data.datasets import BaseDataset, ConcatDataset, CustomDataset, RepeatDataset
from workers.data.transforms import Compose
from workers.data.transforms.normalize import prepare_images

__all__ = [
    "Augments",
    "BaseDataset",
    "Compose",
    "ConcatDataset",
    "CustomDataset",
    "RepeatDataset",
    "build_dataloader",
    "build_dataset",
    "collate",
    "fuse_normalize",
    "prepare_images",
]
