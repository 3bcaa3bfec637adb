"""Datasets; importing this package registers them in ``DATASETS``."""

from workers.data.datasets.base_dataset import BaseDataset
from workers.data.datasets.cifar import CIFAR10, CIFAR100
from workers.data.datasets.cub import CUB
from workers.data.datasets.custom import IMG_EXTENSIONS, CustomDataset
from workers.data.datasets.imagenet import ImageNet, ImageNet21k
from workers.data.datasets.mnist import MNIST, FashionMNIST
from workers.data.datasets.multi_label import MultiLabelDataset
from workers.data.datasets.stanford_cars import StanfordCars
from workers.data.datasets.voc import VOC
from workers.data.datasets.wrappers import ClassBalancedDataset, ConcatDataset, KFoldDataset, RepeatDataset

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "CUB",
    "IMG_EXTENSIONS",
    "MNIST",
    "VOC",
    "BaseDataset",
    "ClassBalancedDataset",
    "ConcatDataset",
    "CustomDataset",
    "FashionMNIST",
    "ImageNet",
    "ImageNet21k",
    "KFoldDataset",
    "MultiLabelDataset",
    "RepeatDataset",
    "StanfordCars",
]
