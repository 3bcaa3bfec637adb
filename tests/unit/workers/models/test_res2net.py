"""Res2Net (MMCls ``type='Res2Net'``)."""

from __future__ import annotations

import pytest
import torch

from workers.models.backbones.res2net import Bottle2neck, res2net_tiny


def test_it_returns_the_stages_asked_for():
    model = res2net_tiny(out_indices=(0, 1, 2, 3)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 8, 8), (2, 64, 4, 4), (2, 128, 2, 2), (2, 256, 1, 1)]


def test_the_7x7_stem_and_strided_shortcuts_of_the_mmcls_configs():
    model = res2net_tiny(deep_stem=False, avg_down=False, out_indices=(3,)).eval()
    assert hasattr(model, "conv1") and not hasattr(model, "stem")
    assert isinstance(model.layer2[0].downsample[0], torch.nn.Conv2d)
    assert tuple(model(torch.randn(1, 3, 32, 32))[0].shape) == (1, 256, 1, 1)


def test_a_block_splits_into_scales_groups():
    block = res2net_tiny().layer1[1]
    assert isinstance(block, Bottle2neck) and block.stage_type == "normal"
    assert block.width == 2 and len(block.convs) == len(block.bns) == 3
    assert not hasattr(block, "conv2")
    assert res2net_tiny().layer2[0].stage_type == "stage"


def test_it_freezes_the_deep_stem_and_the_first_stage():
    model = res2net_tiny(frozen_stages=1)
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.stem.training and model.layer2.training


def test_it_loads_mmcls_keys():
    model = res2net_tiny()
    state = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    assert {"stem.0.conv.weight", "stem.0.bn.weight", "layer1.0.convs.0.weight", "layer1.0.bns.2.running_mean",
            "layer1.0.downsample.1.weight", "layer1.0.downsample.2.weight"} <= set(state)
    model.load_state_dict(state, strict=True)


def test_it_refuses_one_scale():
    with pytest.raises(ValueError, match="degenerates to ResNet"):
        res2net_tiny(scales=1)
