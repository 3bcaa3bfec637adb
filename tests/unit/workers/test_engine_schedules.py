"""lr_config / momentum_config policies give mmcv 1.x's values; the expectations are worked out by hand
from mmcv's formulas, written next to each number:

    annealing_cos(start, end, f, w=1) = end + 0.5 * w * (start - end) * (cos(pi * f) + 1)
    annealing_linear(start, end, f)   = start + (end - start) * f
"""

from __future__ import annotations

import math

import pytest
import torch

from workers.engine.lr_schedules import build_lr_schedule
from workers.engine.momentum_schedules import build_momentum_schedule


def _lrs(cfg: dict, iterations: list[int], *, epoch_len: int = 10, max_epochs: int = 2, base_lr: float = 0.1):
    schedule = build_lr_schedule(cfg)
    return [schedule.lr_at(base_lr, epoch=i // epoch_len, iteration=i, max_epochs=max_epochs, epoch_len=epoch_len)
            for i in iterations]


def _momenta(cfg: dict, iterations: list[int], *, epoch_len: int = 10, max_epochs: int = 2, base: float = 0.95):
    schedule = build_momentum_schedule(cfg)
    return [schedule.momentum_at(base, epoch=i // epoch_len, iteration=i, max_epochs=max_epochs,
                                 epoch_len=epoch_len) for i in iterations]


def _cos(start, end, f, w=1.0):
    return end + 0.5 * w * (start - end) * (math.cos(math.pi * f) + 1)


def test_it_cycles_the_lr_up_then_down():
    # 20 iterations, one cycle, up for int(0.4 * 20) = 8 iterations from 0.1 to 0.1 * 10, then to 0.1 * 1e-4
    cfg = {"policy": "cyclic", "target_ratio": (10, 1e-4), "cyclic_times": 1, "step_ratio_up": 0.4}
    assert _lrs(cfg, [0, 4, 8, 14, 19]) == pytest.approx(
        [0.1, 0.55, 1.0, 1e-5 + 0.5 * (1 - 1e-5), _cos(1.0, 1e-5, 11 / 12)])


def test_it_shrinks_later_cycles_by_gamma_and_anneals_linearly():
    # two cycles of 10, up for 4; cycle 1's peak ratio is 1 - 0.5 + 10 * 0.5 = 5.5
    cfg = {"policy": "cyclic", "target_ratio": (10, 1e-4), "cyclic_times": 2, "step_ratio_up": 0.4, "gamma": 0.5}
    assert _lrs(cfg, [12, 17]) == pytest.approx([_cos(0.1, 0.55, 0.5), _cos(0.55, 1e-5, 0.5)])
    assert _lrs(cfg, [12]) == pytest.approx([0.325])
    linear = {"policy": "cyclic", "target_ratio": 10.0, "cyclic_times": 2, "anneal_strategy": "linear"}
    # a number r means (r, r / 1e5); iteration 2 is half way up (0.1 -> 1.0), iteration 7 half way down
    assert _lrs(linear, [2, 7]) == pytest.approx([0.55, 1.0 + (1e-5 - 1.0) * 0.5])


def test_it_runs_one_cycle_from_max_lr_over_div_factor():
    # base = 1.0 / 25 = 0.04; phases end at 0.25 * 20 - 1 = 4 (0.04 -> 1.0) and 19 (1.0 -> 4e-6)
    cfg = {"policy": "OneCycle", "max_lr": 1.0, "pct_start": 0.25}
    schedule = build_lr_schedule(cfg)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=123.0)  # ignored: OneCycle starts from max_lr / div_factor
    assert schedule.apply(optimizer, epoch=0, iteration=0, max_epochs=2, epoch_len=10) == pytest.approx([0.04])
    got = _lrs(cfg, [2, 4, 5, 19], base_lr=0.04)
    assert got == pytest.approx([0.52, 1.0, _cos(1.0, 4e-6, 1 / 15), 4e-6])
    three = {"policy": "OneCycle", "max_lr": 1.0, "pct_start": 0.25, "three_phase": True}
    # phases end at 4 (up), 2 * 0.25 * 20 - 2 = 8 (back to 0.04) and 19 (down to 4e-6)
    assert _lrs(three, [6, 8, 19], base_lr=0.04) == pytest.approx([0.52, 0.04, 4e-6])
    with pytest.raises(ValueError, match="total steps"):
        _lrs({"policy": "OneCycle", "max_lr": 1.0, "total_steps": 10}, [0])


def test_it_restarts_the_cosine_with_weights():
    # periods 2 and 4 epochs, weights 1 and 0.5, min_lr 0.01
    cfg = {"policy": "CosineRestart", "periods": [2, 4], "restart_weights": [1, 0.5], "min_lr": 0.01}
    got = _lrs(cfg, [0, 10, 20, 40], max_epochs=6)
    assert got == pytest.approx([0.1, 0.055, 0.01 + 0.5 * 0.5 * 0.09 * 2, 0.01 + 0.25 * 0.09])
    with pytest.raises(ValueError, match="exceeds"):
        _lrs(cfg, [60], max_epochs=7)
    ratio = {"policy": "CosineRestart", "periods": [30], "restart_weights": [1], "min_lr_ratio": 0.1,
             "by_epoch": False}
    assert _lrs(ratio, [15], max_epochs=3) == pytest.approx([0.055])


