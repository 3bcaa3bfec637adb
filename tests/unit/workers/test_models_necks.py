"""Necks: GeM's generalized mean, HRFuseScales' fused map, and GlobalAveragePooling beside them."""

from __future__ import annotations

import math

import pytest
import torch

from workers.models import build_model


def test_it_pools_with_the_generalized_mean():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    gem = build_model({"type": "GeM", "p": 2.0})
    assert gem(x).item() == pytest.approx(math.sqrt((1 + 4 + 9 + 16) / 4))
    assert gem.p.requires_grad and "p" in gem.state_dict()
    average = build_model({"type": "GeM", "p": 1.0, "p_trainable": False})
    assert not average.p.requires_grad
    feats = (torch.rand(2, 3, 4, 4), torch.rand(2, 5, 2, 2))
    pooled = average(feats)
    gap = build_model({"type": "GlobalAveragePooling"})(feats)
    assert [tuple(p.shape) for p in pooled] == [(2, 3), (2, 5)]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(pooled, gap, strict=True))
    clamped = build_model({"type": "GeM", "eps": 1e-6})(torch.full((1, 1, 2, 2), -1.0))
    assert clamped.item() == pytest.approx(1e-6, rel=1e-3)  # negatives are clamped to eps
    with pytest.raises(ValueError, match="greater than 1"):
        build_model({"type": "GeM", "p": 0.5})


def test_it_fuses_four_hrnet_scales_into_one_map():
    neck = build_model({"type": "HRFuseScales", "in_channels": (2, 4, 8, 16), "out_channels": 32})
    feats = tuple(torch.randn(2, c, s, s) for c, s in ((2, 8), (4, 4), (8, 2), (16, 1)))
    (out,) = neck(feats)
    assert out.shape == (2, 32, 1, 1)
    names = set(neck.state_dict())
    assert {"increase_layers.0.0.conv1.weight", "increase_layers.3.0.downsample.0.weight",
            "downsample_layers.2.conv.weight", "downsample_layers.0.bn.running_mean",
            "final_layer.conv.weight", "final_layer.bn.bias"} <= names
    assert neck.increase_layers[3][0].conv3.out_channels == 1024
    with pytest.raises(TypeError, match="tuple of 4"):
        neck(feats[:3])
