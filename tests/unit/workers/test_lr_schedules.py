"""lr_config policies give mmcv 1.x LrUpdaterHook's values (computed by hand below)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.support.engine import lrs as _lrs
from workers.engine.lr_schedules import build_lr_schedule


def test_it_steps_at_milestones_after_a_linear_warmup():
    cfg = {"policy": "step", "step": [2, 4], "warmup": "linear", "warmup_iters": 5, "warmup_ratio": 0.1}
    assert _lrs(cfg, [0, 2, 4, 5, 19, 20, 45]) == pytest.approx([0.01, 0.046, 0.082, 0.1, 0.1, 0.01, 0.001])


def test_it_steps_every_n_epochs_and_stops_at_min_lr():
    assert _lrs({"policy": "step", "step": 2}, [0, 25, 45]) == pytest.approx([0.1, 0.01, 0.001])
    assert _lrs({"policy": "step", "step": [1, 2], "min_lr": 0.005}, [25]) == pytest.approx([0.005])


def test_it_anneals_the_demo_schedule_along_a_cosine():
    cfg = {"policy": "CosineAnnealing", "min_lr": 0, "warmup": "linear", "warmup_iters": 20, "warmup_ratio": 0.1}
    got = _lrs(cfg, [0, 9, 19, 20, 44, 45, 225], epoch_len=45)
    cos1 = 0.05 * (1 + math.cos(math.pi / 6))
    assert got == pytest.approx([0.01, 0.0505, 0.0955, 0.1, 0.1, cos1, 0.05 * (1 + math.cos(5 * math.pi / 6))])
    assert cos1 == pytest.approx(0.0933013)


def test_it_anneals_by_iteration_to_a_min_lr_ratio():
    cfg = {"policy": "CosineAnnealing", "min_lr_ratio": 0.01, "by_epoch": False}
    assert _lrs(cfg, [0, 15, 30], max_epochs=3) == pytest.approx([0.1, 0.0505, 0.001])


def test_it_warms_up_exponentially_constantly_or_by_epoch():
    exp = {"policy": "step", "step": [5], "warmup": "exp", "warmup_iters": 5, "warmup_ratio": 0.1}
    assert _lrs(exp, [0, 2, 5]) == pytest.approx([0.01, 0.1 * 0.1**0.6, 0.1])
    constant = {"policy": "step", "step": [5], "warmup": "constant", "warmup_iters": 5, "warmup_ratio": 0.2}
    assert _lrs(constant, [0, 4, 5]) == pytest.approx([0.02, 0.02, 0.1])
    by_epoch = {"policy": "step", "step": [5], "warmup": "linear", "warmup_iters": 1, "warmup_by_epoch": True}
    assert _lrs(by_epoch, [5, 10]) == pytest.approx([0.055, 0.1])


def test_it_sets_each_param_group_from_its_own_initial_lr():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.02}], lr=0.1)
    schedule = build_lr_schedule({"policy": "step", "step": [1]})
    schedule.apply(optimizer, epoch=1, iteration=10, max_epochs=2, epoch_len=10)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.002])
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.1, 0.02]


def test_it_rejects_bad_settings():
    with pytest.raises(KeyError, match="Did you mean: CosineAnnealing"):
        build_lr_schedule({"policy": "CosineAnealing", "min_lr": 0})
    with pytest.raises(ValueError, match="exactly one of min_lr and min_lr_ratio"):
        build_lr_schedule({"policy": "CosineAnnealing"})
    with pytest.raises(ValueError, match="not a supported type for warming up"):
        build_lr_schedule({"policy": "step", "step": [1], "warmup": "cubic", "warmup_iters": 1})


def test_it_anneals_lr_and_momentum_linearly_as_mmcv():
    from workers.engine.lr_schedules import LinearAnnealing
    from workers.engine.momentum_schedules import LinearAnnealingMomentum

    lr = LinearAnnealing(min_lr_ratio=0.1, by_epoch=True)
    assert [round(lr.get_lr(1.0, p, 10), 6) for p in (0, 5, 10)] == [1.0, 0.55, 0.1]
    mom = LinearAnnealingMomentum(min_momentum=0.5, by_epoch=True)
    assert [round(mom.get_momentum(0.9, p, 4, None), 6) for p in (0, 2, 4)] == [0.9, 0.7, 0.5]
    with pytest.raises(ValueError, match="exactly one"):
        LinearAnnealing()
