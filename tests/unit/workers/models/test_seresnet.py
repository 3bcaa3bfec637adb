"""SE-ResNet and SE-ResNeXt (MMCls ``type='SEResNet'`` / ``'SEResNeXt'``)."""

from __future__ import annotations

import torch

from workers.models import build_model
from workers.models.backbones.seresnet import SELayer, seresnet_tiny


def test_it_returns_the_stages_asked_for():
    model = seresnet_tiny(out_indices=(0, 1, 2, 3)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 8, 8), (2, 64, 4, 4), (2, 128, 2, 2), (2, 256, 1, 1)]


def test_the_gate_rescales_each_channel():
    layer = SELayer(16, ratio=4).eval()
    assert layer.conv1.conv.out_channels == 8  # 16 // 4 = 4, rounded up to a multiple of 8
    x = torch.randn(2, 16, 5, 5)
    gate = layer.conv2(layer.conv1(x.mean((2, 3), keepdim=True)))
    assert torch.allclose(layer(x), x * gate)
    assert torch.all((gate > 0) & (gate < 1))


def test_it_freezes_the_stem_and_the_first_stage():
    model = seresnet_tiny(frozen_stages=1)
    model.train()
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.bn1.training


def test_it_loads_mmcls_keys():
    model = seresnet_tiny()
    state = {k: torch.full_like(v, 0.25) for k, v in model.state_dict().items()}
    assert {"layer1.0.se_layer.conv1.conv.weight", "layer1.0.se_layer.conv1.conv.bias",
            "layer1.0.se_layer.conv2.conv.weight", "layer3.5.bn3.weight"} <= set(state)
    model.load_state_dict(state, strict=True)


def test_se_resnext_has_grouped_convs_and_gates():
    model = build_model({"type": "SEResNeXt", "depth": 50, "stem_channels": 8, "base_channels": 8, "groups": 4,
                         "width_per_group": 2, "se_ratio": 4, "out_indices": (0, 3)}).eval()
    block = model.layer2[0]
    assert block.conv2.groups == 4 and block.conv2.out_channels == 16
    assert hasattr(block, "se_layer")
    outs = model(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 8), (1, 256, 1, 1)]
