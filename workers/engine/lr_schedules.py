"""Learning-rate schedules of ``lr_config``, with the formulas of mmcv 1.x's ``LrUpdaterHook``s (seed 9.2):
Fixed, Step, Exp, Poly, Inv, CosineAnnealing, FlatCosineAnnealing, CosineRestart, Cyclic and OneCycle,
and MMClassification 0.25's own CosineAnnealingCooldown.

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
from numbers import Number

import torch

from workers.registry import LR_SCHEDULES, normalize_policy

__all__ = ["CosineAnnealing", "CosineAnnealingCooldown", "CosineRestart", "Cyclic", "CyclicCurve", "Exp", "Fixed", "FlatCosineAnnealing", "Inv",
           "LrSchedule", "OneCycle", "Poly", "Step", "annealing_cos", "annealing_linear", "build_lr_schedule"]


def annealing_cos(start: float, end: float, factor: float, weight: float = 1.0) -> float:
    """Cosine from ``start`` (factor 0) to ``end`` (factor 1); ``weight`` scales the swing (mmcv)."""
    return end + 0.5 * weight * (start - end) * (cos(pi * factor) + 1)


def annealing_linear(start: float, end: float, factor: float) -> float:
    """Straight line from ``start`` (factor 0) to ``end`` (factor 1)."""
    return start + (end - start) * factor


def anneal_function(strategy: str):
    """mmcv's ``anneal_strategy``: ``'cos'`` or ``'linear'``."""
    if strategy == "cos":
        return annealing_cos
    if strategy == "linear":
        return annealing_linear
    raise ValueError(f'anneal_strategy must be one of "cos" or "linear", instead got {strategy}')



def check_warmup(warmup: str | None, warmup_iters: int, warmup_ratio: float, ratio_name: str) -> None:
    """mmcv's checks of a warmup, with its messages (shared by the lr and momentum updaters)."""
    if warmup is None:
        return
    if warmup not in ("constant", "linear", "exp"):
        raise ValueError(f'"{warmup}" is not a supported type for warming up, valid types are '
                         '"constant", "linear" and "exp"')
    if warmup_iters <= 0:
        raise ValueError('"warmup_iters" must be a positive integer')
    if not 0 < warmup_ratio <= 1.0:
        raise ValueError(f'"{ratio_name}" must be in range (0,1]')

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
        check_warmup(warmup, warmup_iters, warmup_ratio, "warmup_ratio")
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch

    def get_lr(self, base_lr: float, progress: int, max_progress: int) -> float:
        """The regular lr at ``progress`` (epoch or iteration) of ``max_progress``."""
        raise NotImplementedError

    def base_lrs(self, optimizer: torch.optim.Optimizer) -> list[float]:
        """Each group's base lr: its ``initial_lr`` (its lr when first scheduled), as mmcv's ``before_run``."""
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        return [group["initial_lr"] for group in optimizer.param_groups]

    def warmup_factor(self, cur_iter: int, warmup_iters: int) -> float:
        if self.warmup == "constant":
            return self.warmup_ratio
        if self.warmup == "linear":
            return 1 - (1 - cur_iter / warmup_iters) * (1 - self.warmup_ratio)
        if self.warmup == "exp":
            return self.warmup_ratio ** (1 - cur_iter / warmup_iters)
        raise ValueError(f"unknown warmup {self.warmup!r}")

    def lr_at(self, base_lr: float, *, epoch: int, iteration: int, max_epochs: int, epoch_len: int,
              max_iters: int | None = None) -> float:
        """The lr of a group whose initial lr is ``base_lr`` for the iteration about to run.

        Args:
            base_lr: The group's initial lr.
            epoch: Epochs completed (0 in the first epoch).
            iteration: Iterations completed over the whole run.
            max_epochs: Epochs of the run.
            epoch_len: Iterations per epoch (per rank: more GPUs, fewer iterations).
            max_iters: Iterations of the run (default ``max_epochs * epoch_len``, as EpochBasedRunner).
        """
        if max_iters is None:
            max_iters = max_epochs * epoch_len
        if self.by_epoch:
            regular = self.get_lr(base_lr, epoch, max_epochs)
        else:
            regular = self.get_lr(base_lr, iteration, max_iters)
        warmup_iters = self.warmup_iters * epoch_len if self.warmup_by_epoch else self.warmup_iters
        if self.warmup is None or iteration >= warmup_iters:
            return regular
        return regular * self.warmup_factor(iteration, warmup_iters)

    def apply(self, optimizer: torch.optim.Optimizer, *, epoch: int, iteration: int, max_epochs: int,
              epoch_len: int, max_iters: int | None = None) -> list[float]:
        """Set every group's lr for the coming iteration (``initial_lr`` records its base); return them."""
        lrs = []
        for group, base_lr in zip(optimizer.param_groups, self.base_lrs(optimizer), strict=True):
            group["lr"] = self.lr_at(base_lr, epoch=epoch, iteration=iteration, max_epochs=max_epochs,
                                     epoch_len=epoch_len, max_iters=max_iters)
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