def test_it_keeps_the_lr_flat_then_anneals():
    # start = round(6 * 0.5) = 3: epochs 0..3 keep 0.1, epoch 4 is 1/3 of the way to 0.01
    cfg = {"policy": "FlatCosineAnnealing", "start_percent": 0.5, "min_lr_ratio": 0.1}
    got = _lrs(cfg, [0, 35, 45], max_epochs=6)
    assert got == pytest.approx([0.1, 0.1, 0.01 + 0.045 * 1.5])
    with pytest.raises(ValueError):
        build_lr_schedule({"policy": "FlatCosineAnnealing", "start_percent": 1, "min_lr": 0})


def test_it_multiplies_the_regular_per_iteration_lr_during_warmup():
    # by_epoch=False: regular cosine of iteration 5 of 100 times 1 - (1 - 5 / 10) * (1 - 0.1) = 0.55
    cfg = {"policy": "CosineAnnealing", "min_lr": 0, "by_epoch": False, "warmup": "linear", "warmup_iters": 10,
           "warmup_ratio": 0.1}
    assert _lrs(cfg, [5, 10], max_epochs=10) == pytest.approx([0.55 * _cos(0.1, 0, 0.05), _cos(0.1, 0, 0.1)])


def test_it_follows_the_iterations_per_epoch_of_the_world_size():
    # 80 samples, 4 per GPU: 20 iterations an epoch on one GPU, 10 on two; per-iteration cosine over 2 epochs
    cfg = {"policy": "CosineAnnealing", "min_lr": 0, "by_epoch": False}
    one_gpu = _lrs(cfg, [10], epoch_len=20)
    two_gpus = _lrs(cfg, [10], epoch_len=10)
    assert one_gpu == pytest.approx([_cos(0.1, 0, 0.25)])
    assert two_gpus == pytest.approx([_cos(0.1, 0, 0.5)])
    warm = {"policy": "step", "step": [1], "warmup": "linear", "warmup_iters": 1, "warmup_by_epoch": True}
    # warmup of one epoch: iteration 5 is half of it on two GPUs, a quarter on one
    assert _lrs(warm, [5], epoch_len=10) == pytest.approx([0.1 * (1 - 0.5 * 0.9)])
    assert _lrs(warm, [5], epoch_len=20) == pytest.approx([0.1 * (1 - 0.75 * 0.9)])


def test_it_cycles_the_momentum_opposite_to_the_lr():
    # seed 9.3's example: 0.95 -> 0.85 over 8 iterations, back to 0.95 over 12
    cfg = {"policy": "cyclic", "target_ratio": (0.85 / 0.95, 1), "cyclic_times": 1, "step_ratio_up": 0.4}
    assert _momenta(cfg, [0, 4, 8, 14]) == pytest.approx([0.95, 0.9, 0.85, 0.9])


def test_it_divides_the_momentum_during_warmup_and_anneals_it():
    cfg = {"policy": "CosineAnnealing", "min_momentum_ratio": 0.5, "by_epoch": False, "warmup": "linear",
           "warmup_iters": 10, "warmup_ratio": 0.9}
    # iteration 0: regular 0.95 divided by 1 - (1 - 0) * (1 - 0.9) = 0.9
    assert _momenta(cfg, [0, 10]) == pytest.approx([0.95 / 0.9, _cos(0.95, 0.475, 0.5)])
    constant = {"policy": "step", "step": [1], "warmup": "constant", "warmup_iters": 3, "warmup_ratio": 0.95}
    assert _momenta(constant, [0, 3, 10], base=0.9) == pytest.approx([0.9 / 0.95, 0.9, 0.45])


def test_it_runs_one_cycle_momentum_and_sets_adam_betas():
    cfg = {"policy": "OneCycle", "base_momentum": 0.85, "max_momentum": 0.95, "pct_start": 0.25}
    assert _momenta(cfg, [0, 2, 4, 19]) == pytest.approx([0.95, 0.9, 0.85, 0.95])
    param = torch.nn.Parameter(torch.zeros(1))
    adam = torch.optim.Adam([param], lr=0.1, betas=(0.9, 0.999))
    schedule = build_momentum_schedule({"policy": "step", "step": [1], "gamma": 0.5})
    schedule.apply(adam, epoch=1, iteration=10, max_epochs=2, epoch_len=10)
    assert adam.param_groups[0]["betas"] == pytest.approx((0.45, 0.999))
    assert adam.param_groups[0]["initial_momentum"] == 0.9


def test_it_rejects_bad_policies():
    with pytest.raises(ValueError, match="by_epoch"):
        build_lr_schedule({"policy": "cyclic", "by_epoch": True})
    with pytest.raises(ValueError, match="step_ratio_up"):
        build_lr_schedule({"policy": "cyclic", "step_ratio_up": 1.0})
    with pytest.raises(ValueError, match="anneal_strategy"):
        build_lr_schedule({"policy": "OneCycle", "max_lr": 0.1, "anneal_strategy": "exp"})
    with pytest.raises(ValueError, match="same length"):
        build_lr_schedule({"policy": "CosineRestart", "periods": [1, 2], "restart_weights": [1], "min_lr": 0})
    with pytest.raises(KeyError, match="Cyclicc"):
        build_momentum_schedule({"policy": "Cyclicc"})
