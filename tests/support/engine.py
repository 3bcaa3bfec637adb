"""Small pieces for the engine's tests: a conv + BatchNorm net with the classifier's call signature, and the
learning rates an ``lr_config`` gives at chosen iterations."""
from __future__ import annotations

import torch.nn as nn

from workers.engine.lr_schedules import build_lr_schedule


class BNNet(nn.Module):
    """One 1x1 conv and a BatchNorm over 2 channels; its "loss" is the mean of the normalised output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, img, return_loss=True, gt_label=None):
        return {"loss": self.bn(self.conv(img)).mean()}


def lrs(lr_config: dict, iterations: list[int], epoch_len: int = 10, max_epochs: int = 6, base_lr: float = 0.1):
    """The learning rate ``lr_config`` sets at each of ``iterations`` (``epoch_len`` iterations an epoch)."""
    schedule = build_lr_schedule(lr_config)
    return [schedule.lr_at(base_lr, epoch=i // epoch_len, iteration=i, max_epochs=max_epochs, epoch_len=epoch_len)
            for i in iterations]
