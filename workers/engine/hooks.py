"""Hooks: the optimizer step of ``optimizer_config``, logger hooks of ``log_config`` and ``custom_hooks``.

The loop itself is explicit (see ``loop.py``); hooks only add behaviour at fixed points. A hook gets
the :class:`~workers.engine.state.TrainState` at ``before_run``, ``before_train_epoch``,
``before_train_iter``, ``after_train_iter``, ``after_train_epoch`` and ``after_run``. ``custom_hooks``
run in order of ``priority`` (mmcv's names or 0..100, lower first; default ``'NORMAL'``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from workers.registry import HOOKS

__all__ = ["PRIORITIES", "EmptyCacheHook", "Hook", "OptimizerHook", "TextLoggerHook", "build_custom_hooks"]

PRIORITIES = {"HIGHEST": 0, "VERY_HIGH": 10, "HIGH": 30, "ABOVE_NORMAL": 40, "NORMAL": 50,
              "BELOW_NORMAL": 60, "LOW": 70, "VERY_LOW": 90, "LOWEST": 100}


class Hook:
    """Base hook: every stage is a no-op."""

    priority: int = PRIORITIES["NORMAL"]

    def before_run(self, state) -> None:
        pass

    def before_train_epoch(self, state) -> None:
        pass

    def before_train_iter(self, state) -> None:
        pass

    def after_train_iter(self, state) -> None:
        pass

    def after_train_epoch(self, state) -> None:
        pass

    def after_run(self, state) -> None:
        pass


@HOOKS.register()
class OptimizerHook(Hook):
    """The optimizer step of ``optimizer_config``: backward, optional gradient clipping, step.

    Args:
        grad_clip: ``dict(max_norm=..., norm_type=2)`` for ``clip_grad_norm_``, or ``None``.
        detect_anomalous_params: Accepted for mmcv compatibility; ignored.
    """

    def __init__(self, grad_clip: dict | None = None, detect_anomalous_params: bool = False):
        self.grad_clip = dict(grad_clip) if grad_clip else None

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, model: nn.Module) -> float | None:
        """Zero the grads, backpropagate ``loss``, clip, step; return the grad norm when clipping."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = None
        if self.grad_clip is not None:
            params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
            if params:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, **self.grad_clip))
        optimizer.step()
        return grad_norm


@HOOKS.register()
class TextLoggerHook(Hook):
    """The text and JSON logs; the engine always writes them, so this entry only accepts its arguments.

    Args:
        by_epoch: Accepted for mmcv compatibility (logs are by epoch).
        interval: Accepted; ``log_config.interval`` rules.
        ignore_last: Accepted; a last partial interval is not logged, as in mmcv.
    """

    def __init__(self, by_epoch: bool = True, interval: int = 10, ignore_last: bool = True, **kwargs):
        self.by_epoch = by_epoch


@HOOKS.register()
class EmptyCacheHook(Hook):
    """Release cached CUDA memory after each epoch (and optionally each iteration).

    Args:
        before_epoch: Also before each epoch.
        after_epoch: After each epoch.
        after_iter: After each iteration.
    """

    def __init__(self, before_epoch: bool = False, after_epoch: bool = True, after_iter: bool = False):
        self._before_epoch, self._after_epoch, self._after_iter = before_epoch, after_epoch, after_iter

    @staticmethod
    def _empty() -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def before_train_epoch(self, state) -> None:
        if self._before_epoch:
            self._empty()

    def after_train_epoch(self, state) -> None:
        if self._after_epoch:
            self._empty()

    def after_train_iter(self, state) -> None:
        if self._after_iter:
            self._empty()


def _priority(value: str | int) -> int:
    if isinstance(value, int):
        if not 0 <= value <= 100:
            raise ValueError(f"priority must be in 0..100, got {value}")
        return value
    if value.upper() not in PRIORITIES:
        raise ValueError(f"priority must be an int or one of {list(PRIORITIES)}, got {value!r}")
    return PRIORITIES[value.upper()]


def build_custom_hooks(cfgs: list[dict] | None) -> list[Hook]:
    """Build ``custom_hooks``, sorted by priority (stable)."""
    hooks = []
    for cfg in cfgs or []:
        cfg = dict(cfg)
        priority = _priority(cfg.pop("priority", "NORMAL"))
        hook = HOOKS.build(cfg)
        hook.priority = priority
        hooks.append(hook)
    return sorted(hooks, key=lambda h: h.priority)
