"""What every classification head shares (``BaseHead``/``ClsHead``): training scores the loss of ``head(x)``,
testing its softmax (sigmoid for multi-label), with MMCls's accuracy, post-processing and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workers.evaluation.metrics import accuracy
from workers.models import build_model

_VEC = (torch.randn(4, 8),)
_TOKENS = ([torch.randn(4, 8, 2, 2), torch.randn(4, 8)],)

SINGLE_LABEL = [
    ({"type": "ClsHead", "cal_acc": True, "topk": (1, 2)}, (torch.randn(4, 3),)),
    ({"type": "LinearClsHead", "num_classes": 3, "in_channels": 8, "cal_acc": True, "topk": (1, 2)}, _VEC),
    ({"type": "StackedLinearClsHead", "num_classes": 3, "in_channels": 8, "mid_channels": [6], "cal_acc": True,
      "topk": (1, 2)}, _VEC),
    ({"type": "VisionTransformerClsHead", "num_classes": 3, "in_channels": 8, "hidden_dim": 6, "cal_acc": True,
      "topk": (1, 2)}, _TOKENS),
    ({"type": "EfficientFormerClsHead", "num_classes": 3, "in_channels": 8, "distillation": False, "cal_acc": True,
      "topk": (1, 2)}, _VEC),
]


@pytest.mark.parametrize(("cfg", "feats"), SINGLE_LABEL, ids=[cfg["type"] for cfg, _ in SINGLE_LABEL])
def test_it_trains_on_the_loss_of_the_head_scores_and_tests_on_their_softmax(cfg, feats):
    head = build_model(cfg).eval()
    with torch.no_grad():
        for param in head.parameters():  # ViT's head starts at zero, where every class ties
            param.normal_()
        scores = head(feats)
    assert scores.shape == (4, 3)
    labels = scores.argmax(1)
    losses = head.forward_train(feats, labels)
    torch.testing.assert_close(losses["loss"], F.cross_entropy(scores, labels))
    top1, top2 = accuracy(scores, labels, topk=(1, 2))  # MMCls counts a score above 0 only
    assert losses["accuracy"] == {"top-1": top1, "top-2": top2}
    # no top-k accuracy against soft (mixup) labels
    assert set(head.forward_train(feats, F.one_hot(labels, 3).float())) == {"loss"}
    torch.testing.assert_close(head.simple_test(feats), F.softmax(scores, dim=1))
    torch.testing.assert_close(head.simple_test(feats, softmax=False), scores)
    listed = head.simple_test(feats, post_process=True)
    assert isinstance(listed, list) and len(listed) == 4 and isinstance(listed[0], np.ndarray)
    np.testing.assert_allclose(np.stack(listed), F.softmax(scores, dim=1).numpy(), rtol=1e-6)


def test_it_scores_multi_label_heads_by_the_sigmoid_of_their_logits():
    head = build_model({"type": "MultiLabelLinearClsHead", "num_classes": 3, "in_channels": 8}).eval()
    with torch.no_grad():
        logits = head(_VEC)
    torch.testing.assert_close(head.simple_test(_VEC), torch.sigmoid(logits))
    targets = torch.tensor([[1, 0, -1]] * 4)
    expected = F.binary_cross_entropy_with_logits(logits, targets.abs().float(), reduction="sum") / 4
    torch.testing.assert_close(head.forward_train(_VEC, targets)["loss"], expected)


@pytest.mark.parametrize("cfg", [
    {"type": "LinearClsHead", "num_classes": 0, "in_channels": 8},
    {"type": "VisionTransformerClsHead", "num_classes": -1, "in_channels": 8},
    {"type": "ConformerHead", "num_classes": 0, "in_channels": [4, 6]},
    {"type": "EfficientFormerClsHead", "num_classes": 0, "in_channels": 8},
    {"type": "MultiLabelLinearClsHead", "num_classes": 0, "in_channels": 8},
], ids=lambda cfg: cfg["type"])
def test_it_refuses_a_head_without_classes(cfg):
    with pytest.raises(ValueError, match=f"num_classes={cfg['num_classes']} must be a positive integer"):
        build_model(cfg)


def test_it_refuses_a_non_positive_topk():
    with pytest.raises(ValueError, match=r"topk must be positive, got \(0,\)"):
        build_model({"type": "ClsHead", "topk": 0})