@LR_SCHEDULES.register()
class LinearAnnealing(LrSchedule):
    """mmcv 1.x's ``LinearAnnealingLrUpdaterHook``: a straight line from ``base_lr`` to ``min_lr`` (or
    ``base_lr * min_lr_ratio``) over the run.

    Args:
        min_lr: Final lr; give exactly one of it and ``min_lr_ratio``.
        min_lr_ratio: Final lr as a fraction of the base lr.
    """

    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs):
        _check_min("LinearAnnealing", min_lr, min_lr_ratio)
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        return annealing_linear(base_lr, _target(base_lr, self.min_lr, self.min_lr_ratio), progress / max_progress)


def _target(base: float, minimum: float | None, ratio: float | None) -> float:
    return base * ratio if ratio is not None else minimum


def _check_min(name: str, minimum, ratio) -> None:
    if (minimum is None) == (ratio is None):
        raise ValueError(f"{name} needs exactly one of min_lr and min_lr_ratio")


@LR_SCHEDULES.register()
class CosineAnnealingCooldown(LrSchedule):
    """MMCls 0.25's ``CosineAnnealingCooldownLrUpdaterHook`` (used by T2T-ViT, after timm's cosine scheduler
    with ``cooldown_epochs``): a cosine from ``base_lr`` to the target over the first
    ``max_progress - cool_down_time`` epochs (iterations), then ``target * cool_down_ratio`` once
    ``progress > max_progress - cool_down_time``. As MMCls, the step where ``progress`` equals that boundary
    still takes the cosine's end value, the target itself.

    Args:
        min_lr: Target lr of the cosine; give exactly one of it and ``min_lr_ratio``.
        min_lr_ratio: Target lr as a fraction of the base lr.
        cool_down_ratio: Cooldown lr as a fraction of the target.
        cool_down_time: Length of the cooldown (epochs, or iterations without ``by_epoch``).
    """

    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None,
                 cool_down_ratio: float = 0.1, cool_down_time: int = 10, **kwargs):
        _check_min("CosineAnnealingCooldown", min_lr, min_lr_ratio)
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        self.cool_down_ratio = cool_down_ratio
        self.cool_down_time = cool_down_time
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        target = _target(base_lr, self.min_lr, self.min_lr_ratio)
        anneal_length = max_progress - self.cool_down_time
        if progress > anneal_length:
            return target * self.cool_down_ratio
        return annealing_cos(base_lr, target, progress / anneal_length)


@LR_SCHEDULES.register()
class FlatCosineAnnealing(LrSchedule):
    """The base lr until ``start_percent`` of the run, then a cosine to ``min_lr`` (mmcv's rounding of the
    start: ``round(max_progress * start_percent)``).

    Args:
        start_percent: Fraction of the run (a float in [0, 1]) kept flat.
        min_lr: Final lr; give exactly one of it and ``min_lr_ratio``.
        min_lr_ratio: Final lr as a fraction of the base lr.
    """

    def __init__(self, start_percent: float = 0.75, min_lr: float | None = None, min_lr_ratio: float | None = None,
                 **kwargs):
        _check_min("FlatCosineAnnealing", min_lr, min_lr_ratio)
        if not isinstance(start_percent, float) or not 0 <= start_percent <= 1:
            raise ValueError(f"expected float between 0 and 1 start_percent, but got {start_percent}")
        self.start_percent = start_percent
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        start = round(max_progress * self.start_percent)
        if progress - start < 0:
            return base_lr
        target = _target(base_lr, self.min_lr, self.min_lr_ratio)
        return annealing_cos(base_lr, target, (progress - start) / (max_progress - start))


