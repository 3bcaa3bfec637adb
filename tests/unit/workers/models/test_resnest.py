"""ResNeSt (MMCls ``type='ResNeSt'``)."""

from __future__ import annotations

import torch

from workers.models.backbones.resnest import RSoftmax, SplitAttentionConv2d, resnest_tiny


def test_it_returns_the_stages_asked_for():
    model = resnest_tiny(out_indices=(0, 1, 2, 3)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 8, 8), (2, 64, 4, 4), (2, 128, 2, 2), (2, 256, 1, 1)]


def test_strided_blocks_pool_after_the_split_attention_conv():
    model = resnest_tiny()
    block = model.layer2[0]
    assert block.avg_down_stride and block.conv2.conv.stride == (1, 1)
    assert isinstance(block.avd_layer, torch.nn.AvgPool2d)
    assert not hasattr(model.layer1[0], "avd_layer")
    assert isinstance(block.downsample[0], torch.nn.AvgPool2d)  # ResNet-D shortcut


def test_split_attention_weights_sum_to_one_over_the_radix():
    softmax = RSoftmax(radix=2, groups=1)
    weights = softmax(torch.randn(3, 8)).view(3, 2, 4)
    assert torch.allclose(weights.sum(1), torch.ones(3, 4))
    conv = SplitAttentionConv2d(8, 8, 3, padding=1, radix=2).eval()
    assert conv.fc1.out_channels == 32  # max(8 * 2 // 4, 32)
    assert tuple(conv(torch.randn(2, 8, 5, 5)).shape) == (2, 8, 5, 5)


def test_it_freezes_the_stem_and_the_first_stages():
    model = resnest_tiny(frozen_stages=2)
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.layer2.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert not model.layer1.training and model.layer3.training


def test_it_loads_mmcls_keys():
    model = resnest_tiny()
    state = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    assert {"stem.0.conv.weight", "stem.2.bn.running_var", "layer1.0.conv2.conv.weight",
            "layer1.0.conv2.bn0.weight", "layer1.0.conv2.fc1.bias", "layer1.0.conv2.bn1.weight",
            "layer1.0.conv2.fc2.weight", "layer2.0.downsample.1.weight"} <= set(state)
    model.load_state_dict(state, strict=True)
