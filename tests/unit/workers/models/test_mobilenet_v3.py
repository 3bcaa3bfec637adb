"""MobileNetV3: outputs, frozen layers, and MMCls 0.25 checkpoints loading into the torchvision blocks."""

from __future__ import annotations

import pytest
import torch

from workers.models import build_model, load_weights
from workers.models.backbones.mobilenet_v3 import MobileNetV3, mobilenet_v3_tiny

# MMCls's name of each torchvision module of the tiny variant (layer1: no expansion conv, SE;
# layer2: expansion conv, no SE; layer3: both)
MMCLS_PREFIX = {
    "layer0.0.": "layer0.conv.", "layer0.1.": "layer0.bn.",
    "layer1.block.0.0.": "layer1.depthwise_conv.conv.", "layer1.block.0.1.": "layer1.depthwise_conv.bn.",
    "layer1.block.1.fc1.": "layer1.se.conv1.conv.", "layer1.block.1.fc2.": "layer1.se.conv2.conv.",
    "layer1.block.2.0.": "layer1.linear_conv.conv.", "layer1.block.2.1.": "layer1.linear_conv.bn.",
    "layer2.block.0.0.": "layer2.expand_conv.conv.", "layer2.block.0.1.": "layer2.expand_conv.bn.",
    "layer2.block.1.0.": "layer2.depthwise_conv.conv.", "layer2.block.1.1.": "layer2.depthwise_conv.bn.",
    "layer2.block.2.0.": "layer2.linear_conv.conv.", "layer2.block.2.1.": "layer2.linear_conv.bn.",
    "layer3.block.0.0.": "layer3.expand_conv.conv.", "layer3.block.0.1.": "layer3.expand_conv.bn.",
    "layer3.block.1.0.": "layer3.depthwise_conv.conv.", "layer3.block.1.1.": "layer3.depthwise_conv.bn.",
    "layer3.block.2.fc1.": "layer3.se.conv1.conv.", "layer3.block.2.fc2.": "layer3.se.conv2.conv.",
    "layer3.block.3.0.": "layer3.linear_conv.conv.", "layer3.block.3.1.": "layer3.linear_conv.bn.",
    "layer4.0.": "layer4.conv.", "layer4.1.": "layer4.bn.",
}


def _to_mmcls(state_dict: dict) -> dict:
    out = {}
    for key, value in state_dict.items():
        prefix = next(p for p in MMCLS_PREFIX if key.startswith(p))
        out[MMCLS_PREFIX[prefix] + key[len(prefix):]] = value.clone()
    return out


def test_it_returns_the_layers_of_out_indices():
    outs = mobilenet_v3_tiny(out_indices=(0, 1, 2, 3, 4))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 16, 16), (2, 16, 8, 8), (2, 24, 4, 4), (2, 24, 4, 4),
                                              (2, 144, 4, 4)]
    assert mobilenet_v3_tiny().out_indices == (4,)
    with torch.device("meta"):
        assert MobileNetV3("small").out_indices == (12,)
        assert MobileNetV3("large").layer16[0].out_channels == 960
    with pytest.raises(ValueError, match="out_indices"):
        mobilenet_v3_tiny(out_indices=(5,))


def test_it_freezes_the_first_layers_even_after_train():
    backbone = mobilenet_v3_tiny(frozen_stages=1)
    backbone.train()
    for layer in (backbone.layer0, backbone.layer1):
        assert not any(p.requires_grad for p in layer.parameters())
        assert not any(m.training for m in layer.modules())
    assert all(p.requires_grad for p in backbone.layer2.parameters()) and backbone.layer2.training


def test_it_loads_an_mmcls_state_dict():
    source = mobilenet_v3_tiny()
    for param in source.parameters():
        param.data.normal_()
    mmcls = _to_mmcls(source.state_dict())
    target = mobilenet_v3_tiny()
    target.load_state_dict(mmcls)  # strict
    torch.testing.assert_close(target.state_dict(), source.state_dict())

    classifier = build_model({"type": "ImageClassifier",
                              "backbone": {"type": "MobileNetV3", "arch": [[3, 16, 16, True, "ReLU", 2],
                                                                           [3, 32, 24, False, "HSwish", 2],
                                                                           [5, 48, 24, True, "HSwish", 1]]},
                              "neck": {"type": "GlobalAveragePooling"},
                              "head": {"type": "StackedLinearClsHead", "num_classes": 3, "in_channels": 144,
                                       "mid_channels": [32], "act_cfg": {"type": "HSwish"}}})
    missing, unexpected = load_weights(classifier, {"state_dict": {f"backbone.{k}": v for k, v in mmcls.items()}})
    assert unexpected == [] and all(k.startswith("head.") for k in missing)
    torch.testing.assert_close(classifier.backbone.state_dict(), source.state_dict())
