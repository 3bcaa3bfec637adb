"""ShuffleNetV1: outputs, MMCls names, frozen stages and the channel shuffle."""

from __future__ import annotations

import pytest
import torch

from workers.models.backbones.shufflenet_v1 import ShuffleNetV1, channel_shuffle, shufflenet_v1_tiny


def test_it_returns_the_stages_of_out_indices():
    outs = shufflenet_v1_tiny(out_indices=(0, 1, 2))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 120, 4, 4), (2, 240, 2, 2), (2, 480, 1, 1)]
    with pytest.raises(ValueError, match="groups is not supported"):
        ShuffleNetV1(groups=5)


def test_it_shuffles_channels_across_groups():
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(shufflenet_v1_tiny().state_dict())
    assert {"conv1.conv.weight", "conv1.bn.running_var", "layers.0.0.g_conv_1x1_compress.conv.weight",
            "layers.0.0.depthwise_conv3x3_bn.bn.bias", "layers.1.1.g_conv_1x1_expand.conv.weight",
            "layers.2.0.g_conv_1x1_expand.bn.weight"} <= names
    model = shufflenet_v1_tiny()
    assert model.layers[0][0].g_conv_1x1_compress.conv.groups == 1  # first unit: not grouped
    assert model.layers[1][0].g_conv_1x1_compress.conv.groups == 3


def test_it_freezes_conv1_and_the_first_stages_even_after_train():
    backbone = shufflenet_v1_tiny(frozen_stages=1)
    backbone.train()
    for module in (backbone.conv1, backbone.layers[0]):
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    assert all(p.requires_grad for p in backbone.layers[1].parameters()) and backbone.layers[1].training
    assert all(p.requires_grad for p in shufflenet_v1_tiny().parameters())  # -1 freezes nothing
