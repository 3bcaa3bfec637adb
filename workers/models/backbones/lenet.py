"""LeNet-5 backbone.

Paper: LeCun et al., "Gradient-Based Learning Applied to Document Recognition", Proc. IEEE 1998.
Layout and names follow MMClassification 0.25's ``lenet.py``: ``features`` (three tanh convs, two
average pools) and, when ``num_classes > 0``, a ``classifier`` MLP. It expects 1x32x32 inputs.
"""

from __future__ import annotations

import torch.nn as nn

from workers.registry import MODELS

__all__ = ["LeNet5"]


@MODELS.register()
class LeNet5(nn.Module):
    """LeNet-5; returns a one-tuple of 120-d features, or of class scores when ``num_classes > 0``.

    Args:
        num_classes: Classes of the built-in classifier; ``-1`` leaves it out (use a head instead).
        in_channels: Image channels (1 in the paper).
    """

    def __init__(self, num_classes: int = -1, in_channels: int = 1):
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, stride=1), nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(6, 16, kernel_size=5, stride=1), nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(16, 120, kernel_size=5, stride=1), nn.Tanh())
        if num_classes > 0:
            self.classifier = nn.Sequential(nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes))

    def forward(self, x):
        x = self.features(x)
        if self.num_classes > 0:
            # flatten, not MMCls's squeeze(), so a batch of one keeps its batch dimension
            x = self.classifier(x.flatten(1))
        return (x,)
