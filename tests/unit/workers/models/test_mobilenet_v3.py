"""MobileNetV3: outputs, frozen layers, and MMCls 0.25 checkpoints loading into the torchvision blocks."""

from __future__ import annotations

import pytest
import torch

from tests.support.mmcls_keys import mobilenet_v3_to_mmcls as _to_mmcls
from workers.models import build_model, load_weights
from workers.models.backbones.mobilenet_v3 import MobileNetV3, mobilenet_v3_tiny


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
