"""MMCls 0.25's CosineAnnealingCooldown lr policy (T2T-ViT specs), values computed by hand."""

from __future__ import annotations

import math

import pytest

from jobspecs import load_library
from tests.support.engine import lrs as _lrs
from workers.engine.lr_schedules import build_lr_schedule


def test_it_anneals_then_holds_a_tenth_of_min_lr_for_the_cooldown():
    # 10 epochs of 10 iterations, cosine over the first 7 epochs, then 3 epochs of cooldown
    cfg = {"policy": "CosineAnnealingCooldown", "min_lr": 0.01, "cool_down_time": 3, "cool_down_ratio": 0.1}
    lrs = _lrs(cfg, [0, 35, 69, 70, 79, 80, 99], max_epochs=10)
    half = 0.01 + 0.5 * (0.1 - 0.01) * (math.cos(math.pi * 3 / 7) + 1)
    assert lrs == pytest.approx([0.1, half, 0.01 + 0.5 * 0.09 * (math.cos(math.pi * 6 / 7) + 1),
                                 0.01, 0.01, 0.001, 0.001])


def test_it_counts_iterations_and_min_lr_ratio_without_by_epoch():
    cfg = {"policy": "CosineAnnealingCooldown", "min_lr_ratio": 0.5, "cool_down_time": 10, "by_epoch": False}
    schedule = build_lr_schedule(cfg)
    at = [schedule.lr_at(0.2, epoch=0, iteration=i, max_epochs=1, epoch_len=30) for i in (0, 10, 20, 21, 29)]
    assert at == pytest.approx([0.2, 0.15, 0.1, 0.01, 0.01])


def test_it_warms_up_over_the_cosine():
    cfg = {"policy": "CosineAnnealingCooldown", "min_lr": 0.0, "warmup": "linear", "warmup_iters": 1,
           "warmup_by_epoch": True, "warmup_ratio": 0.1, "cool_down_time": 1}
    assert _lrs(cfg, [0, 5], max_epochs=3) == pytest.approx([0.01, 0.1 * (1 - 0.9 * 0.5)])


def test_it_needs_exactly_one_of_min_lr_and_min_lr_ratio():
    with pytest.raises(ValueError, match="exactly one of min_lr and min_lr_ratio"):
        build_lr_schedule({"policy": "CosineAnnealingCooldown"})


def test_it_loads_the_t2t_vit_specs_with_mmcls_cooldown_schedule():
    spec = load_library("t2t_vit/t2t-vit-t-14_8xb64_in1k.py")
    assert spec["lr_config"]["policy"] == "CosineAnnealingCooldown"
    schedule = build_lr_schedule(spec["lr_config"])
    # epoch 300 is the last of the cosine (its end, min_lr); 301..309 cool down at min_lr / 10
    lr = [schedule.lr_at(5e-4, epoch=e, iteration=e * 100, max_epochs=310, epoch_len=100) for e in (300, 301, 309)]
    assert lr == pytest.approx([1e-5, 1e-6, 1e-6])
