"""Heads: layers and key names, forward_train / simple_test semantics, multi-label labels and thresholds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workers.models import build_model


def test_it_stacks_hidden_linear_blocks_before_the_classifier():
    head = build_model({"type": "StackedLinearClsHead", "num_classes": 3, "in_channels": 8, "mid_channels": [6, 4],
                        "dropout_rate": 0.5, "norm_cfg": {"type": "BN1d"}, "act_cfg": {"type": "HSwish"}})
    assert set(head.state_dict()) >= {"layers.0.fc.weight", "layers.0.norm.running_mean", "layers.1.fc.bias",
                                      "layers.2.fc.weight"}
    assert isinstance(head.layers[1].act, torch.nn.Hardswish) and head.layers[1].dropout.p == 0.5
    assert head.layers[2].norm is None and head.layers[2].act is None and head.layers[2].dropout is None
    assert head.layers[2].fc.weight.std() < 0.05 and torch.count_nonzero(head.layers[2].fc.bias) == 0
    feats = (torch.randn(4, 8),)
    assert set(head.forward_train(feats, torch.tensor([0, 1, 2, 0]))) == {"loss"}
    head.eval()
    scores = head.simple_test(feats)
    assert scores.shape == (4, 3) and torch.allclose(scores.sum(1), torch.ones(4))
    with pytest.raises(TypeError, match="should be a non-empty sequence"):
        build_model({"type": "StackedLinearClsHead", "num_classes": 3, "in_channels": 8, "mid_channels": 6})


def test_it_classifies_the_vit_class_token_through_an_optional_pre_logits_layer():
    head = build_model({"type": "VisionTransformerClsHead", "num_classes": 4, "in_channels": 8, "hidden_dim": 6})
    assert set(head.state_dict()) == {"layers.pre_logits.weight", "layers.pre_logits.bias", "layers.head.weight",
                                      "layers.head.bias"}
    assert torch.count_nonzero(head.layers.head.weight) == 0  # MMCls: Constant(val=0) on Linear
    assert torch.count_nonzero(head.layers.pre_logits.weight) > 0  # then LeCun normal pre-logits
    torch.nn.init.normal_(head.layers.head.weight)
    patch, cls = torch.randn(2, 8, 2, 2), torch.randn(2, 8)
    expected = head.layers.head(torch.tanh(head.layers.pre_logits(cls)))
    assert torch.allclose(head.simple_test(([patch, cls],), softmax=False), expected)
    assert torch.allclose(head.pre_logits(([patch, cls],)), torch.tanh(head.layers.pre_logits(cls)))


def test_it_averages_the_class_and_distillation_heads_of_deit():
    head = build_model({"type": "DeiTClsHead", "num_classes": 3, "in_channels": 8})
    for layer in (head.layers.head, head.layers.head_dist):
        torch.nn.init.normal_(layer.weight)
    patch, cls, dist = torch.randn(2, 8, 2, 2), torch.randn(2, 8), torch.randn(2, 8)
    expected = (head.layers.head(cls) + head.layers.head_dist(dist)) / 2
    assert torch.allclose(head.simple_test(([patch, cls, dist],), softmax=False), expected)
    with pytest.raises(TypeError, match="DistilledVisionTransformer"):
        head.simple_test(([patch, cls],))


def test_it_averages_the_two_conformer_branch_losses_and_sums_their_scores():
    head = build_model({"type": "ConformerHead", "num_classes": 3, "in_channels": [4, 6], "cal_acc": True})
    conv, trans, label = torch.randn(2, 4), torch.randn(2, 6), torch.tensor([0, 2])
    losses = head.forward_train(([conv, trans],), label)
    expected = (F.cross_entropy(head.conv_cls_head(conv), label) + F.cross_entropy(head.trans_cls_head(trans),
                                                                                   label)) / 2
    assert torch.allclose(losses["loss"], expected) and set(losses["accuracy"]) == {"top-1"}
    scores = head.simple_test(([conv, trans],))
    assert torch.allclose(scores, F.softmax(head.conv_cls_head(conv) + head.trans_cls_head(trans), dim=1))
    raw = head.simple_test(([conv, trans],), softmax=False)
    assert isinstance(raw, list) and len(raw) == 2


def test_it_counts_difficult_labels_as_positive_in_the_multi_label_loss_as_mmcls_does():
    head = build_model({"type": "MultiLabelLinearClsHead", "num_classes": 3, "in_channels": 4})
    torch.nn.init.normal_(head.fc.weight)
    feats = torch.randn(2, 4)
    difficult = torch.tensor([[1, -1, 0], [0, 0, -1]])
    with_difficult = head.forward_train(feats, difficult)["loss"]
    assert torch.allclose(with_difficult, head.forward_train(feats, difficult.abs())["loss"])
    assert not torch.allclose(with_difficult, head.forward_train(feats, difficult.clamp(min=0))["loss"])
    logits = head.fc(feats)
    # BCE summed over classes, averaged over the 2 samples (MMCls's avg_factor = batch size)
    expected = F.binary_cross_entropy_with_logits(logits, difficult.abs().float(), reduction="sum") / 2
    assert torch.allclose(with_difficult, expected)


def test_it_scores_multi_label_with_sigmoids_and_thresholds_them():
    head = build_model({"type": "MultiLabelClsHead"})
    logits = torch.tensor([[2.0, -1.0, 0.0]])
    assert torch.allclose(head.simple_test((logits,)), torch.sigmoid(logits))
    assert head.predict((logits,)).tolist() == [[1, 0, 1]]  # sigmoid(0) = 0.5 reaches thr=0.5
    assert head.predict((logits,), thr=0.6).tolist() == [[1, 0, 0]]
    listed = head.simple_test((logits,), post_process=True)
    assert isinstance(listed, list) and isinstance(listed[0], np.ndarray)
    focal = build_model({"type": "MultiLabelClsHead", "loss": {"type": "FocalLoss"}})
    assert focal.forward_train(logits, torch.tensor([[1, 0, -1]]))["loss"] > 0


def test_it_pools_class_specific_residual_attention_in_csra():
    head = build_model({"type": "CSRAClsHead", "num_classes": 3, "in_channels": 4, "num_heads": 2, "lam": 0.1})
    assert [h.T for h in head.csra_heads] == [1, 99]
    assert set(head.state_dict()) == {"csra_heads.0.head.weight", "csra_heads.1.head.weight"}
    x = torch.randn(2, 4, 3, 3)
    expected = 0
    for module in head.csra_heads:
        weight = module.head.weight.flatten(1)
        score = torch.einsum("ck,nkl->ncl", weight / weight.norm(dim=1, keepdim=True), x.flatten(2))
        att = (score * F.softmax(score, dim=2)).sum(2) if module.T == 1 else score.max(2)[0]
        expected = expected + score.mean(2) + 0.1 * att
    assert torch.allclose(head.simple_test((x,), sigmoid=False), expected, atol=1e-6)
    assert set(head.forward_train((x,), torch.tensor([[1, 0, -1], [0, 1, 0]]))) == {"loss"}
    with pytest.raises(ValueError, match="num_heads must be one of"):
        build_model({"type": "CSRAClsHead", "num_classes": 3, "in_channels": 4, "num_heads": 3, "lam": 0.1})
