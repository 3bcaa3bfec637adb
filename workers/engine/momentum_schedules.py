"""Momentum schedules of ``momentum_config`` (seed 9.3), with mmcv 1.x ``MomentumUpdaterHook`` formulas.

As with the lr, a schedule is a pure function of the position in training. The momentum of a group
is its ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam family); ``initial_momentum`` records its base.

Warmup *divides* the regular momentum (mmcv's choice, so momentum starts high while the lr starts low):
``'constant'``: by ``warmup_ratio``; ``'linear'``: by ``1 - (1 - i / warmup_iters) * (1 - warmup_ratio)``;
``'exp'``: by ``warmup_ratio ** (1 - i / warmup_iters)``. mmcv has no ``warmup_by_epoch`` for momentum.
"""

from __future__ import annotations

import torch

from workers.engine.lr_schedules import (
    CyclicCurve,
    anneal_function,
    annealing_cos,
    annealing_linear,
    check_warmup,
)
from workers.registry import MOMENTUM_SCHEDULES, normalize_policy

__all__ = ["CosineAnnealingMomentum", "CyclicMomentum", "MomentumSchedule", "OneCycleMomentum", "StepMomentum",
           "build_momentum_schedule", "get_momentum"]


def get_momentum(group: dict) -> float | None:
    """The momentum of a param group: ``momentum`` or ``betas[0]``; ``None`` if it has neither."""
    if "momentum" in group:
        return group["momentum"]
    if "betas" in group:
        return group["betas"][0]
    return None


def _set_momentum(group: dict, value: float) -> None:
    if "momentum" in group:
        group["momentum"] = value
    elif "betas" in group:
        group["betas"] = (value, group["betas"][1])


class MomentumSchedule:
    """Base of the momentum policies: warmup plus a regular ``get_momentum``.

    Args:
        by_epoch: The regular momentum changes per epoch (else per iteration).
        warmup: ``None``, ``'constant'``, ``'linear'`` or ``'exp'``.
        warmup_iters: Iterations of warmup.
        warmup_ratio: See the module docstring; in (0, 1].
    """

    def __init__(self, by_epoch: bool = True, warmup: str | None = None, warmup_iters: int = 0,
                 warmup_ratio: float = 0.9):
        check_warmup(warmup, warmup_iters, warmup_ratio, "warmup_momentum")
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio

    def get_momentum(self, base: float, progress: int, max_progress: int, group: dict) -> float:
        raise NotImplementedError

    def momentum_at(self, base: float, *, epoch: int, iteration: int, max_epochs: int, epoch_len: int,
                    max_iters: int | None = None, group: dict | None = None) -> float:
        """The momentum of a group whose initial momentum is ``base`` for the iteration about to run."""
        if max_iters is None:
            max_iters = max_epochs * epoch_len
        group = group or {}
        if self.by_epoch:
            regular = self.get_momentum(base, epoch, max_epochs, group)
        else:
            regular = self.get_momentum(base, iteration, max_iters, group)
        if self.warmup is None or iteration >= self.warmup_iters:
            return regular
        if self.warmup == "constant":
            return regular / self.warmup_ratio
        if self.warmup == "linear":
            return regular / (1 - (1 - iteration / self.warmup_iters) * (1 - self.warmup_ratio))
        return regular / self.warmup_ratio ** (1 - iteration / self.warmup_iters)

    def prepare(self, optimizer: torch.optim.Optimizer) -> None:
        for group in optimizer.param_groups:
            momentum = get_momentum(group)
            if momentum is not None:
                group.setdefault("initial_momentum", momentum)

    def apply(self, optimizer: torch.optim.Optimizer, *, epoch: int, iteration: int, max_epochs: int,
              epoch_len: int, max_iters: int | None = None) -> list[float | None]:
        """Set every group's momentum for the coming iteration; return them (``None`` for groups without)."""
        self.prepare(optimizer)
        values: list[float | None] = []
        for group in optimizer.param_groups:
            if "initial_momentum" not in group:
                values.append(None)
                continue
            value = self.momentum_at(group["initial_momentum"], epoch=epoch, iteration=iteration,
                                     max_epochs=max_epochs, epoch_len=epoch_len, max_iters=max_iters, group=group)
            _set_momentum(group, value)
            values.append(value)
        return values


@MOMENTUM_SCHEDULES.register("Step")
class StepMomentum(MomentumSchedule):
    """``base * gamma ** k`` after ``k`` milestones (or ``progress // step``), floored at ``min_momentum``."""

    def __init__(self, step: int | list[int], gamma: float = 0.5, min_momentum: float | None = None, **kwargs):
        self.step = list(step) if isinstance(step, (list, tuple)) else step
        self.gamma = gamma
        self.min_momentum = min_momentum
        super().__init__(**kwargs)

    def get_momentum(self, base, progress, max_progress, group):
        if isinstance(self.step, int):
            exp = progress // self.step
        else:
            exp = next((i for i, s in enumerate(self.step) if progress < s), len(self.step))
        value = base * self.gamma**exp
        return max(value, self.min_momentum) if self.min_momentum is not None else value


