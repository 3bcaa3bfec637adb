"""The engine: optimizers, lr schedules, hooks, checkpoints and the training loop."""

from workers.engine.checkpoint import find_latest_checkpoint, load_checkpoint, save_checkpoint
from workers.engine.hooks import Hook, OptimizerHook, build_custom_hooks
from workers.engine.logger_hooks import MlflowLoggerHook, WandbLoggerHook
from workers.engine.loop import TrainState, evaluate, fit, train, train_one_epoch, val_loss_epoch
from workers.engine.lr_schedules import LrSchedule, build_lr_schedule
from workers.engine.momentum_schedules import MomentumSchedule, build_momentum_schedule
from workers.engine.optimizers import build_optimizer
from workers.engine.predict import predict

__all__ = [
    "Hook",
    "LrSchedule",
    "MlflowLoggerHook",
    "MomentumSchedule",
    "OptimizerHook",
    "TrainState",
    "WandbLoggerHook",
    "build_custom_hooks",
    "build_lr_schedule",
    "build_momentum_schedule",
    "build_optimizer",
    "evaluate",
    "find_latest_checkpoint",
    "fit",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
    "train",
    "train_one_epoch",
    "val_loss_epoch",
]
