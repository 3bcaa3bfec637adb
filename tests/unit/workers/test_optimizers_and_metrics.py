"""Optimizers by torch name with paramwise rules, and MMCls's accuracy / precision metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workers.engine.optimizers import build_optimizer
from workers.evaluation import accuracy, evaluate_classification


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                               torch.nn.Linear(4, 2))


def test_it_builds_any_torch_optimizer_by_name():
    optimizer = build_optimizer(_net(), {"type": "AdamW", "lr": 0.001, "betas": (0.9, 0.99), "weight_decay": 0.05})
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["betas"] == (0.9, 0.99)
    with pytest.raises(KeyError, match="Did you mean: SGD"):
        build_optimizer(_net(), {"type": "SDG", "lr": 0.1})


def test_it_applies_paramwise_rules_as_mmcv():
    net = _net()
    optimizer = build_optimizer(net, {"type": "SGD", "lr": 0.1, "weight_decay": 1e-4, "paramwise_cfg": {
        "norm_decay_mult": 0.0, "bias_lr_mult": 2.0, "custom_keys": {"3.": {"lr_mult": 0.5, "decay_mult": 3.0}}}})
    groups = {id(g["params"][0]): g for g in optimizer.param_groups}
    conv, bn, fc = net[0], net[1], net[3]
    assert groups[id(conv.weight)]["lr"] == 0.1 and groups[id(conv.weight)]["weight_decay"] == 1e-4
    assert groups[id(conv.bias)]["lr"] == 0.2
    assert groups[id(bn.weight)]["weight_decay"] == 0.0 and groups[id(bn.bias)]["lr"] == 0.1
    assert groups[id(fc.weight)]["lr"] == 0.05 and groups[id(fc.weight)]["weight_decay"] == pytest.approx(3e-4)


def test_it_scores_top_k_accuracy_in_percent():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 0, 2])
    assert accuracy(scores, labels, topk=(1, 2)) == [25.0, 50.0]
    top1 = accuracy(torch.from_numpy(scores), torch.from_numpy(labels), topk=1)
    assert top1.item() == pytest.approx(25.0)
    assert accuracy(scores, labels, topk=1, thrs=0.6) == pytest.approx(25.0)


def test_it_names_metrics_as_mmcls_and_clips_topk_to_the_classes():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1, 2])
    results = evaluate_classification(scores, labels, metric=["accuracy", "precision", "recall", "f1_score"])
    assert set(results) == {"accuracy_top-1", "accuracy_top-5", "precision", "recall", "f1_score"}
    assert results["accuracy_top-1"] == pytest.approx(200 / 3)
    assert results["accuracy_top-5"] == 100.0  # k=5 > 3 classes: clipped to 3
    assert results["precision"] == pytest.approx((50 + 100 + 0) / 3)
    assert results["recall"] == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="not supported"):
        evaluate_classification(scores, labels, metric="mAP")
