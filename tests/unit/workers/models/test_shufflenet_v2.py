"""ShuffleNetV2: outputs, frozen stages, and MMCls 0.25 checkpoints loading into torchvision's units."""

from __future__ import annotations

import pytest
import torch

from tests.support.mmcls_keys import shufflenet_v2_to_mmcls as _to_mmcls
from workers.models import build_model, load_weights
from workers.models.backbones.shufflenet_v2 import ShuffleNetV2, shufflenet_v2_tiny


def test_it_returns_the_layers_of_out_indices():
    outs = shufflenet_v2_tiny(out_indices=(0, 1, 2, 3))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 48, 4, 4), (2, 96, 2, 2), (2, 192, 1, 1), (2, 1024, 1, 1)]
    with pytest.raises(ValueError, match="widen_factor"):
        ShuffleNetV2(widen_factor=0.75)


def test_it_freezes_conv1_and_the_first_stages_even_after_train():
    backbone = shufflenet_v2_tiny(frozen_stages=2)
    backbone.train()
    for module in (backbone.conv1, backbone.layers[0], backbone.layers[1]):
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    assert all(p.requires_grad for p in backbone.layers[2].parameters()) and backbone.layers[2].training
    assert all(p.requires_grad for p in shufflenet_v2_tiny().parameters())  # -1 freezes nothing


def test_it_loads_an_mmcls_state_dict():
    source = shufflenet_v2_tiny()
    for param in source.parameters():
        param.data.normal_()
    mmcls = _to_mmcls(source.state_dict())
    assert {"conv1.conv.weight", "conv1.bn.running_mean", "layers.0.0.branch1.0.conv.weight",
            "layers.0.0.branch1.1.bn.bias", "layers.1.1.branch2.1.conv.weight", "layers.2.0.branch2.2.bn.weight",
            "layers.3.conv.weight", "layers.3.bn.running_var"} <= set(mmcls)
    target = shufflenet_v2_tiny()
    target.load_state_dict(mmcls)  # strict
    torch.testing.assert_close(target.state_dict(), source.state_dict())

    classifier = build_model({"type": "ImageClassifier",
                              "backbone": {"type": "ShuffleNetV2", "widen_factor": 0.5, "stage_blocks": (1, 2, 1)},
                              "neck": {"type": "GlobalAveragePooling"},
                              "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 1024}})
    missing, unexpected = load_weights(classifier, {"state_dict": {f"backbone.{k}": v for k, v in mmcls.items()}})
    assert unexpected == [] and all(k.startswith("head.") for k in missing)
