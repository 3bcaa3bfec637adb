"""Learning-rate schedules of ``lr_config``, with the formulas of mmcv 1.x's ``LrUpdaterHook``s (seed 9.2).

A schedule is a pure function of the position in training: :meth:`LrSchedule.lr_at` gives the lr of
one parameter group for (epoch, iteration), so a resumed run continues on the same curve. The engine
calls :meth:`LrSchedule.apply` before every iteration; this equals mmcv's ``before_train_epoch`` /
``before_train_iter`` updates (by-epoch policies only change at epoch starts, warmup overrides the
first ``warmup_iters`` iterations).

Warmup multiplies the regular lr by
``'constant'``: ``warmup_ratio``; ``'linear'``: ``1 - (1 - i / warmup_iters) * (1 - warmup_ratio)``;
``'exp'``: ``warmup_ratio ** (1 - i / warmup_iters)``, for iteration ``i < warmup_iters``.
``warmup_by_epoch`` counts ``warmup_iters`` in epochs (mmcv's default is ``False``: iterations).
"""

from __future__ import annotations

from math import cos, pi

import torch

from workers.registry import LR_SCHEDULES, normalize_policy

__all__ = ["CosineAnnealing", "Exp", "Fixed", "Inv", "LrSchedule", "Poly", "Step", "build_lr_schedule"]


def annealing_cos(start: float, end: float, factor: float, weight: float = 1.0) -> float:
    """Cosine from ``start`` (factor 0) to ``end`` (factor 1)."""
    return end + 0.5 * weight * (start - end) * (cos(pi * factor) + 1)


class LrSchedule:
    """Base of the policies: warmup plus a regular ``get_lr`` that subclasses define.

    Args:
        by_epoch: The regular lr changes per epoch (else per iteration).
        warmup: ``None``, ``'constant'``, ``'linear'`` or ``'exp'``.
        warmup_iters: Length of the warmup (epochs with ``warmup_by_epoch``).
        warmup_ratio: Starting fraction of the lr.
        warmup_by_epoch: Count ``warmup_iters`` in epochs.
    """

    def __init__(self, by_epoch: bool = True, warmup: str | None = None, warmup_iters: int = 0,
                 warmup_ratio: float = 0.1, warmup_by_epoch: bool = False):
        if warmup is not None:
            if warmup not in ("constant", "linear", "exp"):
                raise ValueError(f'"{warmup}" is not a supported type for warming up, valid types are '
                                 '"constant", "linear" and "exp"')
            if warmup_iters <= 0:
                raise ValueError('"warmup_iters" must be a positive integer')
            if not 0 < warmup_ratio <= 1.0:
                raise ValueError('"warmup_ratio" must be in range (0,1]')
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch

    def get_lr(self, base_lr: float, progress: int, max_progress: int) -> float:
        """The regular lr at ``progress`` (epoch or iteration) of ``max_progress``."""
        raise NotImplementedError

    def warmup_factor(self, cur_iter: int, warmup_iters: int) -> float:
        if self.warmup == "constant":
            return self.warmup_ratio
        if self.warmup == "linear":
            return 1 - (1 - cur_iter / warmup_iters) * (1 - self.warmup_ratio)
        if self.warmup == "exp":
            return self.warmup_ratio ** (1 - cur_iter / warmup_iters)
        raise ValueError(f"unknown warmup {self.warmup!r}")

    def lr_at(self, base_lr: float, *, epoch: int, iteration: int, max_epochs: int, epoch_len: int) -> float:
        """The lr of a group whose initial lr is ``base_lr`` for the iteration about to run.

        Args:
            base_lr: The group's initial lr.
            epoch: Epochs completed (0 in the first epoch).
            iteration: Iterations completed over the whole run.
            max_epochs: Epochs of the run.
            epoch_len: Iterations per epoch.
        """
        if self.by_epoch:
            regular = self.get_lr(base_lr, epoch, max_epochs)
        else:
            regular = self.get_lr(base_lr, iteration, max_epochs * epoch_len)
        warmup_iters = self.warmup_iters * epoch_len if self.warmup_by_epoch else self.warmup_iters
        if self.warmup is None or iteration >= warmup_iters:
            return regular
        return regular * self.warmup_factor(iteration, warmup_iters)

    def apply(self, optimizer: torch.optim.Optimizer, *, epoch: int, iteration: int, max_epochs: int,
              epoch_len: int) -> list[float]:
        """Set every group's lr for the coming iteration (``initial_lr`` records its base); return them."""
        lrs = []
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = self.lr_at(group["initial_lr"], epoch=epoch, iteration=iteration,
                                     max_epochs=max_epochs, epoch_len=epoch_len)
            lrs.append(group["lr"])
        return lrs


