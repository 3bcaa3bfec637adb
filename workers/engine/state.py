"""Where a run is: the :class:`TrainState` that the loop advances and hooks, the checkpoint policy and
resuming read and write."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

__all__ = ["TrainState"]


@dataclass
class TrainState:
    """Where a run is; hooks receive it.

    Attributes:
        model: The model being trained (DDP-wrapped when distributed).
        optimizer: Its optimizer.
        max_epochs: Epochs of the run (for an IterBasedRunner: the epochs ``max_iters`` spans).
        epoch: Epochs completed.
        iter: Iterations completed over the run.
        epoch_len: Iterations per epoch.
        inner_iter: Iterations completed in the current epoch.
        max_iters: Iterations of the run.
        iter_based: The run is an IterBasedRunner's (``max_iters``; logs, checkpoints by iteration).
        best: ``{'key', 'score', 'epoch', 'metrics', 'checkpoint'}`` of the best evaluation so far.
        last_train: Averages of the last logged training interval.
        data_loader: The training loader, set by :func:`~workers.engine.loop.fit` for hooks that read
            training data (``PreciseBNHook``; mmcv's ``runner.data_loader``).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    max_epochs: int
    epoch: int = 0
    iter: int = 0
    epoch_len: int = 0
    inner_iter: int = 0
    max_iters: int = 0
    iter_based: bool = False
    best: dict = field(default_factory=dict)
    last_train: dict = field(default_factory=dict)
    data_loader: DataLoader | None = None
