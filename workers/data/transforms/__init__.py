"""Transforms on result dicts, registered in ``TRANSFORMS`` under MMClassification's names."""

from workers.data.transforms.compose import Compose
from workers.data.transforms.formatting import Collect, ImageToTensor, ToTensor, to_tensor
from workers.data.transforms.loading import LoadImageFromFile, imread
from workers.data.transforms.processing import (
    CenterCrop,
    Normalize,
    RandomCrop,
    RandomFlip,
    RandomResizedCrop,
    Resize,
)

__all__ = [
    "CenterCrop",
    "Collect",
    "Compose",
    "ImageToTensor",
    "LoadImageFromFile",
    "Normalize",
    "RandomCrop",
    "RandomFlip",
    "RandomResizedCrop",
    "Resize",
    "ToTensor",
    "imread",
    "to_tensor",
]
