"""RegNet (MMCls ``type='RegNet'``)."""

from __future__ import annotations

import pytest
import torch

from workers.models.backbones.regnet import RegNet, generate_regnet, regnet_tiny


def test_it_returns_the_stages_asked_for():
    model = regnet_tiny(out_indices=(0, 1, 2, 3)).eval()
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2)]


def test_it_derives_the_published_regnetx_400mf_stages():
    widths, num_stages = generate_regnet(24, 24.48, 2.54, 22)
    assert num_stages == 4 and len(widths) == 22
    with torch.device("meta"):
        model = RegNet("regnetx_400mf")
    assert model.stage_widths == [32, 64, 160, 384]
    assert model.stage_blocks == [1, 2, 7, 12]
    assert model.layer3[0].conv2.groups == 10  # 160 channels in groups of 16
    assert model.feat_dim == 384


def test_it_freezes_the_stem_and_the_first_stage():
    model = regnet_tiny(frozen_stages=1)
    model.train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.bn1.training and model.layer2.training


def test_it_loads_mmcls_keys():
    model = regnet_tiny()
    state = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    assert {"conv1.weight", "bn1.weight", "layer1.0.conv2.weight", "layer1.0.downsample.0.weight",
            "layer4.1.bn3.running_mean"} <= set(state)
    model.load_state_dict(state, strict=True)


def test_it_refuses_unknown_archs_and_deep_stems():
    with pytest.raises(KeyError, match="unknown RegNet arch"):
        RegNet("regnety_400mf")
    with pytest.raises(NotImplementedError, match="deep_stem"):
        regnet_tiny(deep_stem=True)
