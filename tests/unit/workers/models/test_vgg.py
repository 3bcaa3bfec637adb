"""VGG (MMCls ``type='VGG'``)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from workers.models.backbones.vgg import VGG, convert_torchvision_state_dict, vgg_tiny


def test_it_returns_the_stages_asked_for():
    model = vgg_tiny().eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4)]


def test_the_classifier_logits_are_the_last_output():
    with torch.device("meta"):
        model = VGG(depth=11, num_classes=10)
        outs = model(torch.empty(2, 3, 224, 224))
    assert model.out_indices == (5,)
    assert [tuple(o.shape) for o in outs] == [(2, 10)]
    with torch.device("meta"):
        outs = VGG(depth=11, num_classes=10, out_indices=(4,))(torch.empty(1, 3, 224, 224))
    assert [tuple(o.shape) for o in outs] == [(1, 512, 7, 7), (1, 10)]


def test_it_freezes_the_first_stages():
    model = vgg_tiny(frozen_stages=2, norm_cfg={"type": "BN"})
    model.train()
    frozen = [p.requires_grad for j in range(*model.range_sub_modules[1]) for p in model.features[j].parameters()]
    assert frozen and not any(frozen)
    assert all(p.requires_grad for j in range(*model.range_sub_modules[2]) for p in model.features[j].parameters())
    assert not model.features[0].bn.training and model.features[4].bn.training


@pytest.mark.parametrize(("depth", "with_norm"), [(11, False), (16, True)])
def test_it_maps_torchvision_keys_onto_mmcls_keys(depth, with_norm):
    builder = getattr(torchvision.models, f"vgg{depth}{'_bn' if with_norm else ''}")
    with torch.device("meta"):
        theirs = builder().state_dict()
        ours = VGG(depth=depth, num_classes=1000, norm_cfg={"type": "BN"} if with_norm else None).state_dict()
    converted = convert_torchvision_state_dict(theirs, with_norm=with_norm)
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in ours.items()}


def test_it_loads_mmcls_keys():
    model = vgg_tiny(norm_cfg={"type": "BN"})
    state = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    # VGG-11 stages 1-3: conv, pool, conv, pool, conv, conv, pool
    assert {"features.0.conv.weight", "features.0.bn.weight", "features.2.conv.bias",
            "features.5.bn.running_var"} <= set(state)
    model.load_state_dict(state, strict=True)
