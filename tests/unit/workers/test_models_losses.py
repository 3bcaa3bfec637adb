"""Losses against values worked out by hand (with ``math``) on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from workers.models import build_model


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_it_computes_focal_loss_as_defined():
    pred, target = torch.tensor([[0.0, 2.0]]), torch.tensor([[1, 0]])
    # positive at p=0.5: alpha * (1-p)^2 * -log(p); negative at p=s(2): (1-alpha) * p^2 * -log(1-p)
    pos = 0.25 * 0.5 ** 2 * math.log(2)
    neg = 0.75 * _sigmoid(2) ** 2 * -math.log(1 - _sigmoid(2))
    focal = build_model({"type": "FocalLoss", "gamma": 2.0, "alpha": 0.25, "loss_weight": 2.0})
    assert focal(pred, target).item() == pytest.approx(2 * (pos + neg) / 2, rel=1e-5)
    assert focal(pred, torch.tensor([0])).item() == pytest.approx(2 * (pos + neg) / 2, rel=1e-5)  # one-hot
    none = focal(pred, target, reduction_override="none")
    assert none.shape == (1, 2) and none[0, 0].item() == pytest.approx(2 * pos, rel=1e-5)


def test_it_computes_asymmetric_loss_with_the_probability_margin():
    pred, target = torch.tensor([[0.0, 0.0, -4.0]]), torch.tensor([[1, 0, 0]])
    pos = math.log(2)  # gamma_pos 0: plain -log(p)
    neg = (1 - 0.55) ** 4 * -math.log(0.55)  # p_m = max(p - 0.05, 0) = 0.45
    easy = 0.0  # p = s(-4) = 0.018 < clip: shifted to 0, no loss at all
    asl = build_model({"type": "AsymmetricLoss", "gamma_pos": 0.0, "gamma_neg": 4.0, "clip": 0.05})
    assert asl(pred, target).item() == pytest.approx((pos + neg + easy) / 3, rel=1e-5)
    no_clip = build_model({"type": "AsymmetricLoss", "clip": 0})
    easy_unclipped = _sigmoid(-4) ** 4 * -math.log(1 - _sigmoid(-4))
    assert no_clip(pred, target, reduction_override="sum").item() == pytest.approx(
        pos + 0.5 ** 4 * math.log(2) + easy_unclipped, rel=1e-5)


def test_it_computes_seesaw_loss_and_counts_the_labels_it_sees():
    seesaw = build_model({"type": "SeesawLoss", "p": 0.8, "q": 2.0, "num_classes": 3})
    scores, labels = torch.zeros(3, 3), torch.tensor([0, 0, 1])
    # counts [2, 1, 0] (clamped to 1): a class-0 sample penalises classes 1 and 2 by (1/2)^0.8;
    # equal scores leave the compensation factor at 1.
    mitigated = math.log(1 + 2 * 0.5 ** 0.8)
    expected = (2 * mitigated + math.log(3)) / 3
    assert seesaw(scores, labels).item() == pytest.approx(expected, rel=1e-5)
    assert seesaw.cum_samples.tolist() == [2.0, 1.0, 0.0]
    assert "cum_samples" in seesaw.state_dict()
    with pytest.raises(ValueError, match="does not match the `num_classes`"):
        seesaw(torch.zeros(2, 4), torch.tensor([0, 1]))


def test_it_computes_binary_cross_entropy_with_use_sigmoid():
    pred, target = torch.tensor([[0.0, 2.0]]), torch.tensor([[1, 0]])
    bce = build_model({"type": "CrossEntropyLoss", "use_sigmoid": True})
    expected = (math.log(2) + -math.log(1 - _sigmoid(2))) / 2
    assert bce(pred, target).item() == pytest.approx(expected, rel=1e-5)
    # with the heads' avg_factor = batch size, the per-class terms are summed and averaged over samples
    assert bce(pred, target, avg_factor=1).item() == pytest.approx(2 * expected, rel=1e-5)


def test_it_weights_samples_before_reducing():
    pred, target = torch.tensor([[0.0, 1.0], [0.0, 1.0]]), torch.tensor([[1, 0], [0, 1]])
    weight = torch.tensor([1.0, 0.0])
    for cfg in ({"type": "FocalLoss"}, {"type": "AsymmetricLoss"}):
        loss = build_model(cfg)
        both = loss(pred, target, reduction_override="none")
        assert loss(pred, target, weight=weight, reduction_override="sum").item() == pytest.approx(both[0].sum().item())