@LR_SCHEDULES.register()
class CosineRestart(LrSchedule):
    """Cosine annealing restarted after each of ``periods`` (SGDR), the k-th cycle's swing scaled by
    ``restart_weights[k]``; past the last period the lr stays at the end of the cosine.

    Args:
        periods: Length of each cycle (epochs, or iterations without ``by_epoch``).
        restart_weights: One weight per period.
        min_lr: Final lr of each cycle; give exactly one of it and ``min_lr_ratio``.
        min_lr_ratio: Final lr as a fraction of the base lr.
    """

    def __init__(self, periods: list[int], restart_weights: list[float] = (1,), min_lr: float | None = None,
                 min_lr_ratio: float | None = None, **kwargs):
        _check_min("CosineRestart", min_lr, min_lr_ratio)
        if len(periods) != len(restart_weights):
            raise ValueError("periods and restart_weights should have the same length")
        self.periods = list(periods)
        self.restart_weights = list(restart_weights)
        self.cumulative_periods = [sum(self.periods[:i + 1]) for i in range(len(self.periods))]
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        idx = next((i for i, end in enumerate(self.cumulative_periods) if progress < end), None)
        if idx is None:  # mmcv raises here too: the periods must cover the run
            raise ValueError(f"Current iteration {progress} exceeds cumulative_periods {self.cumulative_periods}")
        start = 0 if idx == 0 else self.cumulative_periods[idx - 1]
        alpha = min((progress - start) / self.periods[idx], 1)
        return annealing_cos(base_lr, _target(base_lr, self.min_lr, self.min_lr_ratio), alpha,
                             self.restart_weights[idx])


def _cyclic_ratio(target_ratio) -> tuple[float, float]:
    if isinstance(target_ratio, Number):
        return float(target_ratio), target_ratio / 1e5
    if isinstance(target_ratio, (tuple, list)):
        if len(target_ratio) == 1:
            return target_ratio[0], target_ratio[0] / 1e5
        if len(target_ratio) == 2:
            return tuple(target_ratio)
        raise ValueError('"target_ratio" must be a number or a tuple of one or two numbers')
    raise ValueError(f"target_ratio should be either float or tuple, got {type(target_ratio)}")


class CyclicCurve:
    """mmcv 1.x's cyclic updater (Smith 2017, used for super-convergence), the one implementation behind the
    ``Cyclic`` lr and momentum policies, by iteration only: each of ``cyclic_times`` cycles of
    ``max_iters // cyclic_times`` iterations goes from ``base`` to ``base * target_ratio[0]`` over its first
    ``int(step_ratio_up * cycle)`` iterations, then to ``base * target_ratio[1]``; cycle ``c``'s peak is
    pulled towards ``base`` by ``gamma ** c``. A schedule mixes it in, calls :meth:`init_cycle` and
    returns :meth:`cyclic_at` as its regular value.
    """

    def init_cycle(self, by_epoch: bool, target_ratio, cyclic_times: int, step_ratio_up: float,
                   anneal_strategy: str, gamma: float) -> None:
        """Check and keep the cycle's arguments (mmcv's checks, with its messages).

        Args:
            by_epoch: Must be ``False``.
            target_ratio: ``(peak, end)`` relative to the base; a number ``r`` means ``(r, r / 1e5)``.
            cyclic_times: Cycles over the run.
            step_ratio_up: Fraction of a cycle spent on the way to the peak, in [0, 1).
            anneal_strategy: ``'cos'`` or ``'linear'``.
            gamma: Shrink factor of each cycle's swing.
        """
        if by_epoch:
            raise ValueError('currently only support "by_epoch" = False')
        if not 0 <= step_ratio_up < 1.0:
            raise ValueError('"step_ratio_up" must be in range [0,1)')
        self.target_ratio = _cyclic_ratio(target_ratio)
        self.cyclic_times = cyclic_times
        self.step_ratio_up = step_ratio_up
        self.gamma = gamma
        self.anneal = anneal_function(anneal_strategy)

    def cyclic_at(self, base: float, iteration: int, max_iters: int) -> float:
        """The value at ``iteration`` of ``max_iters`` for a group whose base value is ``base``."""
        per_cycle = max_iters // self.cyclic_times
        up = int(self.step_ratio_up * per_cycle)
        current, cycle = iteration % per_cycle, iteration // per_cycle
        scale = self.gamma**cycle
        peak = 1 - scale + self.target_ratio[0] * scale
        if current < up:
            return self.anneal(base, base * peak, current / up)
        return self.anneal(base * peak, base * self.target_ratio[1], (current - up) / (per_cycle - up))


