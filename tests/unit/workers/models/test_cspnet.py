"""CSPNet: outputs, frozen stages, and MMCls 0.25 checkpoints loading into timm's CspNet."""

from __future__ import annotations

import pytest
import torch

from tests.support.mmcls_keys import cspnet_to_mmcls as _to_mmcls
from workers.models import build_model, load_weights
from workers.models.backbones.cspnet import CSPDarkNet, CSPResNet, CSPResNeXt, cspdarknet_tiny


def test_it_returns_the_stages_of_out_indices():
    outs = cspdarknet_tiny(out_indices=(0, 1))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 16, 16), (2, 32, 8, 8)]
    assert cspdarknet_tiny().out_indices == [1]
    with torch.device("meta"):
        outs = CSPResNeXt(out_indices=(0, 3))(torch.empty(1, 3, 224, 224, device="meta"))
        assert [tuple(o.shape) for o in outs] == [(1, 256, 56, 56), (1, 2048, 7, 7)]
        assert CSPDarkNet().out_indices == [4] and CSPResNet().out_indices == [3]
    with pytest.raises(ValueError, match="depth"):
        CSPDarkNet(depth=21)


def test_it_freezes_the_stem_and_stages_up_to_frozen_stages():
    backbone = cspdarknet_tiny(frozen_stages=0)
    backbone.train()
    for module in (backbone.stem, backbone.stages[0]):
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    assert all(p.requires_grad for p in backbone.stages[1].parameters()) and backbone.stages[1].training


def test_it_loads_an_mmcls_state_dict():
    source = cspdarknet_tiny()
    for param in source.parameters():
        param.data.normal_()
    mmcls = _to_mmcls(source.state_dict())
    assert {"stem.conv.weight", "stem.bn.running_var", "stages.0.downsample_conv.conv.weight",
            "stages.1.expand_conv.bn.bias", "stages.1.blocks.1.conv2.conv.weight",
            "stages.1.atfer_blocks_conv.conv.weight", "stages.0.final_conv.bn.weight"} <= set(mmcls)
    target = cspdarknet_tiny()
    target.load_state_dict(mmcls)  # strict
    torch.testing.assert_close(target.state_dict(), source.state_dict())


def test_it_maps_the_resnet_stem_and_blocks_of_mmcls():
    with torch.device("meta"):
        backbone = CSPResNet(deep_stem=True)
    own = backbone.state_dict()
    names = {"stem.0.conv.weight": "stem.conv1.conv.weight", "stem.2.bn.running_mean": "stem.conv3.bn.running_mean",
             "stages.0.blocks.0.conv1.weight": "stages.0.blocks.0.conv1.conv.weight",
             "stages.2.blocks.4.bn3.bias": "stages.2.blocks.4.conv3.bn.bias",
             "stages.3.downsample_conv.conv.weight": "stages.3.conv_down.conv.weight",
             "stages.1.atfer_blocks_conv.bn.weight": "stages.1.conv_transition_b.bn.weight"}
    converted = backbone.convert_mmcls_state_dict({k: own[v] for k, v in names.items()})
    assert list(converted) == list(names.values())

    classifier = build_model({"type": "ImageClassifier", "backbone": {"type": "CSPResNet", "depth": 50},
                              "neck": {"type": "GlobalAveragePooling"},
                              "head": {"type": "LinearClsHead", "num_classes": 3, "in_channels": 1024}})
    weight = torch.randn(64, 3, 7, 7)
    missing, _ = load_weights(classifier, {"state_dict": {"backbone.stem.0.conv.weight": weight}})
    assert "backbone.stem.conv1.conv.weight" not in missing
    torch.testing.assert_close(classifier.backbone.stem.conv1.conv.weight, weight)