@LR_SCHEDULES.register()
class Fixed(LrSchedule):
    """A constant lr (plus warmup)."""

    def get_lr(self, base_lr, progress, max_progress):
        return base_lr


@LR_SCHEDULES.register()
class Step(LrSchedule):
    """``base_lr * gamma ** k``, ``k`` the number of ``step`` milestones passed (or ``progress // step``).

    Args:
        step: Milestones (a list) or a period (an int), in epochs (or iterations without ``by_epoch``).
        gamma: Decay factor.
        min_lr: Floor of the lr, or ``None``.
    """

    def __init__(self, step: int | list[int], gamma: float = 0.1, min_lr: float | None = None, **kwargs):
        if isinstance(step, (list, tuple)):
            if not all(isinstance(s, int) and s > 0 for s in step):
                raise ValueError(f"step milestones must be positive ints, got {step}")
            step = list(step)
        elif isinstance(step, int):
            if step <= 0:
                raise ValueError(f"step must be positive, got {step}")
        else:
            raise TypeError('"step" must be a list or integer')
        self.step = step
        self.gamma = gamma
        self.min_lr = min_lr
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        if isinstance(self.step, int):
            exp = progress // self.step
        else:
            exp = len(self.step)
            for i, s in enumerate(self.step):
                if progress < s:
                    exp = i
                    break
        lr = base_lr * self.gamma**exp
        return max(lr, self.min_lr) if self.min_lr is not None else lr


@LR_SCHEDULES.register()
class Exp(LrSchedule):
    """``base_lr * gamma ** progress``."""

    def __init__(self, gamma: float, **kwargs):
        self.gamma = gamma
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        return base_lr * self.gamma**progress


@LR_SCHEDULES.register()
class Poly(LrSchedule):
    """``(base_lr - min_lr) * (1 - progress / max_progress) ** power + min_lr``."""

    def __init__(self, power: float = 1.0, min_lr: float = 0.0, **kwargs):
        self.power = power
        self.min_lr = min_lr
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        coeff = (1 - progress / max_progress) ** self.power
        return (base_lr - self.min_lr) * coeff + self.min_lr


@LR_SCHEDULES.register()
class Inv(LrSchedule):
    """``base_lr * (1 + gamma * progress) ** -power``."""

    def __init__(self, gamma: float, power: float = 1.0, **kwargs):
        self.gamma = gamma
        self.power = power
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        return base_lr * (1 + self.gamma * progress) ** (-self.power)


@LR_SCHEDULES.register()
class CosineAnnealing(LrSchedule):
    """Cosine from ``base_lr`` to ``min_lr`` (or ``base_lr * min_lr_ratio``) over the run.

    Args:
        min_lr: Final lr; give exactly one of it and ``min_lr_ratio``.
        min_lr_ratio: Final lr as a fraction of the base lr.
    """

    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs):
        if (min_lr is None) == (min_lr_ratio is None):
            raise ValueError("CosineAnnealing needs exactly one of min_lr and min_lr_ratio")
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        target = base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else self.min_lr
        return annealing_cos(base_lr, target, progress / max_progress)


def build_lr_schedule(lr_config: dict | None) -> LrSchedule:
    """Build the schedule of ``lr_config`` (``None`` keeps the optimizer's lr fixed).

    ``policy`` follows mmcv's naming: an all-lower-case name is title-cased ('step' -> 'Step').
    """
    if lr_config is None:
        return Fixed()
    cfg = dict(lr_config)
    if "policy" not in cfg:
        raise KeyError("lr_config needs a 'policy'")
    cfg.pop("type", None)
    policy = cfg.pop("policy")
    return LR_SCHEDULES.get(normalize_policy(policy))(**cfg)
