"""ConvMixer: outputs per block, frozen blocks, and MMCls checkpoint key names (identical to ours)."""

from __future__ import annotations

import torch

from workers.models import build_model
from workers.models.backbones.convmixer import convmixer_tiny_test


def test_it_returns_the_requested_blocks():
    outs = convmixer_tiny_test(out_indices=(0, -1))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 16, 8, 8)]


def test_it_freezes_the_first_blocks_even_after_train():
    backbone = convmixer_tiny_test(frozen_stages=2).train()
    assert all(not p.requires_grad for p in backbone.stages[:2].parameters())
    assert not backbone.stages[1].training and backbone.stages[2].training
    assert all(p.requires_grad for p in backbone.stages[2].parameters())


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(build_model({"type": "ConvMixer", "arch": {"embed_dims": 8, "depth": 2, "patch_size": 4,
                                                           "kernel_size": 3}}).state_dict())
    assert {"stem.0.weight", "stem.2.running_mean", "stages.0.0.fn.0.weight", "stages.0.0.fn.2.bias",
            "stages.1.1.weight", "stages.1.3.running_var"} <= names


def test_it_uses_the_configured_activation():
    backbone = convmixer_tiny_test(act_cfg={"type": "ReLU"})
    assert isinstance(backbone.stages[0][2], torch.nn.ReLU)