class _AnnealingMomentum(MomentumSchedule):
    """From the base momentum to ``min_momentum`` (or ``base * min_momentum_ratio``) over the run, along
    the subclass's ``curve``."""

    policy = ""
    curve = staticmethod(annealing_cos)

    def __init__(self, min_momentum: float | None = None, min_momentum_ratio: float | None = None, **kwargs):
        if (min_momentum is None) == (min_momentum_ratio is None):
            raise ValueError(f"{self.policy} momentum needs exactly one of min_momentum and min_momentum_ratio")
        self.min_momentum = min_momentum
        self.min_momentum_ratio = min_momentum_ratio
        super().__init__(**kwargs)

    def get_momentum(self, base, progress, max_progress, group):
        target = base * self.min_momentum_ratio if self.min_momentum_ratio is not None else self.min_momentum
        return self.curve(base, target, progress / max_progress)


@MOMENTUM_SCHEDULES.register("CosineAnnealing")
class CosineAnnealingMomentum(_AnnealingMomentum):
    """Cosine from the base momentum to ``min_momentum`` (or ``base * min_momentum_ratio``)."""

    policy = "CosineAnnealing"
    curve = staticmethod(annealing_cos)


@MOMENTUM_SCHEDULES.register("LinearAnnealing")
class LinearAnnealingMomentum(_AnnealingMomentum):
    """mmcv 1.x's ``LinearAnnealingMomentumUpdaterHook``: a straight line from the base momentum to
    ``min_momentum`` (or ``base * min_momentum_ratio``)."""

    policy = "LinearAnnealing"
    curve = staticmethod(annealing_linear)


@MOMENTUM_SCHEDULES.register("Cyclic")
class CyclicMomentum(CyclicCurve, MomentumSchedule):
    """The momentum counterpart of the ``Cyclic`` lr policy (:class:`CyclicCurve`; default down to
    ``0.85 / 0.95`` of the base momentum, then back up)."""

    def __init__(self, by_epoch: bool = False, target_ratio=(0.85 / 0.95, 1), cyclic_times: int = 1,
                 step_ratio_up: float = 0.4, anneal_strategy: str = "cos", gamma: float = 1, **kwargs):
        self.init_cycle(by_epoch, target_ratio, cyclic_times, step_ratio_up, anneal_strategy, gamma)
        super().__init__(by_epoch=False, **kwargs)

    def get_momentum(self, base, progress, max_progress, group):
        return self.cyclic_at(base, progress, max_progress)


@MOMENTUM_SCHEDULES.register("OneCycle")
class OneCycleMomentum(MomentumSchedule):
    """The momentum counterpart of ``OneCycle``: ``max_momentum`` down to ``base_momentum`` while the lr
    rises, then back up (three-phase: up, then flat). The group's own momentum is ignored.

    Args:
        base_momentum: Lowest momentum.
        max_momentum: Highest momentum.
        pct_start: Fraction of the run spent on the first phase.
        anneal_strategy: ``'cos'`` or ``'linear'``.
        three_phase: The three-phase variant.
    """

    def __init__(self, base_momentum: float = 0.85, max_momentum: float = 0.95, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", three_phase: bool = False, **kwargs):
        if kwargs.pop("by_epoch", False):
            raise ValueError('currently only support "by_epoch" = False')
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"expected float between 0 and 1 pct_start, but got {pct_start}")
        self.base_momentum = base_momentum
        self.max_momentum = max_momentum
        self.pct_start = pct_start
        self.anneal = anneal_function(anneal_strategy)
        self.three_phase = three_phase
        super().__init__(by_epoch=False, **kwargs)

    def get_momentum(self, base, progress, max_progress, group):
        low, high = self.base_momentum, self.max_momentum
        if self.three_phase:
            phases = [(float(self.pct_start * max_progress) - 1, high, low),
                      (float(2 * self.pct_start * max_progress) - 2, low, high), (max_progress - 1, high, high)]
        else:
            phases = [(float(self.pct_start * max_progress) - 1, high, low), (max_progress - 1, low, high)]
        start = 0.0
        for end, first, last in phases:
            if progress <= end:
                return self.anneal(first, last, (progress - start) / (end - start))
            start = end
        return phases[-1][2]


def build_momentum_schedule(momentum_config: dict | None) -> MomentumSchedule | None:
    """Build the schedule of ``momentum_config`` (``None``: momentum stays as the optimizer has it).

    ``policy`` as mmcv names it (``'cyclic'``, ``'CosineAnnealing'``, ``'step'``, ``'OneCycle'``).
    """
    if momentum_config is None:
        return None
    cfg = dict(momentum_config)
    if "policy" not in cfg:
        raise KeyError("momentum_config needs a 'policy'")
    cfg.pop("type", None)
    return MOMENTUM_SCHEDULES.get(normalize_policy(cfg.pop("policy")))(**cfg)
