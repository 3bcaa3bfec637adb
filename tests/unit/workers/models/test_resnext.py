"""ResNeXt (MMCls ``type='ResNeXt'``) and Wide-ResNet (``type='ResNet'`` with ``expansion=2``)."""

from __future__ import annotations

import pytest
import torch

import jobspecs
from workers.models import build_model
from workers.models.backbones.resnext import ResNeXt, resnext_tiny


def test_it_returns_the_stages_asked_for():
    model = resnext_tiny(out_indices=(0, 1, 2, 3)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 8, 8), (2, 64, 4, 4), (2, 128, 2, 2), (2, 256, 1, 1)]


def test_it_groups_the_middle_conv_with_mmcls_widths():
    model = resnext_tiny()
    # 4 groups x 2 channels in stage 1 (base 8), doubling per stage; conv2 is grouped
    assert model.layer1[0].conv2.groups == 4
    assert tuple(model.layer1[0].conv2.weight.shape) == (8, 2, 3, 3)
    assert tuple(model.layer4[0].conv1.weight.shape) == (64, 128, 1, 1)


def test_it_freezes_the_stem_and_the_first_stages():
    model = resnext_tiny(frozen_stages=2)
    model.train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer2.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert not model.layer2.training and model.layer3.training


def test_it_loads_mmcls_keys():
    model = resnext_tiny()
    state = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    assert {"conv1.weight", "bn1.weight", "layer1.0.conv2.weight", "layer1.0.downsample.0.weight",
            "layer4.2.bn3.running_var"} <= set(state)
    model.load_state_dict(state, strict=True)
    assert torch.all(model.layer1[0].conv2.weight == 0.5)


def test_it_refuses_basic_block_depths():
    with pytest.raises(KeyError, match="invalid depth 18"):
        ResNeXt(depth=18)


def test_wide_resnet_specs_build_a_resnet_with_double_width_bottlenecks():
    spec = jobspecs.load_library("wrn/wide-resnet50_8xb32_in1k.py")
    cfg = spec["model"]["backbone"]
    assert (cfg["type"], cfg["base_channels"], cfg["expansion"]) == ("ResNet", 128, 2)
    cfg = dict(cfg, stem_channels=8, base_channels=16, out_indices=(3,))
    model = build_model(cfg).eval()
    assert model.layer1[0].conv2.weight.shape[0] == 16  # middle width 16, output 32: expansion 2
    assert tuple(model(torch.randn(1, 3, 32, 32))[0].shape) == (1, 256, 1, 1)
