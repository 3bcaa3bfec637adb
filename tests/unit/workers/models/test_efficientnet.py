"""EfficientNet: MMCls's seven layers, frozen layers, MMCls checkpoint names, and the zoo's parameter counts
(the metafile marks the FLOPs as unmatched, so the generic zoo test skips these entries)."""

from __future__ import annotations

import pytest
import torch

import jobspecs
from tests.support.mmcls_keys import efficientnet_to_mmcls as _to_mmcls
from workers.models.backbones.efficientnet import EfficientNet, efficientnet_tiny
from workers.models.complexity import build_meta_model, count_params
from workers.models.zoo import zoo_entries


def test_it_returns_mmcls_s_seven_layers():
    outs = efficientnet_tiny(out_indices=tuple(range(7)))(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 32, 32), (2, 8, 32, 32), (2, 8, 16, 16), (2, 16, 8, 8),
                                              (2, 32, 4, 4), (2, 80, 2, 2), (2, 320, 2, 2)]
    with torch.device("meta"):
        backbone = EfficientNet("b0")
    # the 80- and 112-channel blocks form layers.4, the 192- and 320-channel ones layers.5, as in MMCls
    assert [len(layer) for layer in backbone.layers[1:6]] == [1, 2, 2, 6, 5]
    assert backbone.out_indices == (6,) and backbone.layers[6].conv.out_channels == 1280
    with pytest.raises(KeyError, match="arch"):
        EfficientNet("b9")


def test_it_freezes_the_first_layers_even_after_train():
    backbone = efficientnet_tiny(frozen_stages=2)
    backbone.train()
    for layer in backbone.layers[:2]:
        assert not any(p.requires_grad for p in layer.parameters())
        assert not any(m.training for m in layer.modules())
    assert all(p.requires_grad for p in backbone.layers[2].parameters()) and backbone.layers[2].training


def test_it_loads_an_mmcls_state_dict():
    source = efficientnet_tiny()
    for param in source.parameters():
        param.data.normal_()
    mmcls = _to_mmcls(source)
    assert {"layers.0.conv.weight", "layers.0.bn.running_var", "layers.1.0.depthwise_conv.conv.weight",
            "layers.1.0.se.conv1.conv.bias", "layers.1.0.linear_conv.bn.weight", "layers.2.0.expand_conv.conv.weight",
            "layers.4.1.se.conv2.conv.weight", "layers.5.0.linear_conv.conv.weight", "layers.6.conv.weight",
            "layers.6.bn.bias"} <= set(mmcls)
    target = efficientnet_tiny()
    target.load_state_dict(mmcls)  # strict
    torch.testing.assert_close(target.state_dict(), source.state_dict())


@pytest.mark.parametrize("entry", [e for e in zoo_entries() if e.folder == "efficientnet"], ids=lambda e: e.spec)
def test_it_has_the_zoo_parameter_count(entry):
    params = count_params(build_meta_model(jobspecs.load_library(entry.spec)["model"]))
    assert abs(params / entry.params - 1) <= 0.01


def test_it_maps_the_edge_residual_blocks_of_the_edgetpu_archs():
    with torch.device("meta"):
        backbone = EfficientNet("es")
    assert [type(layer[0]).__name__ for layer in backbone.layers[1:6]] == [
        "EdgeResidual", "EdgeResidual", "EdgeResidual", "InvertedResidual", "InvertedResidual"]
    converted = backbone.convert_mmcls_state_dict({"layers.2.1.conv1.conv.weight": 0, "layers.2.1.conv2.bn.bias": 1,
                                                   "layers.4.0.expand_conv.bn.weight": 2})
    assert list(converted) == ["layers.2.1.conv_exp.weight", "layers.2.1.bn2.bias", "layers.4.0.bn1.weight"]
