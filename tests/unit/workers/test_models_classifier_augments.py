"""ImageClassifier(train_cfg=dict(augments=...)): batch augments run on training batches only."""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F

from workers.models import build_model

MIXUP = {"type": "BatchMixup", "alpha": 1.0, "num_classes": 4, "prob": 1.0}


def _classifier(**extra) -> dict:
    return {"type": "ImageClassifier",
            "backbone": {"type": "ResNet_CIFAR", "depth": 18, "stem_channels": 8, "base_channels": 8},
            "neck": {"type": "GlobalAveragePooling"},
            "head": {"type": "LinearClsHead", "num_classes": 4, "in_channels": 64, "cal_acc": True}} | extra


class _StandInAugments:
    """Stands in for ``workers.data.batch_augments.Augments``: reverses the batch, mixes labels half-half."""

    calls: list = []

    def __init__(self, cfg):
        self.cfg = cfg

    def __call__(self, img, gt_label):
        type(self).calls.append(self.cfg)
        one_hot = F.one_hot(gt_label, self.cfg["num_classes"]).float()
        return img.flip(0), 0.5 * one_hot + 0.5 * one_hot.flip(0)


@pytest.fixture
def stand_in(monkeypatch):
    module = types.ModuleType("workers.data.batch_augments")
    module.Augments = _StandInAugments
    monkeypatch.setitem(sys.modules, "workers.data.batch_augments", module)
    _StandInAugments.calls = []
    return _StandInAugments


def test_it_trains_on_augmented_images_and_soft_labels(stand_in):
    model = build_model(_classifier(train_cfg={"augments": MIXUP}))
    img, label = torch.randn(2, 3, 16, 16), torch.tensor([0, 3])
    losses = model.forward_train(img, label)
    assert stand_in.calls == [MIXUP]
    assert set(losses) == {"loss"}  # no top-k accuracy against soft labels
    scores = model.head.fc(model.extract_feat(img.flip(0))[-1])
    soft = torch.tensor([[0.5, 0, 0, 0.5], [0.5, 0, 0, 0.5]])
    assert torch.allclose(losses["loss"], (-soft * F.log_softmax(scores, dim=1)).sum(1).mean(), atol=1e-6)
    model.eval()
    model.simple_test(img)
    assert len(stand_in.calls) == 1  # testing never augments


def test_it_trains_without_augments_when_train_cfg_has_none(stand_in):
    model = build_model(_classifier(train_cfg={"augments": None}))
    assert model.augments is None
    assert set(model.forward_train(torch.randn(2, 3, 16, 16), torch.tensor([0, 3]))) == {"loss", "accuracy"}
    assert stand_in.calls == []


def test_it_runs_the_real_batch_mixup_once_it_lands():
    pytest.importorskip("workers.data.batch_augments")
    model = build_model(_classifier(train_cfg={"augments": MIXUP}))
    losses = model(torch.randn(2, 3, 16, 16), gt_label=torch.tensor([0, 3]))
    assert set(losses) == {"loss"} and torch.isfinite(losses["loss"]) and losses["loss"].requires_grad
