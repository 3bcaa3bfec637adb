"""DenseNet (MMCls ``type='DenseNet'``)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from workers.models.backbones.densenet import DenseNet, convert_torchvision_state_dict, densenet_tiny


def test_it_returns_the_stages_asked_for():
    model = densenet_tiny(out_indices=(0, 1, 2, 3)).eval()
    outs = model(torch.randn(2, 3, 64, 64))
    # 8 + 2*4 = 16 -> 8, 8 + 8 = 16 -> 8, ..., last stage keeps 8 + 8 = 16 channels
    assert [tuple(o.shape) for o in outs] == [(2, 8, 8, 8), (2, 8, 4, 4), (2, 8, 2, 2), (2, 16, 2, 2)]
    assert model.feat_dim == 16


def test_the_default_is_the_last_stage():
    outs = densenet_tiny().eval()(torch.randn(1, 3, 32, 32))
    assert len(outs) == 1 and outs[0].shape[1] == 16


def test_it_freezes_stages_with_their_transitions():
    model = densenet_tiny(frozen_stages=2)
    model.train()
    assert not any(p.requires_grad for p in model.stages[1].parameters())
    assert not any(p.requires_grad for p in model.transitions[1].parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert not model.transitions[0].training and model.stages[2].training


def test_it_checkpoints_the_bottlenecks_when_memory_efficient():
    model = densenet_tiny(memory_efficient=True)
    out = model(torch.randn(2, 3, 64, 64, requires_grad=True))[0]
    out.sum().backward()
    assert model.stages[0].block[0].conv1.weight.grad is not None


@pytest.mark.parametrize("arch", ["121", "161"])
def test_it_maps_torchvision_keys_onto_mmcls_keys(arch):
    with torch.device("meta"):
        theirs = getattr(torchvision.models, f"densenet{arch}")().state_dict()
        ours = DenseNet(arch).state_dict()
    converted = convert_torchvision_state_dict(theirs)
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in ours.items()}


def test_it_loads_mmcls_keys():
    model = densenet_tiny()
    state = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    assert {"stem.0.weight", "stem.1.running_mean", "stages.0.block.1.conv2.weight", "transitions.0.conv.weight",
            "transitions.3.0.weight"} <= set(state)
    model.load_state_dict(state, strict=True)
