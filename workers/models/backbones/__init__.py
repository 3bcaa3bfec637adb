"""Backbones, one file per family; importing this package registers them in ``MODELS``."""

from workers.models.backbones.deit import DistilledVisionTransformer
from workers.models.backbones.lenet import LeNet5
from workers.models.backbones.mobilenet_v2 import MobileNetV2
from workers.models.backbones.resnet import ResNet, ResNetV1C, ResNetV1D
from workers.models.backbones.resnet_cifar import ResNet_CIFAR
from workers.models.backbones.vision_transformer import VisionTransformer

__all__ = ["DistilledVisionTransformer", "LeNet5", "MobileNetV2", "ResNet", "ResNetV1C", "ResNetV1D",
           "ResNet_CIFAR", "VisionTransformer"]
