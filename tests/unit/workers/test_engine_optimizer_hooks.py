"""optimizer_config hooks and EMAHook with mmcv's semantics, on a one-weight model (grad of w * x is x)."""

from __future__ import annotations

import pytest
import torch

from tests.support.specs import tiny_spec
from workers.engine import TrainState
from workers.engine.assembly import build_optimizer_hook
from workers.engine.hooks import EMAHook, GradientCumulativeOptimizerHook, OptimizerHook


def _run(hook: OptimizerHook, xs: list[float], start: int = 0) -> float:
    w = torch.nn.Parameter(torch.tensor(0.0))
    model = torch.nn.Module()
    model.w = w
    optimizer = torch.optim.SGD([w], lr=1.0)
    for i, x in enumerate(xs[start:], start=start):
        hook.step(w * x, optimizer, model, iteration=i, max_iters=len(xs))
    return float(w.detach())


def test_it_accumulates_and_divides_the_remainder_by_its_own_length():
    xs = [1.0, 2.0, 4.0, 8.0, 16.0]
    # 5 iterations, 2 a step: steps after 2 and 4 with loss / 2, the last iteration alone with loss / 1
    assert _run(GradientCumulativeOptimizerHook(cumulative_iters=2), xs) == pytest.approx(-(3 / 2 + 12 / 2 + 16))
    assert _run(OptimizerHook(), xs) == pytest.approx(-31.0)


def test_it_keeps_mmcvs_divisible_count_when_resuming_mid_group():
    # resumed at iteration 3 of 8: divisible_iters = (8 - 3) // 2 * 2 = 4 is compared with the absolute
    # iteration, as mmcv does: iteration 3 steps alone with loss / 2, then 4 and 5 are scaled by 1 (the
    # remainder), 6 and 7 too
    xs = [0.0, 0.0, 0.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    hook = GradientCumulativeOptimizerHook(cumulative_iters=2)
    with pytest.warns(UserWarning, match="not divisible by cumulative_iters"):
        assert _run(hook, xs, start=3) == pytest.approx(-(1.0 + 12.0 + 48.0))


def test_it_clips_and_reports_the_grad_norm():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    model = torch.nn.Module()
    model.w = w
    optimizer = torch.optim.SGD([w], lr=1.0)
    norm = OptimizerHook(grad_clip={"max_norm": 1.0}).step((w * w).sum() / 2, optimizer, model)
    assert norm == pytest.approx(5.0)
    assert w.detach().tolist() == pytest.approx([3.0 - 0.6, 4.0 - 0.8])
    with pytest.raises(ValueError, match="cumulative_iters"):
        GradientCumulativeOptimizerHook(cumulative_iters=0)


def test_it_builds_fp16_variants_from_the_fp16_section():
    hook = build_optimizer_hook(tiny_spec(fp16={"loss_scale": 512.0}))
    assert type(hook).__name__ == "Fp16OptimizerHook" and hook.loss_scale == 512.0
    spec = tiny_spec(fp16={"loss_scale": "dynamic"},
                     optimizer_config={"type": "GradientCumulativeOptimizerHook", "cumulative_iters": 4})
    hook = build_optimizer_hook(spec)
    assert type(hook).__name__ == "GradientCumulativeFp16OptimizerHook" and hook.cumulative_iters == 4
    with hook.autocast(torch.device("cpu")):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16


def test_it_averages_parameters_with_a_warmed_up_momentum_and_swaps_them_at_epoch_ends():
    model = torch.nn.Linear(1, 1, bias=False)
    model.weight.data.fill_(1.0)
    state = TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=1)
    hook = EMAHook(momentum=0.5, warm_up=100)
    hook.before_run(state)
    hook.before_train_epoch(state)
    model.weight.data.fill_(3.0)
    state.iter = 1  # iteration 0 done: m = min(0.5, 1 / 100)
    hook.after_train_iter(state)
    assert float(model.ema_weight) == pytest.approx(0.99 * 1 + 0.01 * 3)
    hook.after_train_epoch(state)  # evaluation and checkpoints see the average
    assert float(model.weight.detach()) == pytest.approx(1.02) and float(model.ema_weight) == pytest.approx(3.0)
