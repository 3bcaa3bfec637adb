"""Backbones, one file per family; importing this package registers them in ``MODELS``.

Every module of this folder is imported, so a new family is one new file (no list to edit).
"""
import importlib
import pkgutil

from workers.models.backbones.deit import DistilledVisionTransformer
from workers.models.backbones.lenet import LeNet5
from workers.models.backbones.mobilenet_v2 import MobileNetV2
from workers.models.backbones.resnet import ResNet, ResNetV1C, ResNetV1D
from workers.models.backbones.resnet_cifar import ResNet_CIFAR
from workers.models.backbones.vision_transformer import VisionTransformer

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["DistilledVisionTransformer", "LeNet5", "MobileNetV2", "ResNet", "ResNetV1C", "ResNetV1D",
           "ResNet_CIFAR", "VisionTransformer"]
