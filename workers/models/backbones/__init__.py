"""Backbones, one file per family; importing this package registers them in ``MODELS``."""

from workers.models.backbones.lenet import LeNet5
from workers.models.backbones.resnet import ResNet, ResNetV1C, ResNetV1D
from workers.models.backbones.resnet_cifar import ResNet_CIFAR

__all__ = ["LeNet5", "ResNet", "ResNetV1C", "ResNetV1D", "ResNet_CIFAR"]