@LR_SCHEDULES.register()
class Cyclic(CyclicCurve, LrSchedule):
    """Cyclic lr (:class:`CyclicCurve`): up to ``target_ratio[0]`` times the base lr, then down to
    ``target_ratio[1]`` times it, ``cyclic_times`` over the run.

    Args:
        target_ratio: ``(peak, end)`` relative to the base lr; a number ``r`` means ``(r, r / 1e5)``.
        cyclic_times: Cycles over the run.
        step_ratio_up: Fraction of a cycle spent rising, in [0, 1).
        anneal_strategy: ``'cos'`` or ``'linear'``.
        gamma: Each cycle's peak shrinks towards the base lr by this factor, in (0, 1].
    """

    def __init__(self, by_epoch: bool = False, target_ratio=(10, 1e-4), cyclic_times: int = 1,
                 step_ratio_up: float = 0.4, anneal_strategy: str = "cos", gamma: float = 1, **kwargs):
        self.init_cycle(by_epoch, target_ratio, cyclic_times, step_ratio_up, anneal_strategy, gamma)
        if not 0 < gamma <= 1:  # mmcv checks it for the lr only
            raise ValueError('"gamma" must be in range (0, 1]')
        super().__init__(by_epoch=False, **kwargs)

    def get_lr(self, base_lr, progress, max_progress):
        return self.cyclic_at(base_lr, progress, max_progress)


@LR_SCHEDULES.register()
class OneCycle(LrSchedule):
    """The one-cycle policy (Smith & Topin 2018): from ``max_lr / div_factor`` up to ``max_lr`` over
    ``pct_start`` of ``total_steps``, then down to ``max_lr / div_factor / final_div_factor`` (with
    ``three_phase``: back to the start, then down). By iteration only; the optimizer's lr is ignored.

    Args:
        max_lr: Peak lr: a number, or one per param group (a list).
        total_steps: Iterations of the cycle (default: the run's); must cover the run.
        pct_start: Fraction of the cycle spent rising.
        anneal_strategy: ``'cos'`` or ``'linear'``.
        div_factor: Initial lr is ``max_lr / div_factor``.
        final_div_factor: Final lr is the initial lr divided by this.
        three_phase: mmcv's / fastai's three-phase variant.
    """

    def __init__(self, max_lr, total_steps: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", div_factor: float = 25, final_div_factor: float = 1e4,
                 three_phase: bool = False, **kwargs):
        if kwargs.pop("by_epoch", False):
            raise ValueError('currently only support "by_epoch" = False')
        if not isinstance(max_lr, (Number, list, tuple)):
            raise ValueError(f"the type of max_lr must be a number or a list, but got {type(max_lr)}")
        if total_steps is not None and not isinstance(total_steps, int):
            raise ValueError(f"the type of total_steps must be int, but got {type(total_steps)}")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"expected float between 0 and 1 pct_start, but got {pct_start}")
        self.max_lr = max_lr
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.anneal = anneal_function(anneal_strategy)
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.three_phase = three_phase
        super().__init__(by_epoch=False, **kwargs)

    def base_lrs(self, optimizer):
        groups = optimizer.param_groups
        if isinstance(self.max_lr, Number):
            max_lrs = [self.max_lr] * len(groups)
        elif len(self.max_lr) != len(groups):
            raise ValueError(f"expected {len(groups)} values for max_lr, got {len(self.max_lr)}")
        else:
            max_lrs = list(self.max_lr)
        bases = [lr / self.div_factor for lr in max_lrs]
        for group, base in zip(groups, bases, strict=True):
            group.setdefault("initial_lr", base)
        return bases

    def phases(self, total_steps: int) -> list[tuple[float, float, float]]:
        """``(end_iter, start_factor, end_factor)`` of each phase, factors of the initial lr (mmcv)."""
        if self.three_phase:
            return [(float(self.pct_start * total_steps) - 1, 1, self.div_factor),
                    (float(2 * self.pct_start * total_steps) - 2, self.div_factor, 1),
                    (total_steps - 1, 1, 1 / self.final_div_factor)]
        return [(float(self.pct_start * total_steps) - 1, 1, self.div_factor),
                (total_steps - 1, self.div_factor, 1 / self.final_div_factor)]

    def get_lr(self, base_lr, progress, max_progress):
        total_steps = self.total_steps if self.total_steps is not None else max_progress
        if total_steps < max_progress:
            raise ValueError(f"The total steps must be greater than or equal to max iterations "
                             f"{max_progress} of runner, but total steps is {total_steps}.")
        start = 0.0
        for end, start_factor, end_factor in self.phases(total_steps):
            if progress <= end:
                return self.anneal(base_lr * start_factor, base_lr * end_factor, (progress - start) / (end - start))
            start = end
        return base_lr / self.final_div_factor


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
