"""Conformer (in-house, MMCls's names): outputs per block, freezing, names, with ConformerHead."""

from __future__ import annotations

import pytest
import torch

from workers.models import build_model
from workers.models.backbones.conformer import conformer_tiny_test


def test_it_returns_pooled_cnn_features_and_the_class_token_per_out_index():
    model = conformer_tiny_test(out_indices=(2, -1)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [[tuple(t.shape) for t in out] for out in outs] == [[(2, 32), (2, 32)], [(2, 64), (2, 32)]]
    # an input that is not a multiple of the token stride is padded (MMCls's AdaptivePadding)
    assert tuple(model(torch.randn(1, 3, 40, 40))[1][0].shape) == (1, 64)


def test_it_averages_the_tokens_without_a_class_token():
    model = conformer_tiny_test(with_cls_token=False).eval()
    assert "cls_token" not in model.state_dict()
    assert tuple(model(torch.randn(1, 3, 32, 32))[0][1].shape) == (1, 32)


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(conformer_tiny_test().state_dict())
    assert {"cls_token", "conv1.weight", "bn1.running_mean", "conv_1.residual_conv.weight",
            "trans_patch_conv.weight", "trans_1.attn.qkv.weight", "trans_1.ffn.layers.0.0.weight",
            "conv_trans_2.cnn_block.conv2.weight", "conv_trans_2.squeeze_block.ln.weight",
            "conv_trans_2.expand_block.bn.weight", "conv_trans_2.trans_block.ln1.weight",
            "conv_trans_3.fusion_block.residual_bn.weight", "trans_norm.weight"} <= names


def test_it_freezes_the_stem_first_stage_and_the_frozen_blocks():
    model = conformer_tiny_test(frozen_stages=2)
    model.train()
    for module in (model.conv1, model.bn1, model.conv_1, model.trans_1, model.conv_trans_2):
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert not model.cls_token.requires_grad
    assert model.conv_trans_3.training and all(p.requires_grad for p in model.conv_trans_3.parameters())
    assert all(p.requires_grad for p in conformer_tiny_test().parameters())


def test_it_feeds_conformer_head():
    classifier = build_model({
        "type": "ImageClassifier",
        "backbone": {"type": "Conformer", "arch": {"embed_dims": 32, "channel_ratio": 1, "num_heads": 2,
                                                   "depths": 3}, "base_channels": 16},
        "neck": None,
        "head": {"type": "ConformerHead", "num_classes": 5, "in_channels": [64, 32]},
    }).eval()
    scores = classifier.simple_test(torch.randn(2, 3, 32, 32))
    assert tuple(torch.as_tensor(scores).shape) == (2, 5)


def test_it_rejects_a_patch_size_that_is_not_a_multiple_of_16():
    with pytest.raises(ValueError, match="divisible by 16"):
        conformer_tiny_test(patch_size=8)
